/**
 * Owns the cluster runtimes of one worker, keyed by name. `apply` builds the next set: an
 * unchanged cluster keeps its runtime object; a changed one gets a new runtime that inherits the
 * name-scoped state (circuit breakers, stats) and the pools of hosts that still exist; a removed
 * one is retired (pools close once their in-flight requests end).
 */
import type { Logger } from '@ferry/shared';
import type { ClusterModel } from '../config/model.js';
import type { StatsSink } from '../stats/stats.js';
import { CircuitBreakerState } from './circuit-breaker.js';
import { ClusterRuntime, type ClusterShared } from './cluster-runtime.js';
import { ClusterStats } from './cluster-stats.js';

/** How long apply waits for a new DNS cluster's first resolution. */
const DNS_WARMUP_MS = 5000;

export class ClusterManager {
  readonly #sink: StatsSink;
  readonly #logger: Logger;
  #clusters: ReadonlyMap<string, ClusterRuntime> = new Map();
  readonly #modelJson = new Map<string, string>();
  readonly #shared = new Map<string, ClusterShared>();
  #destroyed = false;

  constructor(sink: StatsSink, logger: Logger) {
    this.#sink = sink;
    this.#logger = logger;
  }

  /** The current set (requests capture this map when they start). */
  get clusters(): ReadonlyMap<string, ClusterRuntime> {
    return this.#clusters;
  }

  async apply(
    models: Readonly<Record<string, ClusterModel>>,
  ): Promise<ReadonlyMap<string, ClusterRuntime>> {
    const next = new Map<string, ClusterRuntime>();
    const started: Promise<void>[] = [];
    const replaced: [ClusterRuntime, ClusterRuntime | undefined][] = [];
    for (const [name, model] of Object.entries(models)) {
      const json = JSON.stringify(model);
      const previous = this.#clusters.get(name);
      if (previous !== undefined && this.#modelJson.get(name) === json) {
        next.set(name, previous);
        continue;
      }
      let shared = this.#shared.get(name);
      if (shared === undefined) {
        shared = { circuit: new CircuitBreakerState(), stats: new ClusterStats(this.#sink, name) };
        this.#shared.set(name, shared);
      }
      const runtime = new ClusterRuntime(model, shared, this.#logger);
      this.#modelJson.set(name, json);
      started.push(runtime.start(previous, DNS_WARMUP_MS));
      next.set(name, runtime);
      if (previous !== undefined) replaced.push([previous, runtime]);
    }
    for (const [name, runtime] of this.#clusters) {
      if (!next.has(name)) {
        replaced.push([runtime, undefined]);
        this.#modelJson.delete(name);
      }
    }
    await Promise.all(started);
    if (this.#destroyed) {
      for (const runtime of next.values()) runtime.destroy();
      return next;
    }
    this.#clusters = next;
    for (const [old, successor] of replaced) old.retire(successor);
    return next;
  }

  /** Closes every pool gracefully (in-flight requests finish) and stops DNS timers. */
  close(): void {
    for (const runtime of this.#clusters.values()) runtime.retire(undefined);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const runtime of this.#clusters.values()) runtime.destroy();
  }
}
