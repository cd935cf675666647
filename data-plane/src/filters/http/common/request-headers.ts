/**
 * The formatter context of a stream for %VARIABLE% header values, shared by the router and the
 * HTTP filters. The RequestHeaderMap itself answers Envoy's pseudo-headers (%REQ(:path)%).
 */
import type { RequestHeaderMap } from '../../../http/header-map.js';
import type { HeaderFormatterContext, HeaderLookup } from '../../../router/header-mutations.js';
import { formatHostPort } from '@ferry/shared';
import type { StreamInfo } from '../filter.js';

/**
 * The values Envoy's header formatters read, for one stream. Addresses are `ip:port` as Envoy
 * prints them; the trusted client address after XFF has port 0 when it is not the peer's.
 */
export class StreamFormatterContext implements HeaderFormatterContext {
  readonly downstreamRemoteAddress: string;
  readonly downstreamDirectRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  readonly protocol: string;
  /** The chosen upstream host (the router's context), "" before one is chosen. */
  readonly upstreamRemoteAddress: string;
  readonly requestHeaders: HeaderLookup;
  readonly startTimeMs: number;

  constructor(info: StreamInfo, request: RequestHeaderMap, upstreamRemoteAddress = '') {
    this.upstreamRemoteAddress = upstreamRemoteAddress;
    const socket = info.connection.socket;
    const peerIp = socket.remoteAddress ?? '';
    const peerPort = socket.remotePort ?? 0;
    this.downstreamDirectRemoteAddress = formatHostPort(peerIp, peerPort);
    const clientIp = info.downstreamRemoteIp || peerIp;
    this.downstreamRemoteAddress = formatHostPort(clientIp, clientIp === peerIp ? peerPort : 0);
    this.downstreamLocalAddress = formatHostPort(socket.localAddress ?? '', socket.localPort ?? 0);
    this.protocol = request.protocol;
    this.requestHeaders = request;
    // StreamInfo.startTimeMs is on the performance.now() clock; formatters print wall time.
    this.startTimeMs = Date.now() - (performance.now() - info.startTimeMs);
  }
}
