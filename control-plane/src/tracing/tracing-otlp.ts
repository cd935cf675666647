/**
 * Starts the control plane's tracing from a validated `TracingConfig`: the OpenTelemetry SDK's
 * tracer provider with the configured sampler (wrapped so pushes follow their apply's decision),
 * a bounded batch processor whose drops are counted, and an OTLP exporter over gRPC or
 * HTTP/protobuf. Registers the AsyncLocalStorage context manager (the apply's context must cross
 * the store's watch delivery, see tracing.ts) and unregisters it on shutdown.
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { processMetrics, type MetricsRegistry } from '../metrics/registry.js';
import { tracingMetrics } from '../metrics/tracing-metrics.js';
import { LinkFollowingSampler } from './sampler-follow-links.js';
import {
  BoundedSpanProcessor,
  CountingSpanExporter,
  type ExportCursor,
} from './span-export-counting.js';
import type { ControlPlaneTracing } from './tracing.js';
import type { SamplerName, TracingConfig } from './tracing-config.js';

const INSTRUMENTATION_SCOPE = '@ferry/control-plane';

export interface StartTracingOptions {
  /** Where the exported/dropped counters go (default: the process registry). */
  readonly metrics?: MetricsRegistry;
  /** Resource attributes besides service.name (e.g. service.version). */
  readonly resource?: Readonly<Record<string, string>>;
}

export function startTracing(
  config: TracingConfig,
  options: StartTracingOptions = {},
): ControlPlaneTracing {
  const metrics = tracingMetrics(options.metrics ?? processMetrics);
  const cursor: ExportCursor = { handed: 0 };
  const exporter = new CountingSpanExporter(createExporter(config), cursor, metrics);
  const batch = new BatchSpanProcessor(exporter, config.batch);
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...options.resource, [ATTR_SERVICE_NAME]: config.serviceName }),
    ),
    sampler: new LinkFollowingSampler(createSampler(config.sampler, config.samplerRatio)),
    spanProcessors: [new BoundedSpanProcessor(batch, cursor, config.batch.maxQueueSize, metrics)],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  let stopped: Promise<void> | undefined;
  return {
    tracer: provider.getTracer(INSTRUMENTATION_SCOPE),
    shutdown: () =>
      (stopped ??= provider.shutdown().finally(() => {
        context.disable();
      })),
  };
}

function createExporter(config: TracingConfig): SpanExporter {
  const timeoutMillis = config.batch.exportTimeoutMillis;
  return config.protocol === 'grpc'
    ? new OtlpGrpcExporter({ url: config.endpoint, timeoutMillis })
    : new OtlpProtoExporter({ url: config.endpoint, timeoutMillis });
}

function createSampler(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}
