/**
 * The HTTP filters ferry-proxy runs, keyed by the type URL of their typed_config (Envoy's
 * extension model: each filter has a reverse-DNS name and a factory that validates its config).
 * translate-hcm.ts looks filters up here; a filter not listed is a NACK unless the HttpFilter is
 * marked is_optional. Later issues add filters (health_check, local_ratelimit, ...) by adding a
 * factory to HTTP_FILTERS — there is no registration by import side effect.
 */
import {
  TYPE_URL_PREFIX,
  checkFields,
  messageSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { healthCheckFilter } from '../filters/http/health_check/config.js';

export interface HttpFilterFactory {
  /** typed_config type URL. */
  readonly typeUrl: string;
  /** Well-known names; used when an HttpFilter has no typed_config. */
  readonly names: readonly string[];
  /** Terminal filters must be last in the chain (Envoy: the router). */
  readonly terminal: boolean;
  /** What the filter does in ferry-proxy, for docs/envoy-reference.md. */
  readonly note: string;
  /** The messages of its config, for the allow-list reference. */
  readonly specs: readonly MessageSpec[];
  /**
   * Checks the typed_config (proto3 JSON, already decoded strictly) and returns the config the
   * worker-side filter receives (plain data). Errors go to `issues` with `path` prefixed.
   */
  validate(config: JsonObject, path: string, issues: Issues): unknown;
}

const ROUTER_SPEC = messageSpec('envoy.extensions.filters.http.router.v3.Router', {
  dynamic_stats: 'accepted (stats only)',
});

export const ROUTER_TYPE_URL = TYPE_URL_PREFIX + ROUTER_SPEC.message;

export const routerFilter: HttpFilterFactory = {
  typeUrl: ROUTER_TYPE_URL,
  names: ['envoy.filters.http.router', 'envoy.router'],
  terminal: true,
  note: 'forwards to the route’s cluster; required, last',
  specs: [ROUTER_SPEC],
  validate(config, path, issues) {
    checkFields(config, ROUTER_SPEC, path, issues);
    return {};
  },
};

/** Every HTTP filter ferry-proxy supports. Add new factories here. */
export const HTTP_FILTERS: readonly HttpFilterFactory[] = [healthCheckFilter, routerFilter];

const byTypeUrl = new Map(HTTP_FILTERS.map((f) => [f.typeUrl, f]));
const byName = new Map(HTTP_FILTERS.flatMap((f) => f.names.map((n) => [n, f] as const)));

export function httpFilterByTypeUrl(typeUrl: string): HttpFilterFactory | undefined {
  return byTypeUrl.get(typeUrl);
}

export function httpFilterByName(name: string): HttpFilterFactory | undefined {
  return byName.get(name);
}
