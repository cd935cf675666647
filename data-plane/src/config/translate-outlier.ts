/**
 * Cluster.outlier_detection (envoy.config.cluster.v3.OutlierDetection) → OutlierDetectionModel,
 * with the defaults of Envoy's OutlierDetection proto docs. Fields ferry-proxy cannot honour
 * (custom monitors, event sinks) are NACKed with their path.
 */
import {
  bool,
  checkFields,
  durationMs,
  int,
  messageSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import type { OutlierDetectionModel } from './model.js';

/** Envoy's defaults (OutlierDetection proto). Note enforcing_consecutive_gateway_failure is 0. */
export const OUTLIER_DEFAULTS: OutlierDetectionModel = Object.freeze({
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  consecutiveLocalOriginFailure: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionTimeJitterMs: 0,
  maxEjectionPercent: 10,
  alwaysEjectOneHost: false,
  enforcingConsecutive5xx: 100,
  enforcingConsecutiveGatewayFailure: 0,
  enforcingConsecutiveLocalOriginFailure: 100,
  enforcingSuccessRate: 100,
  enforcingLocalOriginSuccessRate: 100,
  successRateMinimumHosts: 5,
  successRateRequestVolume: 100,
  successRateStdevFactor: 1900,
  failurePercentageThreshold: 85,
  enforcingFailurePercentage: 0,
  enforcingFailurePercentageLocalOrigin: 0,
  failurePercentageMinimumHosts: 5,
  failurePercentageRequestVolume: 50,
  splitExternalLocalOriginErrors: false,
  successfulActiveHealthCheckUnejectHost: true,
});

const PER_WORKER = 'each worker process detects on its own traffic (Envoy aggregates all workers)';

export const OUTLIER_DETECTION_SPEC: MessageSpec = messageSpec(
  'envoy.config.cluster.v3.OutlierDetection',
  {
    consecutive_5xx: `default 5; ${PER_WORKER}`,
    consecutive_gateway_failure: 'default 5 (502, 503, 504)',
    consecutive_local_origin_failure: 'default 5; with split_external_local_origin_errors',
    interval: 'default 10s: success rate / failure percentage evaluation and unejection',
    base_ejection_time: 'default 30s, multiplied by the number of times ejected',
    max_ejection_time: 'default 300s',
    max_ejection_time_jitter: 'default 0s',
    max_ejection_percent: 'default 10',
    always_eject_one_host: 'default false',
    enforcing_consecutive_5xx: 'default 100',
    enforcing_consecutive_gateway_failure: 'default 0 (detected, not ejected)',
    enforcing_consecutive_local_origin_failure: 'default 100',
    enforcing_success_rate: 'default 100',
    enforcing_local_origin_success_rate: 'default 100',
    success_rate_minimum_hosts: 'default 5',
    success_rate_request_volume: 'default 100 per interval',
    success_rate_stdev_factor: 'default 1900 (÷1000)',
    failure_percentage_threshold: 'default 85',
    enforcing_failure_percentage: 'default 0',
    enforcing_failure_percentage_local_origin: 'default 0',
    failure_percentage_minimum_hosts: 'default 5',
    failure_percentage_request_volume: 'default 50 per interval',
    split_external_local_origin_errors:
      'connect failures, timeouts and resets counted apart from HTTP statuses',
    successful_active_health_check_uneject_host:
      'default true: a host whose active check turns healthy is unejected',
  },
);

export function translateOutlierDetection(
  obj: JsonObject,
  path: string,
  issues: Issues,
): OutlierDetectionModel {
  checkFields(obj, OUTLIER_DETECTION_SPEC, path, issues, {
    monitors: 'custom outlier monitors are not supported by ferry-proxy',
  });
  const d = OUTLIER_DEFAULTS;
  const model: OutlierDetectionModel = {
    consecutive5xx: int(obj.consecutive_5xx, d.consecutive5xx),
    consecutiveGatewayFailure: int(obj.consecutive_gateway_failure, d.consecutiveGatewayFailure),
    consecutiveLocalOriginFailure: int(
      obj.consecutive_local_origin_failure,
      d.consecutiveLocalOriginFailure,
    ),
    intervalMs: durationMs(obj.interval, d.intervalMs),
    baseEjectionTimeMs: durationMs(obj.base_ejection_time, d.baseEjectionTimeMs),
    maxEjectionTimeMs: durationMs(obj.max_ejection_time, d.maxEjectionTimeMs),
    maxEjectionTimeJitterMs: durationMs(obj.max_ejection_time_jitter, d.maxEjectionTimeJitterMs),
    maxEjectionPercent: int(obj.max_ejection_percent, d.maxEjectionPercent),
    alwaysEjectOneHost: bool(obj.always_eject_one_host, d.alwaysEjectOneHost),
    enforcingConsecutive5xx: int(obj.enforcing_consecutive_5xx, d.enforcingConsecutive5xx),
    enforcingConsecutiveGatewayFailure: int(
      obj.enforcing_consecutive_gateway_failure,
      d.enforcingConsecutiveGatewayFailure,
    ),
    enforcingConsecutiveLocalOriginFailure: int(
      obj.enforcing_consecutive_local_origin_failure,
      d.enforcingConsecutiveLocalOriginFailure,
    ),
    enforcingSuccessRate: int(obj.enforcing_success_rate, d.enforcingSuccessRate),
    enforcingLocalOriginSuccessRate: int(
      obj.enforcing_local_origin_success_rate,
      d.enforcingLocalOriginSuccessRate,
    ),
    successRateMinimumHosts: int(obj.success_rate_minimum_hosts, d.successRateMinimumHosts),
    successRateRequestVolume: int(obj.success_rate_request_volume, d.successRateRequestVolume),
    successRateStdevFactor: int(obj.success_rate_stdev_factor, d.successRateStdevFactor),
    failurePercentageThreshold: int(obj.failure_percentage_threshold, d.failurePercentageThreshold),
    enforcingFailurePercentage: int(obj.enforcing_failure_percentage, d.enforcingFailurePercentage),
    enforcingFailurePercentageLocalOrigin: int(
      obj.enforcing_failure_percentage_local_origin,
      d.enforcingFailurePercentageLocalOrigin,
    ),
    failurePercentageMinimumHosts: int(
      obj.failure_percentage_minimum_hosts,
      d.failurePercentageMinimumHosts,
    ),
    failurePercentageRequestVolume: int(
      obj.failure_percentage_request_volume,
      d.failurePercentageRequestVolume,
    ),
    splitExternalLocalOriginErrors: bool(
      obj.split_external_local_origin_errors,
      d.splitExternalLocalOriginErrors,
    ),
    successfulActiveHealthCheckUnejectHost: bool(
      obj.successful_active_health_check_uneject_host,
      d.successfulActiveHealthCheckUnejectHost,
    ),
  };
  return model;
}
