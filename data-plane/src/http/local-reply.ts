/**
 * Responses the proxy writes itself (no route, upstream failures, redirects, direct responses),
 * with Envoy's bodies so clients and tests that know Envoy see the same text.
 */
import type { DownstreamResponse } from './listener-server.js';

export function sendLocalReply(
  res: DownstreamResponse,
  status: number,
  body: string,
  extraHeaders?: Readonly<Record<string, string>>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = Buffer.from(body);
  const headers: Record<string, string | number> = {
    'content-length': payload.length,
    ...extraHeaders,
  };
  if (payload.length > 0 && headers['content-type'] === undefined)
    headers['content-type'] = 'text/plain';
  res.writeHead(status, headers);
  res.end(payload);
}

export const LOCAL_REPLY_BODY = {
  noHealthyUpstream: 'no healthy upstream',
  connectFailure:
    'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
  reset:
    'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
  overflow: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
  timeout: 'upstream request timeout',
  noCluster: 'cluster not found',
  headersTooLarge: '',
} as const;
