/**
 * Client identity headers on the upstream request: X-Forwarded-For and the trusted client
 * address (R's xff.ts, Envoy's rules), X-Forwarded-Proto, x-envoy-internal/-external-address,
 * stripping x-envoy-* at the edge, and x-request-id (R's request-id.ts).
 */
import type { HttpConnectionManagerModel } from '../config/model.js';
import type { HeaderMap } from './header-map.js';
import type { DownstreamRequest } from './listener-server.js';
import { resolveRequestId } from './request-id.js';
import {
  forwardedFor,
  shouldSetForwardedProto,
  type ForwardedForResult,
  newForwardedForResult,
} from './xff.js';

export interface ClientIdentity {
  readonly requestId: string;
  /** The trusted client IP (source_ip hashing, %DOWNSTREAM_REMOTE_ADDRESS%). */
  readonly trustedClientIp: string;
}

// forwardedFor fills a result object synchronously; one per worker is enough.
const scratch: ForwardedForResult = newForwardedForResult();

function stripPeerPrefix(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export function applyClientIdentity(
  headers: HeaderMap,
  req: DownstreamRequest,
  hcm: HttpConnectionManagerModel,
  scheme: string,
): ClientIdentity {
  const socket = req.socket;
  const peerIp = stripPeerPrefix(socket.remoteAddress ?? '');
  const result = forwardedFor(
    hcm,
    peerIp,
    headers.get('x-forwarded-for'),
    scratch,
    stripPeerPrefix(socket.localAddress ?? ''),
  );
  if (result.xff === undefined) headers.remove('x-forwarded-for');
  else headers.set('x-forwarded-for', result.xff);
  if (result.edgeRequest) {
    for (let i = headers.names.length - 1; i >= 0; i--) {
      if (headers.names[i]!.startsWith('x-envoy-')) {
        headers.names.splice(i, 1);
        headers.values.splice(i, 1);
      }
    }
  }
  if (result.internal) headers.set('x-envoy-internal', 'true');
  else headers.remove('x-envoy-internal');
  if (result.externalAddress !== undefined)
    headers.set('x-envoy-external-address', result.externalAddress);
  if (shouldSetForwardedProto(hcm, headers.has('x-forwarded-proto')))
    headers.set('x-forwarded-proto', scheme);
  const requestId = resolveRequestId(hcm, headers.get('x-request-id'), result.edgeRequest);
  if (requestId !== undefined) headers.set('x-request-id', requestId);
  if (hcm.via !== '') headers.append('via', hcm.via);
  return { requestId: requestId ?? '', trustedClientIp: result.trustedClientIp };
}
