/**
 * Config factory of envoy.filters.listener.tls_inspector
 * (`envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`). Listed in
 * LISTENER_FILTERS (filters/listener/registry.ts).
 */
import type { ListenerFilterFactory } from '../filter.js';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  checkFields,
  join,
  messageSpec,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { TlsInspector, TlsInspectorStats } from './tls-inspector.js';

const TLS_INSPECTOR_SPEC = messageSpec(
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  {
    initial_read_buffer_size:
      'accepted: ferry-proxy reads what arrives, up to the 64 KiB ClientHello limit',
    enable_ja3_fingerprinting: 'false only (ferry-proxy computes no JA3 fingerprint)',
  },
);

export const TLS_INSPECTOR_TYPE_URL = TYPE_URL_PREFIX + TLS_INSPECTOR_SPEC.message;

/** No settings change behaviour: the config is empty. */
export type TlsInspectorConfig = Record<string, never>;

export const tlsInspectorFilter: ListenerFilterFactory<TlsInspectorConfig> = {
  typeUrl: TLS_INSPECTOR_TYPE_URL,
  names: ['envoy.filters.listener.tls_inspector', 'envoy.listener.tls_inspector'],
  note: 'reads SNI and ALPN from the ClientHello (not consumed) for filter_chain_match',
  specs: [TLS_INSPECTOR_SPEC],
  detects: ['server_names', 'transport_protocol', 'application_protocols'],
  validate(config: JsonObject, path: string, issues: Issues): TlsInspectorConfig {
    checkFields(config, TLS_INSPECTOR_SPEC, path, issues);
    if (config.enable_ja3_fingerprinting === true)
      issues.add(join(path, 'enable_ja3_fingerprinting'), NOT_SUPPORTED);
    return {};
  },
  createFilter(_config, context) {
    return new TlsInspector(new TlsInspectorStats(context.stats, context.listenerName));
  },
};
