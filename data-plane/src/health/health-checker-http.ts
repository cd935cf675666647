/**
 * HTTP health check (HealthCheck.HttpHealthCheck): GET `path` with Host = `host` or the cluster
 * name, over a fresh HTTP/1.1 connection or HTTP/2 (prior knowledge; ALPN h2 over TLS), over TLS
 * when the cluster has an UpstreamTlsContext (as Envoy's checks use the transport socket). Healthy when the status is
 * in expected_statuses (default 200 only); a status in retriable_statuses counts towards
 * unhealthy_threshold, any other status fails the host at once (Envoy's semantics).
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type {
  HeaderValueOptionModel,
  HttpHealthCheckModel,
  StatusRangeModel,
} from '../config/model.js';
import {
  HEALTHY,
  activeFailure,
  connectHttp2,
  networkFailure,
  openCheckConnection,
  type CheckOutcome,
  type HealthChecker,
  type HealthCheckTarget,
} from './health-checker.js';

const HTTP1_ALPN: readonly string[] = ['http/1.1'];
const H2_ALPN: readonly string[] = ['h2'];

/** Envoy sends this user agent on HTTP health checks. */
const USER_AGENT = 'Envoy/HC';

export class HttpHealthChecker implements HealthChecker {
  constructor(private readonly model: HttpHealthCheckModel) {}

  check(target: HealthCheckTarget, signal: AbortSignal): Promise<CheckOutcome> {
    const headers = this.#headers(target);
    const http2 = this.model.protocol === 'HTTP2';
    const probe =
      target.tls === undefined
        ? http2
          ? requestHttp2(target, this.model.path, headers, signal)
          : requestHttp1(target, this.model.path, headers, signal)
        : openCheckConnection(target, http2 ? H2_ALPN : HTTP1_ALPN, signal).then((socket) =>
            http2
              ? requestHttp2(target, this.model.path, headers, signal, socket)
              : requestHttp1(target, this.model.path, headers, signal, socket),
          );
    return probe.then(
      (status) => classifyStatus(status, this.model),
      (err: unknown) => networkFailure(err instanceof Error ? err.message : String(err)),
    );
  }

  #headers(target: HealthCheckTarget): Record<string, string> {
    const headers: Record<string, string> = {
      host: this.model.host !== '' ? this.model.host : target.clusterName,
      'user-agent': USER_AGENT,
    };
    for (const option of this.model.requestHeadersToAdd) applyHeader(headers, option);
    for (const name of this.model.requestHeadersToRemove) {
      // Envoy does not let request_headers_to_remove drop the Host header.
      if (name !== 'host') delete headers[name];
    }
    return headers;
  }
}

function applyHeader(headers: Record<string, string>, option: HeaderValueOptionModel): void {
  if (option.value === '' && option.keepEmptyValue !== true) return;
  const existing = headers[option.key];
  switch (option.action) {
    case 'APPEND_IF_EXISTS_OR_ADD':
      headers[option.key] = existing !== undefined ? `${existing},${option.value}` : option.value;
      return;
    case 'ADD_IF_ABSENT':
      if (existing === undefined) headers[option.key] = option.value;
      return;
    case 'OVERWRITE_IF_EXISTS_OR_ADD':
      headers[option.key] = option.value;
      return;
    case 'OVERWRITE_IF_EXISTS':
      if (existing !== undefined) headers[option.key] = option.value;
      return;
  }
}

export function inRanges(status: number, ranges: readonly StatusRangeModel[]): boolean {
  return ranges.some((r) => status >= r.start && status < r.end);
}

export function classifyStatus(status: number, model: HttpHealthCheckModel): CheckOutcome {
  if (inRanges(status, model.expectedStatuses)) return HEALTHY;
  return activeFailure(`status ${status}`, inRanges(status, model.retriableStatuses));
}

/**
 * One GET over a fresh connection: `socket` (TLS, already verified) when given, else a new TCP
 * connection (agent: false): a check must see whether the host accepts connections now, not
 * reuse one that happened to survive.
 */
function requestHttp1(
  target: HealthCheckTarget,
  path: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  socket?: Socket,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const connection =
      socket === undefined
        ? { host: target.host, port: target.port, agent: false as const }
        : { createConnection: () => socket };
    const req = http.request({ ...connection, path, method: 'GET', headers, signal }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

function requestHttp2(
  target: HealthCheckTarget,
  path: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  socket?: Socket,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(target, socket);
    const done = (finish: () => void): void => {
      signal.removeEventListener('abort', onAbort);
      session.destroy();
      finish();
    };
    const onAbort = (): void => done(() => reject(new Error('timed out')));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    session.on('error', (err: Error) => done(() => reject(err)));
    const { host, ...rest } = headers;
    const stream = session.request({
      ...rest,
      ':method': 'GET',
      ':path': path,
      ':authority': host,
    });
    stream.on('response', (h) => done(() => resolve(Number(h[':status'] ?? 0))));
    stream.on('error', (err: Error) => done(() => reject(err)));
    stream.end();
  });
}
