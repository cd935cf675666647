/**
 * Builders of listener models for tests that make models directly instead of translating Envoy
 * resources: every field at its translated default unless given. Not used by product code.
 */
import type { FilterChainModel, ListenerFilterModel, ListenerModel } from '../config/model.js';
import { MATCH_ANY } from '../config/translate-filter-chain-match.js';
import { DEFAULT_LISTENER_FILTERS_TIMEOUT_MS } from '../config/translate-listener.js';
import { TLS_INSPECTOR_TYPE_URL } from '../filters/listener/tls_inspector/config.js';

export const TLS_INSPECTOR: ListenerFilterModel = Object.freeze({
  name: 'envoy.filters.listener.tls_inspector',
  typeUrl: TLS_INSPECTOR_TYPE_URL,
  config: {},
});

/** A filter chain matching every connection, without filters unless given. */
export function chainModel(fields: Partial<FilterChainModel> = {}): FilterChainModel {
  return { name: '', ...MATCH_ANY, networkFilters: [], ...fields };
}

/** A listener on 127.0.0.1 (port 0 unless given) with Envoy's defaults. */
export function listenerModel(
  fields: Partial<ListenerModel> & Pick<ListenerModel, 'name' | 'filterChains'>,
): ListenerModel {
  return {
    address: { host: '127.0.0.1', port: 0 },
    listenerFilters: [],
    listenerFiltersTimeoutMs: DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
    continueOnListenerFiltersTimeout: false,
    perConnectionBufferLimitBytes: 1 << 20,
    ...fields,
  };
}
