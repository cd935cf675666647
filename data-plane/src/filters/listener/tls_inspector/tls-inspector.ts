/**
 * The per-listener side of envoy.filters.listener.tls_inspector: reads the ClientHello from a
 * connection's first bytes (client-hello.ts) and sets the transport protocol ("tls"), the
 * requested server name and the application protocols for filter chain matching. Bytes that do
 * not start a TLS handshake leave the transport protocol at "raw_buffer"; a ClientHello over
 * 64 KiB closes the connection (Envoy: client_hello_too_large).
 */
import type { ListenerFilter, ListenerFilterStatus } from '../filter.js';
import {
  TRANSPORT_TLS,
  type ConnectionProperties,
} from '../../../listener/connection-properties.js';
import type { CounterHandle, StatsSink } from '../../../stats/stats.js';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.js';

/** Envoy's tls_inspector stats, per listener. */
export class TlsInspectorStats {
  readonly tlsFound: CounterHandle;
  readonly tlsNotFound: CounterHandle;
  readonly clientHelloTooLarge: CounterHandle;
  readonly sniFound: CounterHandle;
  readonly sniNotFound: CounterHandle;
  readonly alpnFound: CounterHandle;
  readonly alpnNotFound: CounterHandle;

  constructor(sink: StatsSink, listenerName: string) {
    const labels = { listener: listenerName };
    this.tlsFound = sink.counter('tls_inspector_tls_found', labels);
    this.tlsNotFound = sink.counter('tls_inspector_tls_not_found', labels);
    this.clientHelloTooLarge = sink.counter('tls_inspector_client_hello_too_large', labels);
    this.sniFound = sink.counter('tls_inspector_sni_found', labels);
    this.sniNotFound = sink.counter('tls_inspector_sni_not_found', labels);
    this.alpnFound = sink.counter('tls_inspector_alpn_found', labels);
    this.alpnNotFound = sink.counter('tls_inspector_alpn_not_found', labels);
  }
}

export class TlsInspector implements ListenerFilter {
  readonly maxReadBytes = MAX_CLIENT_HELLO_BYTES;
  readonly #stats: TlsInspectorStats;

  constructor(stats: TlsInspectorStats) {
    this.#stats = stats;
  }

  onData(data: Buffer, connection: ConnectionProperties): ListenerFilterStatus {
    const result = parseClientHello(data, this.maxReadBytes);
    switch (result.kind) {
      case 'need-more':
        return 'need-more-data';
      case 'not-tls':
        this.#stats.tlsNotFound.inc();
        return 'continue';
      case 'too-large':
        this.#stats.clientHelloTooLarge.inc();
        return 'close';
      case 'client-hello':
        this.#stats.tlsFound.inc();
        connection.transportProtocol = TRANSPORT_TLS;
        connection.serverName = result.serverName;
        connection.applicationProtocols = result.applicationProtocols;
        (result.serverName !== '' ? this.#stats.sniFound : this.#stats.sniNotFound).inc();
        (result.applicationProtocols.length > 0
          ? this.#stats.alpnFound
          : this.#stats.alpnNotFound
        ).inc();
        return 'continue';
    }
  }
}
