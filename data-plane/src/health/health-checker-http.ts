/**
 * HTTP health check (HealthCheck.HttpHealthCheck): GET `path` with Host = `host` or the cluster
 * name, over a fresh HTTP/1.1 connection or HTTP/2 (prior knowledge). Healthy when the status is
 * in expected_statuses (default 200 only); a status in retriable_statuses counts towards
 * unhealthy_threshold, any other status fails the host at once (Envoy's semantics).
 */
import http from 'node:http';
import http2 from 'node:http2';
import { formatHostPort } from '@ferry/shared';
import type {
  HeaderValueOptionModel,
  HttpHealthCheckModel,
  StatusRangeModel,
} from '../config/model.js';
import {
  HEALTHY,
  activeFailure,
  networkFailure,
  type CheckOutcome,
  type HealthChecker,
  type HealthCheckTarget,
} from './health-checker.js';

/** Envoy sends this user agent on HTTP health checks. */
const USER_AGENT = 'Envoy/HC';

export class HttpHealthChecker implements HealthChecker {
  constructor(private readonly model: HttpHealthCheckModel) {}

  check(target: HealthCheckTarget, signal: AbortSignal): Promise<CheckOutcome> {
    const headers = this.#headers(target);
    const probe =
      this.model.protocol === 'HTTP2'
        ? requestHttp2(target, this.model.path, headers, signal)
        : requestHttp1(target, this.model.path, headers, signal);
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

function requestHttp1(
  target: HealthCheckTarget,
  path: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    // A fresh connection per check (agent: false): a check must see whether the host accepts
    // connections now, not reuse one that happened to survive.
    const req = http.request(
      { host: target.host, port: target.port, path, method: 'GET', headers, agent: false, signal },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function requestHttp2(
  target: HealthCheckTarget,
  path: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${formatHostPort(target.host, target.port)}`);
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
