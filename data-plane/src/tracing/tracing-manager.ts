/**
 * TracingManager: the tracing of one worker. `apply` (ProxyRuntime, on every config) compiles an
 * HcmTracer for every HttpConnectionManager with tracing and gives it the span sink of its export
 * target: the collector cluster's first healthy endpoint, the transport and the service name.
 * Sinks are shared by target and kept across applies while their target is unchanged; a target no
 * config uses any more is retired: it keeps accepting the spans of requests still in flight for a
 * grace period, then flushes and shuts its exporter down. So a config change re-points exporting
 * live without touching requests. Each worker exports its own spans.
 *
 * Counters (through the worker's StatsSink): tracing_spans_exported_total,
 * tracing_spans_dropped_total (queue full, export failed, no collector endpoint).
 */
import { resourceFromAttributes } from '@opentelemetry/resources';
import { formatHostPort, type Logger } from '@ferry/shared';
import type {
  ClusterModel,
  HttpConnectionManagerModel,
  OpenTelemetryProviderModel,
  ProxyConfig,
} from '../config/model.js';
import type { CounterHandle, StatsSink } from '../stats/stats.js';
import type { ClusterRuntime } from '../upstream/cluster-runtime.js';
import { HcmTracer, type SpanSink } from './hcm-tracer.js';
import { createOtlpExporter, type ExportTarget } from './otlp-exporter.js';
import type { RandomSource } from './sampling.js';
import { SpanBatcher, type SpanBatcherOptions, type SpanExportTarget } from './span-batcher.js';
import type { SpanOrigin } from './span.js';

/** The proxy's identity, for the exported resource (service.name default, service.instance.id). */
export interface TracingNode {
  readonly id: string;
  readonly cluster: string;
}

export interface TracingManagerOptions {
  readonly node: TracingNode;
  readonly stats: StatsSink;
  readonly logger: Logger;
  /** Defaults to Math.random. */
  readonly random?: RandomSource;
  /** Defaults to the OTLP exporters (otlp-exporter.ts); tests pass an in-memory one. */
  readonly createExporter?: (target: ExportTarget) => Promise<SpanExportTarget>;
  /** Batching (tests shorten the delay). */
  readonly batching?: Pick<SpanBatcherOptions, 'maxQueueSize' | 'maxBatchSize' | 'scheduleDelayMs'>;
  /** How long a retired target still takes spans of in-flight requests (default 15 s). */
  readonly retireGraceMs?: number;
}

/** The HcmTracers of one config, by HCM model (the objects of that ProxyConfig). */
export interface TracerSet {
  tracerFor(hcm: HttpConnectionManagerModel): HcmTracer | undefined;
}

const NO_TRACERS: TracerSet = { tracerFor: () => undefined };

/** Envoy's OpenTelemetry default when neither service_name nor the node's cluster is set. */
const UNKNOWN_SERVICE = 'unknown_service:ferry-proxy';

interface ExportSlot extends SpanSink {
  readonly key: string;
  readonly batcher: SpanBatcher;
  retireTimer?: NodeJS.Timeout;
}

/** The endpoint exports go to: the first HEALTHY/UNKNOWN endpoint, lowest priority first. */
export function collectorEndpoint(
  cluster: ClusterModel,
): { host: string; port: number } | undefined {
  const localities = [...cluster.localities].sort((a, b) => a.priority - b.priority);
  for (const locality of localities)
    for (const endpoint of locality.endpoints)
      if (endpoint.healthStatus === 'HEALTHY' || endpoint.healthStatus === 'UNKNOWN')
        return { host: endpoint.host, port: endpoint.port };
  return undefined;
}

export class TracingManager {
  readonly #options: TracingManagerOptions;
  readonly #random: RandomSource;
  readonly #dropped: CounterHandle;
  readonly #exported: CounterHandle;
  readonly #onDropped: (count: number) => void;
  #slots = new Map<string, ExportSlot>();
  readonly #retiring = new Set<ExportSlot>();
  #destroyed = false;

  constructor(options: TracingManagerOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#dropped = options.stats.counter('tracing_spans_dropped_total', {});
    this.#exported = options.stats.counter('tracing_spans_exported_total', {});
    this.#onDropped = (count) => this.#dropped.inc(count);
  }

  async apply(
    config: ProxyConfig,
    clusters: ReadonlyMap<string, ClusterRuntime>,
  ): Promise<TracerSet> {
    if (this.#destroyed) return NO_TRACERS;
    const tracers = new Map<HttpConnectionManagerModel, HcmTracer>();
    const next = new Map<string, ExportSlot>();
    for (const listener of config.listeners) {
      const chains = [...listener.filterChains];
      if (listener.defaultFilterChain !== undefined) chains.push(listener.defaultFilterChain);
      for (const chain of chains) {
        const hcm = chain.http;
        const provider = hcm?.tracing?.provider;
        if (hcm?.tracing === undefined || provider === undefined) continue;
        const slot = await this.#slotFor(provider, clusters, config, next);
        tracers.set(hcm, new HcmTracer(hcm.tracing, slot, this.#random, this.#onDropped));
      }
    }
    if (this.#destroyed) {
      for (const slot of next.values()) if (!this.#slots.has(slot.key)) slot.batcher.destroy();
      return NO_TRACERS;
    }
    for (const [key, slot] of this.#slots) if (!next.has(key)) this.#retire(slot);
    this.#slots = next;
    if (tracers.size === 0) return NO_TRACERS;
    return { tracerFor: (hcm) => tracers.get(hcm) };
  }

  async #slotFor(
    provider: OpenTelemetryProviderModel,
    clusters: ReadonlyMap<string, ClusterRuntime>,
    config: ProxyConfig,
    next: Map<string, ExportSlot>,
  ): Promise<ExportSlot | undefined> {
    const cluster =
      clusters.get(provider.clusterName)?.model ?? config.clusters[provider.clusterName];
    const endpoint = cluster === undefined ? undefined : collectorEndpoint(cluster);
    if (cluster === undefined || endpoint === undefined) {
      this.#options.logger.warn(
        { cluster: provider.clusterName },
        'tracing: the collector cluster has no healthy endpoint; sampled spans are dropped',
      );
      return undefined;
    }
    const serviceName =
      provider.serviceName !== ''
        ? provider.serviceName
        : this.#options.node.cluster !== ''
          ? this.#options.node.cluster
          : UNKNOWN_SERVICE;
    const target: ExportTarget = {
      transport: provider.transport,
      host: endpoint.host,
      port: endpoint.port,
      httpPath: provider.httpPath ?? '/v1/traces',
      timeoutMs: provider.timeoutMs,
      headers: provider.headers,
      ...(cluster.tls ? { tls: cluster.tls } : {}),
    };
    const key = JSON.stringify({ target, serviceName });
    const existing = next.get(key) ?? this.#slots.get(key);
    if (existing !== undefined) {
      next.set(key, existing);
      return existing;
    }
    const exporter = await (this.#options.createExporter ?? createOtlpExporter)(
      target,
      this.#options.logger,
    );
    const origin: SpanOrigin = {
      resource: resourceFromAttributes({
        'service.name': serviceName,
        'service.instance.id': this.#options.node.id,
      }),
      scope: { name: 'ferry-proxy' },
    };
    const logger = this.#options.logger;
    let lastErrorLog = 0;
    const batcher = new SpanBatcher({
      exporter,
      ...this.#options.batching,
      onDropped: this.#onDropped,
      onExported: (count) => this.#exported.inc(count),
      onExportError: (error) => {
        // At most one line per 10 s: a collector outage must not flood the log.
        const now = Date.now();
        if (now - lastErrorLog < 10_000) return;
        lastErrorLog = now;
        logger.warn(
          { err: error, collector: formatHostPort(target.host, target.port) },
          'tracing: span export failed; spans dropped',
        );
      },
    });
    const slot: ExportSlot = {
      key,
      batcher,
      origin,
      add: (span) => batcher.add(span),
    };
    next.set(key, slot);
    return slot;
  }

  #retire(slot: ExportSlot): void {
    this.#retiring.add(slot);
    slot.retireTimer = setTimeout(() => {
      this.#retiring.delete(slot);
      void slot.batcher.close();
    }, this.#options.retireGraceMs ?? 15_000);
    slot.retireTimer.unref();
  }

  /** Flushes every exporter (current and retiring) and shuts them down. */
  async close(): Promise<void> {
    const all = [...this.#slots.values(), ...this.#retiring];
    this.#slots = new Map();
    this.#retiring.clear();
    await Promise.all(
      all.map((slot) => {
        if (slot.retireTimer !== undefined) clearTimeout(slot.retireTimer);
        return slot.batcher.close();
      }),
    );
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const slot of [...this.#slots.values(), ...this.#retiring]) {
      if (slot.retireTimer !== undefined) clearTimeout(slot.retireTimer);
      slot.batcher.destroy();
    }
    this.#slots = new Map();
    this.#retiring.clear();
  }
}
