/**
 * The primary's workers (docs/architecture.md, "Process model"): N node:cluster workers that serve
 * traffic. The pool remembers the current config and the admin-controlled flags and gives them to
 * every worker that (re)starts; a worker that dies unexpectedly is restarted with exponential
 * backoff (reset after it stayed up a while). Listening sockets are shared through node:cluster, so
 * a restarted worker serves the same ports.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '@ferry/shared';
import type { ProxyConfig } from '../config/model.js';
import type { StatsSnapshot } from '../stats/stats.js';
import type { OutcomeBatch } from '../health/outlier-outcomes.js';
import type { TokenLeaseGrant, TokenLeaseRequest } from '../rate-limit/bucket-server.js';
import { StatsAggregator } from '../stats/stats-aggregate.js';
import { StatsWireDecoder, type StatsWire } from '../stats/stats-wire.js';
import { isWorkerMessage, type PrimaryMessage, type WorkerMessage } from './ipc.js';
import type { OverloadModel } from '../config/translate-overload.js';

export interface WorkerPoolOptions {
  readonly size: number;
  readonly logger: Logger;
  /** The bootstrap's overload_manager, given to every worker when it starts. */
  readonly overload?: OverloadModel;
  /** Arguments the workers are started with (the primary's own by default). */
  readonly args?: readonly string[];
  readonly restartBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** A worker applied (or failed to apply) a config version. */
  readonly onApplied?: (slot: number, version: string, error?: string) => void;
  /** A worker sent its first upstream request to a cluster. */
  readonly onClusterTraffic?: (cluster: string) => void;
  /** A worker's batch of upstream outcomes, for the primary's outlier detection. */
  readonly onOutcomes?: (batch: OutcomeBatch) => void;
  /** A worker's token lease request; the grant (if any) goes back to that worker. */
  readonly onTokenLease?: (request: TokenLeaseRequest) => TokenLeaseGrant | undefined;
}

/** A worker that stayed up this long is healthy again: its next crash restarts it at once. */
const STABLE_AFTER_MS = 30_000;

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  appliedVersion: string | undefined;
  failures: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/**
 * V8's young generation for workers, in MiB per semi-space. A proxy allocates a few short-lived
 * objects per request, and every scavenge also runs on V8's helper threads, whose CPU does not
 * show in a main-thread profile. With 32 MiB a worker proxying 100-byte responses scavenged about
 * half as often (BENCHMARKS.md, "Where the idle filters' cost goes").
 */
export const WORKER_MAX_SEMI_SPACE_MB = 32;

/**
 * Where the young generation starts. V8 sizes it from the survival rate, and a proxy's is low
 * (what survives a scavenge is the requests in flight), so with only a maximum it stayed small
 * and a worker scavenged twice as often per request as with this floor (BENCHMARKS.md, "HTTP
 * proxy", "Allocation per request"). Each scavenge pauses the requests in flight; its cost follows
 * what survives, not the young generation's size, so fewer scavenges pause them less in all.
 */
export const WORKER_MIN_SEMI_SPACE_MB = 16;

/**
 * The node flags workers start with: the primary's, plus the young-generation sizes. An
 * operator's own `--max-semi-space-size` / `--min-semi-space-size` (node flags or NODE_OPTIONS)
 * wins.
 */
export function workerExecArgv(
  primaryExecArgv: readonly string[],
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): string[] {
  const args = [...primaryExecArgv];
  const options = nodeOptions.split(/\s+/);
  const given = (name: string): boolean =>
    args.some((flag) => flag.startsWith(name)) || options.some((flag) => flag.startsWith(name));
  if (!given('--max-semi-space-size'))
    args.push(`--max-semi-space-size=${WORKER_MAX_SEMI_SPACE_MB}`);
  if (!given('--min-semi-space-size'))
    args.push(`--min-semi-space-size=${WORKER_MIN_SEMI_SPACE_MB}`);
  return args;
}

/**
 * How workers take new connections from a shared listening socket. By default each worker
 * accepts on it itself and the kernel decides which worker a connection goes to, as Envoy's
 * workers do with their reuse-port listeners: node:cluster's round robin instead has the primary
 * accept every connection and pass it to a worker over IPC, one at a time, each waiting for the
 * worker's acknowledgement, which held a one-worker proxy to about 1,500 new connections a second
 * (BENCHMARKS.md, "New connections"). An operator can choose node's round robin with
 * `NODE_CLUSTER_SCHED_POLICY=rr`.
 */
export function acceptPolicy(env: NodeJS.ProcessEnv = process.env): 'none' | 'rr' {
  return env.NODE_CLUSTER_SCHED_POLICY === 'rr' ? 'rr' : 'none';
}

/**
 * Environment for worker `index` of `workers`. With several workers, `UV_TCP_SINGLE_ACCEPT=1`
 * makes a worker's event loop yield after each connection it accepts (libuv otherwise accepts
 * until the backlog is empty), so a burst of new connections spreads over the workers instead of
 * going to whichever woke first. A lone worker has nobody to yield to and accepts in bursts. An
 * operator's own value wins.
 */
export function workerEnv(
  index: number,
  workers: number,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    FERRY_WORKER_INDEX: String(index),
    ...(workers > 1 && env.UV_TCP_SINGLE_ACCEPT === undefined ? { UV_TCP_SINGLE_ACCEPT: '1' } : {}),
  };
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private config: ProxyConfig | undefined;
  private logLevel: string | undefined;
  private healthcheckFailing = false;
  /**
   * The latest per-cluster state sent to the workers (active health results, outlier
   * ejections), by `type|cluster`, given again to every worker that (re)starts.
   */
  private readonly clusterState = new Map<string, PrimaryMessage>();
  private draining = false;
  private stopping = false;
  /** Set by shutdown(): also given to workers that report ready afterwards. */
  private shutdownDeadlineMs: number | undefined;
  private requestSeq = 0;
  private readonly pendingStats = new Map<number, { waiting: Set<number>; resolve: () => void }>();
  readonly stats = new StatsAggregator();
  /** One per worker process: it holds the series that worker has defined (stats-wire.ts). */
  private readonly statsDecoders = new Map<number, StatsWireDecoder>();
  private readonly exitWaiters = new Set<() => void>();

  constructor(private readonly options: WorkerPoolOptions) {}

  start(): void {
    cluster.schedulingPolicy = acceptPolicy() === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
    cluster.setupPrimary({
      serialization: 'advanced',
      execArgv: workerExecArgv(process.execArgv),
      ...(this.options.args ? { args: [...this.options.args] } : {}),
    });
    for (let i = 0; i < this.options.size; i++) {
      const slot: Slot = {
        index: i,
        worker: undefined,
        ready: false,
        appliedVersion: undefined,
        failures: 0,
        startedAt: 0,
        restartTimer: undefined,
      };
      this.slots.push(slot);
      this.fork(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** Live workers (forked and connected). */
  get liveCount(): number {
    return this.slots.filter((s) => s.worker && s.ready).length;
  }

  /** True when every slot has a live worker running `version`. */
  allApplied(version: string): boolean {
    return this.slots.every((s) => s.worker && s.ready && s.appliedVersion === version);
  }

  setConfig(config: ProxyConfig): void {
    this.config = config;
    this.broadcast({ type: 'config', config });
  }

  /** A cluster's active health-check results (complete; `{}` = none) for every worker. */
  setHostHealth(
    clusterName: string,
    hosts: Readonly<Record<string, 'HEALTHY' | 'UNHEALTHY'>>,
  ): void {
    this.setClusterState(
      { type: 'health', cluster: clusterName, hosts },
      Object.keys(hosts).length === 0,
    );
  }

  /** A cluster's hosts ejected by outlier detection (complete; [] = none) for every worker. */
  setOutlierEjections(clusterName: string, hosts: readonly string[]): void {
    this.setClusterState(
      { type: 'outlier-ejections', cluster: clusterName, hosts },
      hosts.length === 0,
    );
  }

  /** Sends a cluster's state to every worker and keeps it for later ones (`empty`: forgets it). */
  private setClusterState(
    message: Extract<PrimaryMessage, { type: 'health' | 'outlier-ejections' }>,
    empty: boolean,
  ): void {
    const key = `${message.type}|${message.cluster}`;
    if (empty) this.clusterState.delete(key);
    else this.clusterState.set(key, message);
    this.broadcast(message);
  }

  setLogLevel(level: string): void {
    this.logLevel = level;
    this.broadcast({ type: 'log-level', level });
  }

  setHealthcheckFailing(failing: boolean): void {
    this.healthcheckFailing = failing;
    this.broadcast({ type: 'healthcheck', failing });
  }

  /** Every worker reopens its access log files (lines before this land in the old files). */
  reopenLogs(): void {
    this.broadcast({ type: 'reopen-logs' });
  }

  drainListeners(): void {
    this.draining = true;
    this.broadcast({ type: 'drain-listeners' });
  }

  /** Asks every live worker for its stats (bounded by timeoutMs) and returns the merged view. */
  async collectStats(timeoutMs = 1000): Promise<StatsSnapshot> {
    const live = this.slots.filter((s) => s.worker && s.ready);
    if (live.length > 0) {
      const requestId = ++this.requestSeq;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        const waiting = new Set(live.map((s) => s.index));
        const entry = { waiting, resolve: done };
        this.pendingStats.set(requestId, entry);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        for (const s of live) this.send(s, { type: 'stats-request', requestId });
      });
      this.pendingStats.delete(requestId);
    }
    return this.stats.merged();
  }

  /**
   * Graceful stop: every worker drains and exits by itself within `deadlineMs`; stragglers are
   * killed after a grace period. Resolves when all workers are gone.
   */
  async shutdown(deadlineMs: number): Promise<void> {
    this.stopping = true;
    this.shutdownDeadlineMs = deadlineMs;
    for (const s of this.slots) clearTimeout(s.restartTimer);
    // Workers still starting get it when they report ready (their IPC handler is not there yet).
    this.broadcast({ type: 'shutdown', deadlineMs });
    const killTimer = setTimeout(() => this.destroy(), deadlineMs + 2000);
    killTimer.unref();
    await this.allExited();
    clearTimeout(killTimer);
  }

  /** Kills every worker now. Idempotent. */
  destroy(): void {
    this.stopping = true;
    for (const s of this.slots) {
      clearTimeout(s.restartTimer);
      if (s.worker && !s.worker.isDead()) s.worker.process.kill('SIGKILL');
    }
  }

  private allExited(): Promise<void> {
    if (this.slots.every((s) => !s.worker)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.slots.every((s) => !s.worker)) {
          this.exitWaiters.delete(check);
          resolve();
        }
      };
      this.exitWaiters.add(check);
    });
  }

  private broadcast(message: PrimaryMessage): void {
    for (const s of this.slots) if (s.worker && s.ready) this.send(s, message);
  }

  /** Records a worker's stats reply; a reply that cannot be decoded keeps its previous one. */
  private statsFrom(workerId: number, wire: StatsWire): void {
    let decoder = this.statsDecoders.get(workerId);
    if (decoder === undefined) {
      decoder = new StatsWireDecoder();
      this.statsDecoders.set(workerId, decoder);
    }
    try {
      this.stats.update(workerId, decoder.decode(wire));
    } catch (err) {
      this.options.logger.error(
        { worker: workerId, err },
        'worker stats reply could not be decoded; its stats stay at the previous scrape',
      );
    }
  }

  private send(slot: Slot, message: PrimaryMessage): void {
    const worker = slot.worker;
    if (!worker || !worker.isConnected()) return;
    try {
      worker.send(message);
    } catch (err) {
      this.options.logger.warn({ err, worker: slot.index }, 'cannot message worker');
    }
  }

  private fork(slot: Slot): void {
    const worker = cluster.fork(workerEnv(slot.index, this.options.size));
    slot.worker = worker;
    slot.ready = false;
    slot.appliedVersion = undefined;
    slot.startedAt = Date.now();
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) this.onMessage(slot, worker, message);
    });
    worker.on('error', (err) =>
      this.options.logger.warn({ err, worker: slot.index }, 'worker error'),
    );
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
  }

  private onMessage(slot: Slot, worker: Worker, message: WorkerMessage): void {
    if (slot.worker !== worker) return;
    switch (message.type) {
      case 'worker-ready':
        slot.ready = true;
        if (this.shutdownDeadlineMs !== undefined) {
          this.send(slot, { type: 'shutdown', deadlineMs: this.shutdownDeadlineMs });
          break;
        }
        if (this.logLevel) this.send(slot, { type: 'log-level', level: this.logLevel });
        if (this.options.overload)
          this.send(slot, { type: 'overload', config: this.options.overload });
        if (this.healthcheckFailing) this.send(slot, { type: 'healthcheck', failing: true });
        for (const message of this.clusterState.values()) this.send(slot, message);
        if (this.config) this.send(slot, { type: 'config', config: this.config });
        if (this.draining) this.send(slot, { type: 'drain-listeners' });
        break;
      case 'applied':
        slot.appliedVersion = message.version;
        this.options.onApplied?.(slot.index, message.version);
        break;
      case 'apply-failed':
        this.options.logger.error(
          { worker: slot.index, version: message.version, error: message.error },
          'worker failed to apply a config',
        );
        this.options.onApplied?.(slot.index, message.version, message.error);
        break;
      case 'stats': {
        this.statsFrom(worker.id, message.stats);
        const pending = this.pendingStats.get(message.requestId);
        if (pending) {
          pending.waiting.delete(slot.index);
          if (pending.waiting.size === 0) pending.resolve();
        }
        break;
      }
      case 'drained':
        break;
      case 'cluster-traffic':
        this.options.onClusterTraffic?.(message.cluster);
        break;
      case 'outcomes':
        this.options.onOutcomes?.(message.batch);
        break;
      case 'token-lease': {
        const grant = this.options.onTokenLease?.(message.request);
        if (grant !== undefined) this.send(slot, { type: 'token-grant', grant });
        break;
      }
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    this.stats.retire(worker.id);
    this.statsDecoders.delete(worker.id);
    for (const [, pending] of this.pendingStats) {
      pending.waiting.delete(slot.index);
      if (pending.waiting.size === 0) pending.resolve();
    }
    for (const w of [...this.exitWaiters]) w();
    if (this.stopping) return;
    const backoff = this.options.restartBackoff ?? { initialMs: 100, maxMs: 10_000 };
    if (Date.now() - slot.startedAt > STABLE_AFTER_MS) slot.failures = 0;
    const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** slot.failures);
    slot.failures += 1;
    this.options.logger.error(
      { worker: slot.index, code, signal, restart_in_ms: delay },
      'worker exited unexpectedly; restarting it',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping) this.fork(slot);
    }, delay);
  }
}
