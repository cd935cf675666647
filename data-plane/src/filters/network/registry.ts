/**
 * The network filters ferry-proxy runs, keyed by the type URL of their typed_config (Envoy's
 * extension model, see filter.ts). config/translate-listener.ts looks filters up here; a filter
 * not listed is a NACK. A new filter is a folder under filters/network/ and one line in
 * NETWORK_FILTERS: nothing registers itself by import.
 */
import type { NetworkFilterFactory } from './filter.js';
import { httpConnectionManagerFilter } from './http_connection_manager/config.js';
import { tcpProxyFilter } from './tcp_proxy/config.js';
import { networkLocalRateLimitFilter } from './local_ratelimit/config.js';

/** Every network filter ferry-proxy supports. */
export const NETWORK_FILTERS: readonly NetworkFilterFactory[] = [
  httpConnectionManagerFilter,
  networkLocalRateLimitFilter,
  tcpProxyFilter,
];

const byTypeUrl = new Map(NETWORK_FILTERS.map((f) => [f.typeUrl, f]));

export function networkFilterByTypeUrl(typeUrl: string): NetworkFilterFactory | undefined {
  return byTypeUrl.get(typeUrl);
}
