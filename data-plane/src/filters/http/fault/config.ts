/**
 * Config factory of envoy.filters.http.fault: validates Envoy's
 * `envoy.extensions.filters.http.fault.v3.HTTPFault` (the same message is its per-route config)
 * into FaultFilterModel; workers build a FaultStreamFilter per request.
 */
import type { HttpFilterFactory } from '../filter.js';
import type { FaultAbortModel, FaultDelayModel, FaultFilterModel } from '../../../config/model.js';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  durationMs,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  strings,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { headerMatcher } from '../../../config/translate-matchers.js';
import { PERCENT_SPECS, fractionalPercent } from '../common/fractional-percent.js';
import { FaultFilter } from './fault-filter.js';

const NO_RUNTIME = 'accepted; ferry-proxy has no runtime, so the configured values apply';

const HTTP_FAULT_SPEC = messageSpec('envoy.extensions.filters.http.fault.v3.HTTPFault', {
  delay: 'fixed_delay or header_delay, with a percentage',
  abort: 'http_status, grpc_status or header_abort, with a percentage',
  upstream_cluster: 'only requests routed to this cluster',
  headers: 'HeaderMatchers (pseudo-headers included); all must match',
  downstream_nodes: 'x-envoy-downstream-service-node must be one of these',
  max_active_faults: 'default unlimited; counted per worker process (Envoy: per proxy, fuzzy)',
  delay_percent_runtime: NO_RUNTIME,
  abort_percent_runtime: NO_RUNTIME,
  delay_duration_runtime: NO_RUNTIME,
  abort_http_status_runtime: NO_RUNTIME,
  max_active_faults_runtime: NO_RUNTIME,
  response_rate_limit_percent_runtime: NO_RUNTIME,
  abort_grpc_status_runtime: NO_RUNTIME,
  disable_downstream_cluster_stats: 'accepted (ferry-proxy keeps no per-downstream-cluster stats)',
  filter_metadata: 'set as dynamic metadata under the filter’s name when a fault is injected',
});

const ABORT_SPEC = messageSpec('envoy.extensions.filters.http.fault.v3.FaultAbort', {
  http_status: 'status of the local reply (200-599)',
  grpc_status: 'gRPC requests: trailers-only reply with this grpc-status (HTTP 200)',
  header_abort:
    'x-envoy-fault-abort-request (200-599) or x-envoy-fault-abort-grpc-request decides; x-envoy-fault-abort-request-percentage may lower the percentage',
  percentage: 'default 0%',
});

const HEADER_ABORT_SPEC = messageSpec(
  'envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort',
  {},
);

const DELAY_SPEC = messageSpec('envoy.extensions.filters.common.fault.v3.FaultDelay', {
  fixed_delay: 'delay before the request continues',
  header_delay:
    'x-envoy-fault-delay-request (milliseconds) decides; x-envoy-fault-delay-request-percentage may lower the percentage',
  percentage: 'default 0%',
});

const HEADER_DELAY_SPEC = messageSpec(
  'envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay',
  {},
);

export const FAULT_FILTER_TYPE_URL = TYPE_URL_PREFIX + HTTP_FAULT_SPEC.message;

export const faultFilter: HttpFilterFactory<FaultFilterModel, FaultFilterModel> = {
  typeUrl: FAULT_FILTER_TYPE_URL,
  names: ['envoy.filters.http.fault', 'envoy.fault'],
  terminal: false,
  note: 'injects delays (DI) and aborts (FI); per route: HTTPFault',
  specs: [
    HTTP_FAULT_SPEC,
    ABORT_SPEC,
    HEADER_ABORT_SPEC,
    DELAY_SPEC,
    HEADER_DELAY_SPEC,
    ...PERCENT_SPECS,
  ],
  perRouteTypeUrls: [FAULT_FILTER_TYPE_URL],
  validate: validateFault,
  validatePerRoute: (_typeUrl, config, path, issues) => validateFault(config, path, issues),
  createFilterFactory(config, context) {
    const filter = new FaultFilter(config, context);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};

export function validateFault(config: JsonObject, path: string, issues: Issues): FaultFilterModel {
  checkFields(config, HTTP_FAULT_SPEC, path, issues, {
    response_rate_limit: `response_rate_limit (response throughput faults) is ${NOT_SUPPORTED}`,
  });
  const delay = asObject(config.delay);
  const abort = asObject(config.abort);
  const maxActive = config.max_active_faults;
  const metadata = asObject(config.filter_metadata);
  return {
    ...(delay ? { delay: faultDelay(delay, join(path, 'delay'), issues) } : {}),
    ...(abort ? { abort: faultAbort(abort, join(path, 'abort'), issues) } : {}),
    upstreamCluster: str(config.upstream_cluster),
    headers: objectsOf(config, 'headers', path).map(([h, p]) => headerMatcher(h, p, issues)),
    downstreamNodes: strings(config.downstream_nodes),
    ...(maxActive !== undefined ? { maxActiveFaults: int(maxActive, 0) } : {}),
    ...(metadata && Object.keys(metadata).length > 0 ? { filterMetadata: metadata } : {}),
  };
}

function faultDelay(obj: JsonObject, path: string, issues: Issues): FaultDelayModel {
  checkFields(obj, DELAY_SPEC, path, issues);
  const percentage = fractionalPercent(asObject(obj.percentage), join(path, 'percentage'), issues);
  const header = asObject(obj.header_delay);
  if (header) {
    checkFields(header, HEADER_DELAY_SPEC, join(path, 'header_delay'), issues);
    return { kind: 'header', percentage };
  }
  const fixedDelayMs = durationMs(obj.fixed_delay, 0);
  if (fixedDelayMs <= 0)
    issues.add(join(path, 'fixed_delay'), 'one of fixed_delay (> 0) or header_delay is required');
  return { kind: 'fixed', fixedDelayMs, percentage };
}

function faultAbort(obj: JsonObject, path: string, issues: Issues): FaultAbortModel {
  checkFields(obj, ABORT_SPEC, path, issues);
  const percentage = fractionalPercent(asObject(obj.percentage), join(path, 'percentage'), issues);
  const header = asObject(obj.header_abort);
  if (header) {
    checkFields(header, HEADER_ABORT_SPEC, join(path, 'header_abort'), issues);
    return { kind: 'header', percentage };
  }
  // The error_type oneof is required (PGV) and keeps its members at their zero value.
  if (obj.grpc_status !== undefined)
    return { kind: 'grpc', grpcStatus: int(obj.grpc_status, 0), percentage };
  const httpStatus = int(obj.http_status, 0);
  if (httpStatus < 200 || httpStatus >= 600)
    issues.add(
      join(path, 'http_status'),
      'one of http_status (200-599), grpc_status or header_abort is required',
    );
  return { kind: 'http', httpStatus, percentage };
}
