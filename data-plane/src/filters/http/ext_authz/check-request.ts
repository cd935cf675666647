/**
 * What ext_authz tells the authorization service about a request (Envoy's CheckRequestUtils):
 * which request headers go (allowed_headers / disallowed_headers, per service kind), and the
 * `envoy.service.auth.v3.CheckRequest` of the gRPC service as an init object for
 * GrpcMessageCodec.encode (field names in lowerCamelCase, oneofs as `{ case, value }`).
 */
import type { TLSSocket } from 'node:tls';
import type { RequestHeaderMap } from '../../../http/header-map.js';
import type { StreamInfo } from '../filter.js';
import type { StringPredicate } from '../../../router/route-match.js';

/** Envoy's x-envoy-auth-partial-body: whether the body sent is a prefix of the request's. */
export const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';

/**
 * Which request headers the check carries: `allowed` undefined lets every header through
 * (gRPC without allowed_headers); `disallowed` always wins.
 */
export class HeaderSelector {
  constructor(
    readonly allowed: readonly StringPredicate[] | undefined,
    readonly disallowed: readonly StringPredicate[],
  ) {}

  selects(name: string): boolean {
    for (const d of this.disallowed) if (d(name)) return false;
    const allowed = this.allowed;
    if (allowed === undefined) return true;
    for (const a of allowed) if (a(name)) return true;
    return false;
  }
}

/** The request body as ext_authz sends it: the first max_request_bytes, and whether partial. */
export interface CheckBody {
  readonly bytes: Buffer;
  readonly partial: boolean;
}

function socketAddress(ip: string | undefined, port: number | undefined): object | undefined {
  if (ip === undefined) return undefined;
  const address = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  return {
    address: {
      case: 'socketAddress',
      value: { address, portSpecifier: { case: 'portValue', value: port ?? 0 } },
    },
  };
}

/** RFC 2253 order (most specific first) of node's newline-separated subject. */
function rfc2253(subject: string): string {
  return subject.split('\n').reverse().join(',');
}

/** Envoy's principal of a certificate: the first URI SAN, else the subject. */
function principalOf(cert: { subjectAltName?: string; subject: string } | undefined): string {
  if (cert === undefined) return '';
  for (const part of (cert.subjectAltName ?? '').split(', '))
    if (part.startsWith('URI:')) return part.slice(4);
  return rfc2253(cert.subject);
}

export interface CheckRequestOptions {
  readonly selector: HeaderSelector;
  readonly contextExtensions: Readonly<Record<string, string>>;
  readonly body: CheckBody | undefined;
  readonly packAsBytes: boolean;
  readonly includePeerCertificate: boolean;
  readonly includeTlsSession: boolean;
}

/** The CheckRequest of one request, as a GrpcMessageCodec init object. */
export function checkRequestInit(
  headers: RequestHeaderMap,
  info: StreamInfo,
  options: CheckRequestOptions,
): Record<string, unknown> {
  const connection = info.connection;
  const socket = connection.socket;
  const source: Record<string, unknown> = {
    address: socketAddress(socket.remoteAddress, socket.remotePort),
  };
  const destination: Record<string, unknown> = {
    address: socketAddress(socket.localAddress, socket.localPort),
  };
  if (connection.encrypted) {
    const tls = socket as TLSSocket;
    const peer = tls.getPeerX509Certificate?.();
    source.principal = principalOf(peer);
    if (options.includePeerCertificate && peer !== undefined)
      source.certificate = encodeURIComponent(peer.toString());
    const local = tls.getX509Certificate?.();
    destination.principal = principalOf(local);
  }
  const selector = options.selector;
  const map: Record<string, string> = {};
  const pseudo: [string, string][] = [
    [':authority', headers.authority],
    [':method', headers.method],
    [':path', headers.path],
    [':scheme', headers.scheme],
  ];
  for (const [name, value] of pseudo) if (selector.selects(name)) map[name] = value;
  const names = headers.names;
  const values = headers.values;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (!selector.selects(name)) continue;
    const previous = map[name];
    map[name] = previous === undefined ? values[i]! : `${previous},${values[i]!}`;
  }
  const body = options.body;
  if (body !== undefined) map[PARTIAL_BODY_HEADER] = body.partial ? 'true' : 'false';
  const contentLength = headers.get('content-length');
  const size = contentLength !== undefined && /^\d+$/.test(contentLength) ? contentLength : '-1';
  const startMs = performance.timeOrigin + info.startTimeMs;
  const http: Record<string, unknown> = {
    id: info.requestId,
    method: headers.method,
    headers: map,
    path: headers.path,
    host: headers.authority,
    scheme: headers.scheme,
    size: BigInt(size),
    protocol: headers.protocol,
  };
  if (body !== undefined) {
    if (options.packAsBytes) http.rawBody = body.bytes;
    else http.body = body.bytes.toString('utf8');
  }
  const attributes: Record<string, unknown> = {
    source,
    destination,
    request: {
      time: {
        seconds: BigInt(Math.floor(startMs / 1000)),
        nanos: Math.floor((startMs % 1000) * 1e6),
      },
      http,
    },
    contextExtensions: options.contextExtensions,
  };
  if (options.includeTlsSession && connection.serverName !== undefined)
    attributes.tlsSession = { sni: connection.serverName };
  return { attributes };
}
