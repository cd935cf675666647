/**
 * The HTTP filters ferry-proxy runs, keyed by the type URL of their typed_config (Envoy's
 * extension model: each filter has a reverse-DNS name and a factory that validates its config
 * and builds its per-stream filters; see filter.ts). translate-hcm.ts looks filters up here; a
 * filter not listed is a NACK unless the HttpFilter is marked is_optional. A new filter is a
 * folder under filters/http/ and one line in HTTP_FILTERS: nothing registers itself by import.
 */
import type { HttpFilterFactory } from './filter.js';
import { bufferFilter } from './buffer/config.js';
import { compressorFilter } from './compressor/config.js';
import { corsFilter } from './cors/config.js';
import { decompressorFilter } from './decompressor/config.js';
import { extAuthzFilter } from './ext_authz/config.js';
import { faultFilter } from './fault/config.js';
import { headerMutationFilter } from './header_mutation/config.js';
import { healthCheckFilter } from './health_check/config.js';
import { localRateLimitFilter } from './local_ratelimit/config.js';
import { rateLimitFilter } from './ratelimit/config.js';
import { rbacFilter } from './rbac/config.js';
import { routerFilter } from './router/config.js';
import { wafFilter } from './waf/config.js';

/** Every HTTP filter ferry-proxy supports. */
export const HTTP_FILTERS: readonly HttpFilterFactory[] = [
  bufferFilter,
  compressorFilter,
  corsFilter,
  decompressorFilter,
  extAuthzFilter,
  faultFilter,
  headerMutationFilter,
  healthCheckFilter,
  localRateLimitFilter,
  rateLimitFilter,
  rbacFilter,
  routerFilter,
  wafFilter,
];

const byTypeUrl = new Map(HTTP_FILTERS.map((f) => [f.typeUrl, f]));
const byName = new Map(HTTP_FILTERS.flatMap((f) => f.names.map((n) => [n, f] as const)));

export function httpFilterByTypeUrl(typeUrl: string): HttpFilterFactory | undefined {
  return byTypeUrl.get(typeUrl);
}

export function httpFilterByName(name: string): HttpFilterFactory | undefined {
  return byName.get(name);
}

/** The factory whose typed_per_filter_config type URLs include `typeUrl`. */
export function httpFilterByPerRouteTypeUrl(typeUrl: string): HttpFilterFactory | undefined {
  return HTTP_FILTERS.find(
    (f) => f.typeUrl === typeUrl || f.perRouteTypeUrls?.includes(typeUrl) === true,
  );
}
