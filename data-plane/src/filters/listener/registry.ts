/**
 * The listener filters ferry-proxy runs, keyed by the type URL of their typed_config (see
 * filter.ts). config/translate-listener.ts looks filters up here; a filter not listed is a NACK.
 */
import type { ListenerFilterFactory } from './filter.js';
import { tlsInspectorFilter } from './tls_inspector/config.js';

/** Every listener filter ferry-proxy supports. */
export const LISTENER_FILTERS: readonly ListenerFilterFactory[] = [tlsInspectorFilter];

const byTypeUrl = new Map(LISTENER_FILTERS.map((f) => [f.typeUrl, f]));
const byName = new Map(LISTENER_FILTERS.flatMap((f) => f.names.map((n) => [n, f] as const)));

export function listenerFilterByTypeUrl(typeUrl: string): ListenerFilterFactory | undefined {
  return byTypeUrl.get(typeUrl);
}

/** A ListenerFilter without typed_config is selected by name (as Envoy did before typed_config). */
export function listenerFilterByName(name: string): ListenerFilterFactory | undefined {
  return byName.get(name);
}
