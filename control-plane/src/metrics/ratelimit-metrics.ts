/**
 * The RateLimitService's counters (docs/architecture.md, "Fleet-wide rate limits"): calls answered
 * by overall code (`OK`, `OVER_LIMIT`, or `error` for calls refused with a gRPC status), of which
 * forwarded from another replica; descriptors this replica forwarded to their owner, by outcome
 * (`ok`, or `failed` then counted here); live replicas; counters held in memory.
 */
import { processMetrics, type MetricChild, type MetricsRegistry } from './registry.js';

export interface RateLimitMetrics {
  readonly checks: (code: 'OK' | 'OVER_LIMIT' | 'error') => MetricChild;
  readonly forwardedIn: MetricChild;
  readonly forwardedOut: (outcome: 'ok' | 'failed') => MetricChild;
  readonly replicas: MetricChild;
  readonly counters: MetricChild;
}

export function rateLimitMetrics(registry: MetricsRegistry = processMetrics): RateLimitMetrics {
  const checks = registry.counter(
    'ferry_ratelimit_checks_total',
    'ShouldRateLimit calls answered by this replica, by overall code (error: refused with a gRPC status).',
    'code',
  );
  const forwardedOut = registry.counter(
    'ferry_ratelimit_forwarded_descriptors_total',
    'Descriptors sent to the replica that owns their counter, by outcome (failed: counted here instead).',
    'outcome',
  );
  const byCode = {
    OK: checks.child('OK'),
    OVER_LIMIT: checks.child('OVER_LIMIT'),
    error: checks.child('error'),
  };
  const byOutcome = { ok: forwardedOut.child('ok'), failed: forwardedOut.child('failed') };
  return {
    checks: (code) => byCode[code],
    forwardedIn: registry.counter(
      'ferry_ratelimit_forwarded_checks_total',
      'ShouldRateLimit calls another replica forwarded here (included in ferry_ratelimit_checks_total).',
    ),
    forwardedOut: (outcome) => byOutcome[outcome],
    replicas: registry.gauge(
      'ferry_ratelimit_replicas',
      'Control-plane replicas sharing the rate limit counters, as this replica sees them.',
    ),
    counters: registry.gauge(
      'ferry_ratelimit_counters',
      'Rate limit counters (key and window) held in memory by this replica.',
    ),
  };
}
