/**
 * Client identity headers, set by the connection manager on every request before the HTTP
 * filters run (Envoy's ConnectionManagerUtility::mutateRequestHeaders): X-Forwarded-For and the
 * trusted client address (xff.ts, Envoy's rules), X-Forwarded-Proto,
 * x-envoy-internal/-external-address, sanitizing Envoy's internal x-envoy-* headers on external
 * requests, x-request-id (request-id.ts) and Via.
 */
import type { HttpConnectionManagerModel } from '../config/model.js';
import type { HeaderMap } from './header-map.js';
import type { Socket } from 'node:net';
import { resolveRequestId } from './request-id.js';
import {
  forwardedFor,
  shouldSetForwardedProto,
  type ForwardedForResult,
  newForwardedForResult,
} from './xff.js';

export interface ClientIdentity {
  requestId: string;
  /** The trusted client IP (source_ip hashing, %DOWNSTREAM_REMOTE_ADDRESS%). */
  trustedClientIp: string;
}

/** applyClientIdentity's result: shared, valid until its next call (no object per request). */
const identity: ClientIdentity = { requestId: '', trustedClientIp: '' };

/** Removed from every external request (ConnectionManagerUtility::cleanInternalHeaders). */
const SANITIZED_EXTERNAL: ReadonlySet<string> = new Set([
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-max-retries',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-hedge-on-per-try-timeout',
]);

/** Removed from edge requests (external and use_remote_address) only. */
const SANITIZED_EDGE: ReadonlySet<string> = new Set([
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
]);

// forwardedFor fills a result object synchronously; one per worker is enough.
const scratch: ForwardedForResult = newForwardedForResult();

function stripPeerPrefix(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** Returns a shared object, valid until the next call: read it at once. */
export function applyClientIdentity(
  headers: HeaderMap,
  socket: Socket,
  hcm: HttpConnectionManagerModel,
  scheme: string,
): Readonly<ClientIdentity> {
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
  if (!result.internal) {
    // Envoy sanitizes a fixed set of x-envoy-* headers from external requests (docs: "HTTP
    // header sanitizing"); other x-envoy-* names pass through untouched.
    for (let i = headers.names.length - 1; i >= 0; i--) {
      const name = headers.names[i]!;
      if (
        name.startsWith('x-envoy-') &&
        (SANITIZED_EXTERNAL.has(name) || (result.edgeRequest && SANITIZED_EDGE.has(name)))
      ) {
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
  identity.requestId = requestId ?? '';
  identity.trustedClientIp = result.trustedClientIp;
  return identity;
}
