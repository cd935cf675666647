/**
 * Client identity from X-Forwarded-For, following Envoy's HTTP connection manager
 * (docs: config_http_conn_man_headers_x-forwarded-for, ConnectionManagerUtility):
 *
 * use_remote_address = true (edge):
 *   - trusted client address: the xff_num_trusted_hops-th address from the right of the incoming
 *     XFF when hops > 0 and it parses as an IP; otherwise the connection's peer address;
 *   - unless skip_xff_append, the peer address is appended to XFF (for a loopback peer Envoy
 *     appends its own local address instead);
 * use_remote_address = false (behind trusted proxies):
 *   - trusted client address: the (xff_num_trusted_hops + 1)-th address from the right of XFF;
 *     when XFF is absent or that entry is not an IP, the peer address stands in (Envoy leaves the
 *     downstream remote address at the peer);
 *   - XFF is never modified.
 * Internal request: XFF carries a single address (counted before our append) that is internal
 * (RFC 1918, loopback, IPv6 unique-local/loopback); with use_remote_address false and no XFF
 * the request is external even from an internal peer. Internal → `x-envoy-internal: true`;
 * external → x-envoy-internal removed, and with use_remote_address (an edge request)
 * `x-envoy-external-address` is set to the trusted client address and other x-envoy-* request
 * headers must be stripped (the request path does that).
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface XffConfig {
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
}

/** Filled by forwardedFor; callers may reuse one object (synchronous use only). */
export interface ForwardedForResult {
  /** The trusted client address (an IP, no port): %DOWNSTREAM_REMOTE_ADDRESS%, source_ip hashing. */
  trustedClientIp: string;
  /** True when trustedClientIp came from XFF (then its port is unknown: Envoy prints :0). */
  fromXff: boolean;
  /** X-Forwarded-For to send upstream; undefined = no header. */
  xff: string | undefined;
  /** Set `x-envoy-internal: true` when true; remove the header otherwise. */
  internal: boolean;
  /** use_remote_address and not internal: strip x-envoy-* request headers. */
  edgeRequest: boolean;
  /** Value for x-envoy-external-address, or undefined to leave that header as received. */
  externalAddress: string | undefined;
}

export function newForwardedForResult(): ForwardedForResult {
  return {
    trustedClientIp: '',
    fromXff: false,
    xff: undefined,
    internal: false,
    edgeRequest: false,
    externalAddress: undefined,
  };
}

/**
 * Envoy's Utility::getLastAddressFromXFF: the address `skip` entries from the right of `xff`, if
 * it is a valid IP; `single` is true when XFF has exactly one entry and nothing was skipped.
 */
export function lastAddressFromXff(
  xff: string | undefined,
  skip: number,
): { address: string | undefined; single: boolean } {
  if (xff === undefined) return { address: undefined, single: false };
  let end = xff.length;
  for (let i = 0; i < skip; i++) {
    const comma = xff.lastIndexOf(',', end - 1);
    if (comma < 0) return { address: undefined, single: false };
    end = comma;
  }
  const comma = end === 0 ? -1 : xff.lastIndexOf(',', end - 1);
  const candidate = xff.slice(comma + 1, end).trim();
  if (isIP(candidate) === 0) return { address: undefined, single: false };
  return { address: candidate, single: comma < 0 && skip === 0 };
}

function ipv4Octets(ip: string): number[] | undefined {
  const parts = ip.split('.');
  return parts.length === 4 ? parts.map(Number) : undefined;
}

/** Envoy's default internal address set: RFC 1918, loopback, IPv6 ULA (fc00::/7) and ::1. */
export function isInternalAddress(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  const octets = ipv4Octets(v4);
  if (octets !== undefined) {
    const [a, b] = octets as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  const lower = ip.toLowerCase();
  return lower === '::1' || /^f[cd][0-9a-f]{0,2}:/.test(lower);
}

export function isLoopbackAddress(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return v4.startsWith('127.') || ip === '::1';
}

let machineAddress: string | undefined;

/** The address Envoy appends for loopback peers: this machine's first non-internal IPv4. */
export function localMachineAddress(): string {
  if (machineAddress !== undefined) return machineAddress;
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (!entry.internal && entry.family === 'IPv4') return (machineAddress = entry.address);
    }
  }
  return (machineAddress = '127.0.0.1');
}

/**
 * Computes the client identity for one request. `peerIp` is the connection's remote IP (no
 * port); `incomingXff` the received X-Forwarded-For (repeated headers joined by ','), or
 * undefined; `localIp` is what to append for a loopback peer (default localMachineAddress()).
 */
export function forwardedFor(
  config: XffConfig,
  peerIp: string,
  incomingXff: string | undefined,
  out: ForwardedForResult = newForwardedForResult(),
  localIp?: string,
): ForwardedForResult {
  let trusted: string | undefined;
  let single: boolean;
  if (config.useRemoteAddress) {
    single = incomingXff === undefined;
    if (config.xffNumTrustedHops > 0) {
      trusted = lastAddressFromXff(incomingXff, config.xffNumTrustedHops - 1).address;
    }
    out.fromXff = trusted !== undefined;
    trusted ??= peerIp;
    if (config.skipXffAppend) {
      out.xff = incomingXff;
    } else {
      const appended = isLoopbackAddress(peerIp) ? (localIp ?? localMachineAddress()) : peerIp;
      out.xff =
        incomingXff === undefined || incomingXff === '' ? appended : `${incomingXff}, ${appended}`;
    }
  } else {
    const last = lastAddressFromXff(incomingXff, config.xffNumTrustedHops);
    trusted = last.address;
    single = last.single;
    out.xff = incomingXff;
    out.fromXff = trusted !== undefined;
  }
  // Envoy decides "internal" on the address it found (point 3: no XFF without
  // use_remote_address means external), then falls back to the peer for the remote address.
  out.internal = single && trusted !== undefined && isInternalAddress(trusted);
  out.trustedClientIp = trusted ?? peerIp;
  out.edgeRequest = config.useRemoteAddress && !out.internal;
  out.externalAddress = out.edgeRequest ? out.trustedClientIp : undefined;
  return out;
}

/**
 * Whether to (over)write X-Forwarded-Proto with the connection's scheme: always when the
 * previous hop is not trusted (use_remote_address with no trusted hops), else only if absent.
 */
export function shouldSetForwardedProto(config: XffConfig, hasForwardedProto: boolean): boolean {
  return !hasForwardedProto || (config.useRemoteAddress && config.xffNumTrustedHops === 0);
}
