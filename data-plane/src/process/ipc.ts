/**
 * Messages between the primary and its workers over node:cluster IPC (structured clone via
 * `serialization: 'advanced'`). The primary is the only source of config; workers report back
 * what they applied and their stats.
 */
import type { ProxyConfig } from '../config/model.js';
import type { StatsWire } from '../stats/stats-wire.js';
import type { OutcomeBatch } from '../health/outlier-outcomes.js';
import type { TokenLeaseGrant, TokenLeaseRequest } from '../rate-limit/bucket-server.js';
import type { OverloadModel } from '../config/translate-overload.js';

export type PrimaryMessage =
  /** Apply this config (atomic swap in the worker's ProxyRuntime). */
  | { readonly type: 'config'; readonly config: ProxyConfig }
  /**
   * A cluster's active health-check results, complete (not a delta); `{}` = none. The worker's
   * load balancers stop using hosts marked UNHEALTHY (health/active-health-overrides.ts).
   */
  | {
      readonly type: 'health';
      readonly cluster: string;
      readonly hosts: Readonly<Record<string, 'HEALTHY' | 'UNHEALTHY'>>;
    }
  /**
   * A cluster's hosts ejected by the primary's outlier detection, complete; [] = none. The
   * worker's load balancers leave them out (health/outlier-outcomes.ts).
   */
  | {
      readonly type: 'outlier-ejections';
      readonly cluster: string;
      readonly hosts: readonly string[];
    }
  /** Reply with a `stats` message carrying `requestId`. */
  | { readonly type: 'stats-request'; readonly requestId: number }
  | { readonly type: 'log-level'; readonly level: string }
  /** The bootstrap's overload_manager, run by each worker (overload/overload-manager.ts). */
  | { readonly type: 'overload'; readonly config: OverloadModel }
  /** /healthcheck/fail (true) and /healthcheck/ok (false). */
  | { readonly type: 'healthcheck'; readonly failing: boolean }
  /** Reopen every access log file (it was renamed: SIGUSR1, admin /reopen_logs, rotation). */
  | { readonly type: 'reopen-logs' }
  /** Stop accepting on every listener; keep serving what is in flight. */
  | { readonly type: 'drain-listeners' }
  /** Graceful exit: drain, finish in-flight requests until the deadline, then exit. */
  | { readonly type: 'shutdown'; readonly deadlineMs: number }
  /** Tokens of a proxy-wide rate limit bucket, answering a token-lease (rate-limit/). */
  | { readonly type: 'token-grant'; readonly grant: TokenLeaseGrant };

export type WorkerMessage =
  | { readonly type: 'worker-ready' }
  | { readonly type: 'applied'; readonly version: string }
  | { readonly type: 'apply-failed'; readonly version: string; readonly error: string }
  | {
      readonly type: 'stats';
      readonly requestId: number;
      readonly stats: StatsWire;
    }
  /** How this worker's upstream attempts ended since the last batch, for outlier detection. */
  | { readonly type: 'outcomes'; readonly batch: OutcomeBatch }
  | { readonly type: 'drained' }
  /** The worker's first upstream request to a cluster (health checks leave no_traffic_interval). */
  | { readonly type: 'cluster-traffic'; readonly cluster: string }
  /** Lease tokens of (or give back tokens to) a proxy-wide rate limit bucket. */
  | { readonly type: 'token-lease'; readonly request: TokenLeaseRequest };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
