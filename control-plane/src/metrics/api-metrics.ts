/**
 * The management API's metrics: how applies end, and how many writes validation
 * rejected. Both label sets are fixed, so operators can alert on them without cardinality risk.
 */
import { processMetrics, type MetricChild, type MetricsRegistry } from './registry.js';

/**
 * How an apply ended. `applied`: a new revision; `unchanged`: valid, but equal to what is stored;
 * `dry_run`: valid, not written; `invalid`: rejected by decoding or validation (400/422);
 * `conflict`: the expected revision did not match (409); `forbidden`: the caller's role does not
 * allow it for the group (403); `error`: anything else.
 */
export type ApplyOutcome =
  'applied' | 'unchanged' | 'dry_run' | 'invalid' | 'conflict' | 'forbidden' | 'error';

/** The writes validation can reject. */
export type WriteOperation = 'apply' | 'delete' | 'rollback';

export interface ApiMetrics {
  applies(outcome: ApplyOutcome): MetricChild;
  validationFailures(operation: WriteOperation): MetricChild;
}

/** Registers (or finds) the API metrics in `registry`. */
export function apiMetrics(registry: MetricsRegistry = processMetrics): ApiMetrics {
  const applies = registry.counter(
    'ferry_api_applies_total',
    'Applies through the management API (HTTP and gRPC), by outcome.',
    'outcome',
  );
  const failures = registry.counter(
    'ferry_api_validation_failures_total',
    'Writes rejected by decoding or validation, by operation (apply, delete, rollback).',
    'operation',
  );
  return {
    applies: (outcome) => applies.child(outcome),
    validationFailures: (operation) => failures.child(operation),
  };
}
