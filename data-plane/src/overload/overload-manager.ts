/**
 * Envoy's overload manager in a worker (docs/architecture.md, "Overload manager"): every
 * refresh_interval each resource monitor reports a pressure (0..1), and an action is active while
 * any of its triggers' pressure is at or above the threshold. Each worker runs its own: a worker
 * is a process with its own V8 heap and heap limit, the thing that dies when memory runs out.
 *
 * fixed_heap's "heap" is the worker's heap in use: V8's used heap plus external memory (Buffers
 * and other off-heap allocations V8 tracks), the closest a Node process has to the allocated
 * bytes Envoy reads from its allocator.
 */
import type { GaugeHandle, StatsSink } from '../stats/stats.js';
import { STOP_ACCEPTING_REQUESTS, type OverloadModel } from '../config/translate-overload.js';

/**
 * What the request path reads (one boolean per request): the connection manager answers new
 * requests with 503 while `stopAcceptingRequests` is set.
 */
export const overloadState = { stopAcceptingRequests: false };

export type HeapSampler = () => number;

/** The worker's heap in use, in bytes (see the module comment). */
export function workerHeapBytes(): number {
  const memory = process.memoryUsage();
  return memory.heapUsed + memory.external;
}

interface MonitorState {
  readonly maxBytes: number;
  readonly pressureGauge: GaugeHandle;
  pressure: number;
}

interface ActionState {
  readonly triggers: readonly { readonly monitor: MonitorState; readonly threshold: number }[];
  readonly activeGauge: GaugeHandle;
  readonly scaleGauge: GaugeHandle;
}

export class OverloadManager {
  readonly #model: OverloadModel;
  readonly #sample: HeapSampler;
  readonly #state: { stopAcceptingRequests: boolean };
  readonly #monitors: MonitorState[] = [];
  readonly #stopRequests: ActionState | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    model: OverloadModel,
    sink: StatsSink,
    processName: string,
    sample: HeapSampler = workerHeapBytes,
    state: { stopAcceptingRequests: boolean } = overloadState,
  ) {
    this.#model = model;
    this.#sample = sample;
    this.#state = state;
    const byName = new Map<string, MonitorState>();
    for (const m of model.monitors) {
      const monitor: MonitorState = {
        maxBytes: m.maxHeapSizeBytes,
        pressureGauge: sink.gauge('overload_pressure', { monitor: m.name, process: processName }),
        pressure: 0,
      };
      byName.set(m.name, monitor);
      this.#monitors.push(monitor);
    }
    const action = model.actions.find((a) => a.name === STOP_ACCEPTING_REQUESTS);
    if (action) {
      const labels = { action: action.name, process: processName };
      this.#stopRequests = {
        triggers: action.triggers.map((t) => ({
          monitor: byName.get(t.monitor)!,
          threshold: t.threshold,
        })),
        activeGauge: sink.gauge('overload_active', labels),
        scaleGauge: sink.gauge('overload_scale_percent', labels),
      };
    }
  }

  /** Samples once at once, then every refresh_interval until stop(). */
  start(): void {
    this.refresh();
    this.#timer = setInterval(() => this.refresh(), this.#model.refreshIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#state.stopAcceptingRequests = false;
  }

  /** One refresh: sample the monitors, then update every action. */
  refresh(): void {
    if (this.#monitors.length > 0) {
      const heap = this.#sample();
      for (const m of this.#monitors) {
        m.pressure = heap / m.maxBytes;
        // Envoy's gauge: the pressure as a whole percent.
        m.pressureGauge.set(Math.floor(m.pressure * 100));
      }
    }
    const action = this.#stopRequests;
    if (!action) return;
    const active = action.triggers.some((t) => t.monitor.pressure >= t.threshold);
    this.#state.stopAcceptingRequests = active;
    action.activeGauge.set(active ? 1 : 0);
    action.scaleGauge.set(active ? 100 : 0);
  }
}
