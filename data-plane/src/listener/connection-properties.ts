/**
 * What is known of a new downstream connection before a filter chain is chosen: its addresses
 * (from the socket) and what listener filters detected (Envoy's ConnectionSocket: requested
 * server name, detected transport protocol, requested application protocols). The filter chain
 * matcher (filter-chain-match.ts) reads it; listener filters (filters/listener/) fill it in.
 */
export interface ConnectionProperties {
  /** The destination address (IPv4-mapped IPv6 addresses are given as IPv4). */
  readonly localAddress: string;
  readonly localPort: number;
  /** The source address (IPv4-mapped IPv6 addresses are given as IPv4). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** SNI, lower-cased; "" when none was detected. */
  serverName: string;
  /** "tls" when a listener filter detected TLS; "raw_buffer" otherwise (Envoy's default). */
  transportProtocol: string;
  /** ALPN protocols the client offered, in its order; empty when none were detected. */
  applicationProtocols: readonly string[];
}

/** Envoy's transport protocol names. */
export const TRANSPORT_TLS = 'tls';
export const TRANSPORT_RAW_BUFFER = 'raw_buffer';

/** "::ffff:10.0.0.1" → "10.0.0.1"; other addresses unchanged. */
export function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
