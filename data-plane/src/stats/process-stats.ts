/**
 * Process gauges every ferry-proxy process (the primary and each worker) reports, labelled
 * `process` ("primary", "worker-N"; bounded by --concurrency): memory and event-loop delay.
 * Event-loop delay comes from perf_hooks.monitorEventLoopDelay (a libuv timer sampling every
 * RESOLUTION_MS); each snapshot reports p50/p99/max over the time since the previous snapshot
 * (a scrape), then starts a new window, so a stall shows up in the next scrape and then ages out.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { StatsSnapshot } from './stats.js';

const RESOLUTION_MS = 10;

type Gauge = StatsSnapshot['gauges'][number];

export class ProcessStats {
  readonly #labels: Readonly<Record<string, string>>;
  readonly #delay: IntervalHistogram;
  #closed = false;

  constructor(processName: string) {
    this.#labels = { process: processName };
    this.#delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#delay.enable();
  }

  /** The process gauges now; starts a new event-loop delay window. */
  gauges(): Gauge[] {
    const memory = process.memoryUsage();
    const labels = this.#labels;
    const delay = this.#delay;
    // The histogram is in nanoseconds; with no sample yet (a fresh window) it reports 0s.
    const ms = (ns: number): number => (delay.count > 0 ? Math.round(ns / 1e3) / 1e3 : 0);
    const out: Gauge[] = [
      { name: 'process_resident_memory_bytes', labels, value: memory.rss },
      { name: 'process_heap_used_bytes', labels, value: memory.heapUsed },
      { name: 'process_heap_total_bytes', labels, value: memory.heapTotal },
      { name: 'event_loop_delay_p50_ms', labels, value: ms(delay.percentile(50)) },
      { name: 'event_loop_delay_p99_ms', labels, value: ms(delay.percentile(99)) },
      { name: 'event_loop_delay_max_ms', labels, value: ms(delay.max) },
    ];
    delay.reset();
    return out;
  }

  /** Stops sampling. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#delay.disable();
  }
}
