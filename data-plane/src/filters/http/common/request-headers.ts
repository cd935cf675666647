/**
 * Request views the HTTP filters share: header lookups that answer Envoy's pseudo-headers from
 * a RequestHeaderMap's fields (HeaderMatchers and %REQ(:path)% read them), and the formatter
 * context of a stream for %VARIABLE% header values.
 */
import net from 'node:net';
import type { RequestHeaderMap } from '../../../http/header-map.js';
import type { HeaderFormatterContext, HeaderLookup } from '../../../router/header-mutations.js';
import type { StreamInfo } from '../filter.js';

/** `:method`, `:path`, `:authority`, `:scheme` from the map's fields, other names from the map. */
export class RequestHeaderLookup implements HeaderLookup {
  constructor(private readonly headers: RequestHeaderMap) {}

  get(name: string): string | undefined {
    switch (name) {
      case ':method':
        return this.headers.method;
      case ':path':
        return this.headers.path;
      case ':authority':
      case 'host':
        return this.headers.authority;
      case ':scheme':
        return this.headers.scheme;
      default:
        return this.headers.get(name);
    }
  }
}

function withPort(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * The values Envoy's header formatters read, for one stream. Addresses are `ip:port` as Envoy
 * prints them; the trusted client address after XFF has port 0 when it is not the peer's.
 */
export class StreamFormatterContext implements HeaderFormatterContext {
  readonly downstreamRemoteAddress: string;
  readonly downstreamDirectRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  readonly protocol: string;
  /** Filters run before the router picks a host: always "". */
  readonly upstreamRemoteAddress = '';
  readonly requestHeaders: HeaderLookup;
  readonly startTimeMs: number;

  constructor(info: StreamInfo, request: RequestHeaderMap) {
    const socket = info.connection.socket;
    const peerIp = socket.remoteAddress ?? '';
    const peerPort = socket.remotePort ?? 0;
    this.downstreamDirectRemoteAddress = withPort(peerIp, peerPort);
    const clientIp = info.downstreamRemoteIp || peerIp;
    this.downstreamRemoteAddress = withPort(clientIp, clientIp === peerIp ? peerPort : 0);
    this.downstreamLocalAddress = withPort(socket.localAddress ?? '', socket.localPort ?? 0);
    this.protocol = request.protocol;
    this.requestHeaders = new RequestHeaderLookup(request);
    // StreamInfo.startTimeMs is on the performance.now() clock; formatters print wall time.
    this.startTimeMs = Date.now() - (performance.now() - info.startTimeMs);
  }
}
