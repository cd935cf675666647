/**
 * Cluster.health_checks (envoy.config.core.v3.HealthCheck) → HealthCheckModel, defaults applied
 * as in Envoy's HealthCheck proto docs. Fields ferry-proxy cannot honour are NACKed with their
 * path, so a config never silently loses a health check it asked for.
 */
import {
  asArray,
  asObject,
  checkFields,
  durationMs,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  strings,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { headerValueOption } from './translate-matchers.js';
import type { HealthCheckModel, StatusRangeModel } from './model.js';

/** Envoy's default no_traffic_interval. */
const DEFAULT_NO_TRAFFIC_INTERVAL_MS = 60_000;

const HEALTH_CHECK_SPEC = messageSpec('envoy.config.core.v3.HealthCheck', {
  timeout: 'required',
  interval: 'required',
  initial_jitter: 'random delay before a host’s first check',
  interval_jitter: 'random extra delay added to each interval',
  interval_jitter_percent: 'random extra delay as a percent of the interval',
  unhealthy_threshold: 'required',
  healthy_threshold: 'required (a host’s first check needs only one success)',
  reuse_connection: 'accepted; every check opens its own connection',
  http_health_check:
    'HTTP/1.1 or HTTP/2 GET, over the cluster’s transport_socket (TLS when it has an UpstreamTlsContext)',
  tcp_health_check:
    'connect (and TLS handshake with an UpstreamTlsContext), optional send/receive payload',
  grpc_health_check: 'grpc.health.v1.Health/Check over HTTP/2, over the cluster’s transport_socket',
  no_traffic_interval:
    'default 60s: the interval until the cluster first has upstream traffic (then the others apply)',
  no_traffic_healthy_interval: 'default: no_traffic_interval; for healthy hosts without traffic',
  unhealthy_interval: 'default: interval',
  unhealthy_edge_interval: 'default: unhealthy_interval',
  healthy_edge_interval: 'default: interval',
  always_log_health_check_failures: 'accepted (failures are logged at debug level)',
});
const HTTP_HEALTH_CHECK_SPEC = messageSpec('envoy.config.core.v3.HealthCheck.HttpHealthCheck', {
  host: 'default: the cluster name',
  path: 'required',
  request_headers_to_add: 'HeaderValueOption',
  request_headers_to_remove: 'header names',
  expected_statuses: 'default 200 only',
  retriable_statuses: 'count towards unhealthy_threshold instead of failing at once',
  codec_client_type: 'HTTP1 (default), HTTP2',
});
const TCP_HEALTH_CHECK_SPEC = messageSpec('envoy.config.core.v3.HealthCheck.TcpHealthCheck', {
  send: 'payload written after connecting',
  receive: 'payloads expected in the response, in order',
});
const PAYLOAD_SPEC = messageSpec('envoy.config.core.v3.HealthCheck.Payload', {
  text: 'hex',
  binary: 'bytes',
});
const GRPC_HEALTH_CHECK_SPEC = messageSpec('envoy.config.core.v3.HealthCheck.GrpcHealthCheck', {
  service_name: 'HealthCheckRequest.service',
  authority: 'default: the cluster name',
});
const INT64_RANGE_SPEC = messageSpec('envoy.type.v3.Int64Range', {
  start: 'inclusive',
  end: 'exclusive',
});

/** Fields refused with a more specific reason than "not supported". */
const HEALTH_CHECK_REASONS: Readonly<Record<string, string>> = {
  transport_socket_match_criteria:
    'not supported by ferry-proxy (neither is Cluster.transport_socket_matches): checks use the cluster’s transport_socket',
};

export const HEALTH_CHECK_SPECS: readonly MessageSpec[] = [
  HEALTH_CHECK_SPEC,
  HTTP_HEALTH_CHECK_SPEC,
  TCP_HEALTH_CHECK_SPEC,
  PAYLOAD_SPEC,
  GRPC_HEALTH_CHECK_SPEC,
  INT64_RANGE_SPEC,
];

/** Translates every entry of `health_checks`; errors go to `issues` with their paths. */
export function translateHealthChecks(cluster: JsonObject, issues: Issues): HealthCheckModel[] {
  const result: HealthCheckModel[] = [];
  for (const [obj, path] of objectsOf(cluster, 'health_checks', '')) {
    const model = translateHealthCheck(obj, path, issues);
    if (model) result.push(model);
  }
  return result;
}

function positiveDuration(obj: JsonObject, key: string, path: string, issues: Issues): number {
  const ms = durationMs(obj[key], 0);
  if (obj[key] === undefined) issues.add(join(path, key), 'is required');
  else if (ms <= 0) issues.add(join(path, key), 'must be greater than 0');
  return ms;
}

function threshold(obj: JsonObject, key: string, path: string, issues: Issues): number {
  const value = int(obj[key], 0);
  if (obj[key] === undefined) issues.add(join(path, key), 'is required');
  else if (value < 1) issues.add(join(path, key), 'must be at least 1');
  return Math.max(1, value);
}

/** One HealthCheck (also used for the checks the control plane assigns over HDS). */
export function translateHealthCheck(
  obj: JsonObject,
  path: string,
  issues: Issues,
): HealthCheckModel | undefined {
  checkFields(obj, HEALTH_CHECK_SPEC, path, issues, HEALTH_CHECK_REASONS);
  const timeoutMs = positiveDuration(obj, 'timeout', path, issues);
  const intervalMs = positiveDuration(obj, 'interval', path, issues);
  const unhealthyIntervalMs = durationMs(obj.unhealthy_interval, intervalMs);
  const kinds = ['http_health_check', 'tcp_health_check', 'grpc_health_check'].filter(
    (k) => obj[k] !== undefined,
  );
  if (kinds.length !== 1) {
    issues.add(
      path,
      kinds.length === 0
        ? 'one of http_health_check, tcp_health_check, grpc_health_check is required'
        : `only one of ${kinds.join(', ')} may be set`,
    );
    return undefined;
  }
  const kind = kinds[0]!;
  const body = asObject(obj[kind]) ?? {};
  const checkerPath = join(path, kind);
  const checker =
    kind === 'http_health_check'
      ? httpChecker(body, checkerPath, issues)
      : kind === 'tcp_health_check'
        ? tcpChecker(body, checkerPath, issues)
        : grpcChecker(body, checkerPath, issues);
  const noTrafficIntervalMs = durationMs(obj.no_traffic_interval, DEFAULT_NO_TRAFFIC_INTERVAL_MS);
  return {
    timeoutMs,
    intervalMs,
    initialJitterMs: durationMs(obj.initial_jitter, 0),
    intervalJitterMs: durationMs(obj.interval_jitter, 0),
    intervalJitterPercent: int(obj.interval_jitter_percent, 0),
    unhealthyThreshold: threshold(obj, 'unhealthy_threshold', path, issues),
    healthyThreshold: threshold(obj, 'healthy_threshold', path, issues),
    noTrafficIntervalMs,
    noTrafficHealthyIntervalMs: durationMs(obj.no_traffic_healthy_interval, noTrafficIntervalMs),
    unhealthyIntervalMs,
    unhealthyEdgeIntervalMs: durationMs(obj.unhealthy_edge_interval, unhealthyIntervalMs),
    healthyEdgeIntervalMs: durationMs(obj.healthy_edge_interval, intervalMs),
    checker,
  };
}

function statusRanges(
  obj: JsonObject,
  key: string,
  path: string,
  issues: Issues,
): StatusRangeModel[] {
  return objectsOf(obj, key, path).map(([range, rangePath]) => {
    checkFields(range, INT64_RANGE_SPEC, rangePath, issues);
    const start = int(range.start, 0);
    const end = int(range.end, 0);
    // HttpHealthCheck.expected_statuses: start ≥ 100, end ≤ 600, start < end.
    if (start < 100 || end > 600 || start >= end)
      issues.add(rangePath, `[${start}, ${end}) must lie within [100, 600) and not be empty`);
    return { start, end };
  });
}

function httpChecker(obj: JsonObject, path: string, issues: Issues): HealthCheckModel['checker'] {
  checkFields(obj, HTTP_HEALTH_CHECK_SPEC, path, issues);
  const checkPath = str(obj.path);
  if (!checkPath.startsWith('/'))
    issues.add(join(path, 'path'), 'is required and must start with /');
  const expected = statusRanges(obj, 'expected_statuses', path, issues);
  return {
    kind: 'http',
    path: checkPath,
    host: str(obj.host),
    expectedStatuses: expected.length > 0 ? expected : [{ start: 200, end: 201 }],
    retriableStatuses: statusRanges(obj, 'retriable_statuses', path, issues),
    requestHeadersToAdd: objectsOf(obj, 'request_headers_to_add', path).map(([h, hPath]) =>
      headerValueOption(h, hPath, issues),
    ),
    requestHeadersToRemove: strings(obj.request_headers_to_remove).map((h) => h.toLowerCase()),
    protocol: enumField(
      obj.codec_client_type,
      ['HTTP1', 'HTTP2'] as const,
      'HTTP1',
      join(path, 'codec_client_type'),
      issues,
    ),
  };
}

function payloadHex(obj: JsonObject, path: string, issues: Issues): string {
  checkFields(obj, PAYLOAD_SPEC, path, issues);
  if (typeof obj.text === 'string') {
    if (!/^([0-9a-fA-F]{2})*$/.test(obj.text)) issues.add(join(path, 'text'), 'must be hex');
    return obj.text.toLowerCase();
  }
  if (typeof obj.binary === 'string') return Buffer.from(obj.binary, 'base64').toString('hex');
  issues.add(path, 'one of text, binary is required');
  return '';
}

function tcpChecker(obj: JsonObject, path: string, issues: Issues): HealthCheckModel['checker'] {
  checkFields(obj, TCP_HEALTH_CHECK_SPEC, path, issues);
  const send = asObject(obj.send);
  return {
    kind: 'tcp',
    sendHex: send ? payloadHex(send, join(path, 'send'), issues) : '',
    receiveHex: asArray(obj.receive).map((item, i) =>
      payloadHex(asObject(item) ?? {}, join(join(path, 'receive'), i), issues),
    ),
  };
}

function grpcChecker(obj: JsonObject, path: string, issues: Issues): HealthCheckModel['checker'] {
  checkFields(obj, GRPC_HEALTH_CHECK_SPEC, path, issues);
  return { kind: 'grpc', serviceName: str(obj.service_name), authority: str(obj.authority) };
}
