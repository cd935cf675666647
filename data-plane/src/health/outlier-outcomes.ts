/**
 * Outlier detection across workers, as Envoy's detector sees all its worker threads' traffic:
 * workers do not detect. Each worker buffers how its upstream attempts ended, per cluster and
 * host in order, and sends the buffer to the primary every OUTCOME_FLUSH_MS (one IPC message per
 * interval, never one per request); the primary's detectors (health/outlier-manager.ts) replay
 * them and send every change of a cluster's ejected hosts back to all workers, whose load
 * balancers leave those hosts out (workerOutliers.ejections).
 */
import { ActiveHealthOverrides } from './active-health-overrides.js';
import type { UpstreamOutcome } from './outlier-detector.js';

/** How long a worker buffers outcomes before sending them to the primary. */
export const OUTCOME_FLUSH_MS = 20;

/** Outcomes by cluster, then host key, in the order they happened (OutcomeCode each). */
export type OutcomeBatch = Record<string, Record<string, number[]>>;

/** An outcome as a number for IPC: the HTTP status, or a negative local-origin failure. */
const LOCAL_OUTCOMES: readonly UpstreamOutcome[] = [
  'connect-failure',
  'timeout',
  'reset',
  'connect-success',
];

export function encodeOutcome(outcome: UpstreamOutcome): number {
  if (typeof outcome === 'number') return outcome;
  return -1 - LOCAL_OUTCOMES.indexOf(outcome);
}

export function decodeOutcome(code: number): UpstreamOutcome {
  if (code >= 0) return code;
  return LOCAL_OUTCOMES[-1 - code] ?? 'reset';
}

/** A worker's buffer of outcomes, sent as one batch per OUTCOME_FLUSH_MS. */
export class OutcomeBuffer {
  #batch: OutcomeBatch = {};
  #empty = true;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (batch: OutcomeBatch) => void,
    private readonly flushMs = OUTCOME_FLUSH_MS,
  ) {}

  record(cluster: string, hostKey: string, outcome: UpstreamOutcome): void {
    const hosts = (this.#batch[cluster] ??= {});
    (hosts[hostKey] ??= []).push(encodeOutcome(outcome));
    this.#empty = false;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flush, this.flushMs);
      this.#timer.unref();
    }
  }

  readonly #flush = (): void => {
    this.#timer = undefined;
    this.flush();
  };

  /** Sends what is buffered now (also at shutdown). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#empty) return;
    const batch = this.#batch;
    this.#batch = {};
    this.#empty = true;
    this.send(batch);
  }
}

/**
 * The worker process's outlier plumbing: where outcomes go (set by worker-main to an
 * OutcomeBuffer sending over IPC; unset, e.g. in unit tests, they are dropped) and the
 * primary's ejections (cluster → host key → 'UNHEALTHY').
 */
export const workerOutliers: {
  outcomes: Pick<OutcomeBuffer, 'record'> | undefined;
  readonly ejections: ActiveHealthOverrides;
} = { outcomes: undefined, ejections: new ActiveHealthOverrides() };
