import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tracingConfig, type TracingFlags } from './tracing-config.js';

type Env = Record<string, string>;

interface Case {
  readonly name: string;
  readonly env?: Env;
  readonly flags?: TracingFlags;
  /** undefined: tracing off. */
  readonly endpoint?: string;
  readonly protocol?: 'grpc' | 'http/protobuf';
  readonly error?: RegExp;
}

const CASES: readonly Case[] = [
  { name: 'nothing configured: off' },
  {
    name: 'sampler settings alone do not turn tracing on',
    env: { OTEL_TRACES_SAMPLER: 'always_on' },
  },
  {
    name: 'generic endpoint, default protocol http/protobuf: v1/traces appended',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' },
    endpoint: 'http://collector:4318/v1/traces',
    protocol: 'http/protobuf',
  },
  {
    name: 'generic endpoint with a path: v1/traces appended to the path',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector/otlp/' },
    endpoint: 'https://collector/otlp/v1/traces',
  },
  {
    name: 'signal-specific endpoint is used as is and wins over the generic one',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:9999/custom',
    },
    endpoint: 'http://b:9999/custom',
  },
  {
    name: 'grpc from the environment: host and port only',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    endpoint: 'http://c:4317',
    protocol: 'grpc',
  },
  {
    name: 'the traces protocol wins over the generic protocol',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
    },
    endpoint: 'http://c:4317',
    protocol: 'grpc',
  },
  {
    name: 'flag endpoint without a path, http: v1/traces appended',
    flags: { otlpEndpoint: 'http://127.0.0.1:4318', otlpProtocol: 'http' },
    endpoint: 'http://127.0.0.1:4318/v1/traces',
    protocol: 'http/protobuf',
  },
  {
    name: 'flag endpoint with a path is used as is',
    flags: { otlpEndpoint: 'http://127.0.0.1:4318/x/traces' },
    endpoint: 'http://127.0.0.1:4318/x/traces',
  },
  {
    name: 'flags override the environment',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    },
    flags: { otlpEndpoint: '127.0.0.1:4317', otlpProtocol: 'grpc' },
    endpoint: 'http://127.0.0.1:4317',
    protocol: 'grpc',
  },
  {
    name: 'OTEL_TRACES_EXPORTER=none turns an environment endpoint off',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_TRACES_EXPORTER: 'none' },
  },
  {
    name: 'OTEL_SDK_DISABLED=true turns an environment endpoint off',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_SDK_DISABLED: 'true' },
  },
  {
    name: 'an explicit --otlp-endpoint wins over OTEL_TRACES_EXPORTER=none',
    env: { OTEL_TRACES_EXPORTER: 'none' },
    flags: { otlpEndpoint: 'http://flag:4318' },
    endpoint: 'http://flag:4318/v1/traces',
  },
  {
    name: 'an empty variable counts as unset',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ' ' },
  },
  {
    name: 'unsupported protocol',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    error: /^OTEL_EXPORTER_OTLP_PROTOCOL: "http\/json" is not supported/,
  },
  {
    name: 'bad --otlp-protocol',
    flags: { otlpEndpoint: 'http://x', otlpProtocol: 'udp' },
    error: /^--otlp-protocol: expected grpc or http, got "udp"/,
  },
  {
    name: 'endpoint that is not http(s)',
    flags: { otlpEndpoint: 'ftp://x:21' },
    error: /^--otlp-endpoint: "ftp:\/\/x:21" must be an http/,
  },
  {
    name: 'endpoint that is not a URL',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[bad' },
    error: /^OTEL_EXPORTER_OTLP_ENDPOINT: "http:\/\/\[bad" is not a URL/,
  },
  {
    name: 'unsupported exporter',
    env: { OTEL_TRACES_EXPORTER: 'zipkin' },
    error: /^OTEL_TRACES_EXPORTER: "zipkin" is not supported/,
  },
  {
    name: 'unsupported sampler',
    env: { OTEL_TRACES_SAMPLER: 'jaeger_remote' },
    error: /^OTEL_TRACES_SAMPLER: "jaeger_remote" is not supported/,
  },
  {
    name: 'ratio out of range',
    env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
    error: /^OTEL_TRACES_SAMPLER_ARG: expected a ratio 0..1, got "1.5"/,
  },
  {
    name: 'queue size not a positive integer',
    env: { OTEL_BSP_MAX_QUEUE_SIZE: '0' },
    error: /^OTEL_BSP_MAX_QUEUE_SIZE: expected a positive integer, got "0"/,
  },
  {
    name: 'batch larger than the queue',
    env: { OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' },
    error: /^OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 20 exceeds OTEL_BSP_MAX_QUEUE_SIZE 10/,
  },
];

describe('tracingConfig', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const result = tracingConfig(c.env ?? {}, c.flags ?? {});
      if (c.error) {
        assert.equal(result.ok, false);
        if (!result.ok) assert.match(result.errors.join('\n'), c.error);
        return;
      }
      assert.ok(result.ok, result.ok ? '' : result.errors.join('; '));
      assert.equal(result.value?.endpoint, c.endpoint);
      if (c.protocol) assert.equal(result.value?.protocol, c.protocol);
    });
  }

  test('defaults: service name, parent-based always-on sampler, batch queue', () => {
    const result = tracingConfig({}, { otlpEndpoint: 'http://x:4318' });
    assert.ok(result.ok);
    assert.deepEqual(result.value, {
      endpoint: 'http://x:4318/v1/traces',
      protocol: 'http/protobuf',
      serviceName: 'ferry-control-plane',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      batch: {
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 5000,
        exportTimeoutMillis: 30000,
      },
    });
  });

  test('service name, ratio sampler and batch settings from the environment', () => {
    const result = tracingConfig(
      {
        OTEL_SERVICE_NAME: 'cp-eu',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_BSP_MAX_QUEUE_SIZE: '100',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_BSP_EXPORT_TIMEOUT: '1000',
      },
      { otlpEndpoint: 'http://x:4317', otlpProtocol: 'grpc' },
    );
    assert.ok(result.ok);
    assert.equal(result.value?.serviceName, 'cp-eu');
    assert.equal(result.value?.sampler, 'parentbased_traceidratio');
    assert.equal(result.value?.samplerRatio, 0.25);
    assert.deepEqual(result.value?.batch, {
      maxQueueSize: 100,
      maxExportBatchSize: 50,
      scheduledDelayMillis: 200,
      exportTimeoutMillis: 1000,
    });
  });

  test('every problem is reported at once', () => {
    const result = tracingConfig(
      { OTEL_TRACES_SAMPLER: 'nope', OTEL_BSP_SCHEDULE_DELAY: 'soon' },
      { otlpEndpoint: 'ftp://x', otlpProtocol: 'udp' },
    );
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.errors.length, 4);
  });
});
