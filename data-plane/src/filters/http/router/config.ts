/**
 * Config factory of envoy.filters.http.router, the terminal HTTP filter: it routes the request
 * and forwards it to the route's cluster (router-filter.ts), or answers a redirect or direct
 * response route itself.
 */
import type { HttpFilterFactory } from '../filter.js';
import { TYPE_URL_PREFIX, checkFields, messageSpec } from '../../../config/translate-common.js';
import { RouterFilter } from './router-filter.js';

const ROUTER_SPEC = messageSpec('envoy.extensions.filters.http.router.v3.Router', {
  dynamic_stats: 'accepted (stats only)',
});

export const ROUTER_TYPE_URL = TYPE_URL_PREFIX + ROUTER_SPEC.message;

export const routerFilter: HttpFilterFactory<Record<string, never>> = {
  typeUrl: ROUTER_TYPE_URL,
  names: ['envoy.filters.http.router', 'envoy.router'],
  terminal: true,
  note: 'forwards to the route’s cluster; required, last',
  specs: [ROUTER_SPEC],
  validate(config, path, issues) {
    checkFields(config, ROUTER_SPEC, path, issues);
    return {};
  },
  createFilterFactory() {
    return { create: (callbacks) => new RouterFilter(callbacks) };
  },
};
