/**
 * Config factory of envoy.filters.http.buffer: validates Envoy's
 * `envoy.extensions.filters.http.buffer.v3.Buffer` (and the per-route `BufferPerRoute`) into
 * BufferFilterModel; workers build a BufferStreamFilter per request.
 */
import type { HttpFilterFactory } from '../filter.js';
import type { BufferFilterModel, BufferPerRouteModel } from '../../../config/model.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  int,
  join,
  messageSpec,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { BufferStreamFilter } from './buffer-filter.js';

const BUFFER_SPEC = messageSpec('envoy.extensions.filters.http.buffer.v3.Buffer', {
  max_request_bytes:
    'required; the whole request body is buffered before the router sees it, a longer one is answered 413',
});

const BUFFER_PER_ROUTE_SPEC = messageSpec(
  'envoy.extensions.filters.http.buffer.v3.BufferPerRoute',
  {
    disabled: 'requests on this route are not buffered',
    buffer: 'this route’s own max_request_bytes',
  },
);

export const BUFFER_FILTER_TYPE_URL = TYPE_URL_PREFIX + BUFFER_SPEC.message;
export const BUFFER_PER_ROUTE_TYPE_URL = TYPE_URL_PREFIX + BUFFER_PER_ROUTE_SPEC.message;

export const bufferFilter: HttpFilterFactory<BufferFilterModel, BufferPerRouteModel> = {
  typeUrl: BUFFER_FILTER_TYPE_URL,
  names: ['envoy.filters.http.buffer', 'envoy.buffer'],
  terminal: false,
  note: 'buffers whole requests up to max_request_bytes (413 above); per route: BufferPerRoute',
  specs: [BUFFER_SPEC, BUFFER_PER_ROUTE_SPEC],
  perRouteTypeUrls: [BUFFER_PER_ROUTE_TYPE_URL],
  validate: validateBuffer,
  validatePerRoute(_typeUrl, config, path, issues) {
    checkFields(config, BUFFER_PER_ROUTE_SPEC, path, issues);
    const buffer = asObject(config.buffer);
    if (buffer !== undefined)
      return { disabled: false, buffer: validateBuffer(buffer, join(path, 'buffer'), issues) };
    // The `override` oneof is required (PGV); `disabled` can only be true.
    return { disabled: true };
  },
  createFilterFactory(config) {
    return { create: (callbacks) => new BufferStreamFilter(config, callbacks) };
  },
};

export function validateBuffer(
  config: JsonObject,
  path: string,
  issues: Issues,
): BufferFilterModel {
  checkFields(config, BUFFER_SPEC, path, issues);
  const maxRequestBytes = int(config.max_request_bytes, 0);
  if (maxRequestBytes <= 0)
    issues.add(join(path, 'max_request_bytes'), 'is required and must be > 0');
  return { maxRequestBytes };
}
