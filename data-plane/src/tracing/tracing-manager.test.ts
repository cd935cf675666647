import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@ferry/shared';
import type { ClusterModel, HttpConnectionManagerModel, ProxyConfig } from '../config/model.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import type { ExportTarget } from './otlp-exporter.js';
import { TracingManager } from './tracing-manager.js';

function config(collectorPort: number, serviceName: string): ProxyConfig {
  const hcm = {
    tracing: {
      clientSamplingPercent: 100,
      randomSamplingPercent: 100,
      overallSamplingPercent: 100,
      spawnUpstreamSpan: true,
      maxPathTagLength: 256,
      customTags: [],
      provider: {
        transport: 'grpc',
        clusterName: 'otel',
        timeoutMs: 1000,
        serviceName,
        headers: [],
      },
    },
  } as unknown as HttpConnectionManagerModel;
  const otel = {
    name: 'otel',
    localities: [
      {
        priority: 0,
        endpoints: [
          { host: '10.0.0.1', port: 1, healthStatus: 'UNHEALTHY' },
          { host: '127.0.0.1', port: collectorPort, healthStatus: 'UNKNOWN' },
        ],
      },
    ],
  } as unknown as ClusterModel;
  return {
    version: `${collectorPort}-${serviceName}`,
    listeners: [
      {
        name: 'l',
        address: { host: '127.0.0.1', port: 0 },
        filterChains: [{ http: hcm }],
        perConnectionBufferLimitBytes: 0,
      },
    ],
    routeConfigs: {},
    clusters: { otel },
  } as unknown as ProxyConfig;
}

describe('TracingManager', () => {
  test('re-points the exporter when the collector or service name changes; close shuts all down', async () => {
    const targets: ExportTarget[] = [];
    let shutdowns = 0;
    const manager = new TracingManager({
      node: { id: 'node-1', cluster: 'edge' },
      stats: new MemoryStatsSink(),
      logger: createLogger('test', 'silent'),
      createExporter: (target) => {
        targets.push(target);
        return Promise.resolve({
          export: (_spans, done) => done({ code: 0 }),
          shutdown: () => {
            shutdowns++;
            return Promise.resolve();
          },
        });
      },
    });
    const first = config(4317, '');
    const tracers = await manager.apply(first, new Map());
    assert.ok(tracers.tracerFor(first.listeners[0]!.filterChains[0]!.http!));
    assert.deepEqual(
      targets.map((t) => `${t.host}:${t.port}`),
      ['127.0.0.1:4317'],
      'the first healthy endpoint',
    );
    await manager.apply(config(4317, ''), new Map());
    assert.equal(targets.length, 1, 'same target: the exporter is kept');
    await manager.apply(config(4318, ''), new Map());
    await manager.apply(config(4318, 'renamed'), new Map());
    assert.equal(targets.length, 3);
    assert.equal(shutdowns, 0, 'retired exporters wait for in-flight requests');
    await manager.close();
    assert.equal(shutdowns, 3);
    manager.destroy();
  });
});
