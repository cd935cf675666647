import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from '../metrics/registry.js';
import { apiMetrics } from '../metrics/api-metrics.js';
import { MemoryStore } from '../store/store-memory.js';
import { cluster } from '../validation/test-fixtures.js';
import { ManagementService } from './management-service.js';

function series(registry: MetricsRegistry): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of registry.render().split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, value] = line.split(' ');
    values[name!] = Number(value);
  }
  return values;
}

describe('apply outcome and validation failure counters', () => {
  test('each outcome is counted once per apply (HTTP and gRPC share the service)', async () => {
    const registry = new MetricsRegistry();
    const store = new MemoryStore();
    const service = new ManagementService({ store, metrics: apiMetrics(registry) });
    await service.apply({ documents: [cluster('c1')] });
    await service.apply({ documents: [cluster('c1')] });
    await service.apply({ documents: [cluster('c2')], dryRun: true });
    await assert.rejects(service.apply({ documents: [{ ...cluster('c3'), bogus: 1 }] }));
    await assert.rejects(service.apply({ documents: [cluster('c4')], expectedRevision: 99 }));
    await assert.rejects(service.apply({ documents: [] }));
    const viewer = { name: 'ro', role: 'viewer', groups: ['default'], via: 'token' } as const;
    await assert.rejects(service.apply({ documents: [cluster('c5')] }, viewer));
    await assert.rejects(
      service.delete({ resources: [{ typeUrl: String(cluster('c1')['@type']), name: 'nope' }] }),
    );
    assert.deepEqual(series(registry), {
      'ferry_api_applies_total{outcome="applied"}': 1,
      'ferry_api_applies_total{outcome="unchanged"}': 1,
      'ferry_api_applies_total{outcome="dry_run"}': 1,
      'ferry_api_applies_total{outcome="invalid"}': 2,
      'ferry_api_validation_failures_total{operation="apply"}': 1,
      'ferry_api_applies_total{outcome="conflict"}': 1,
      'ferry_api_applies_total{outcome="forbidden"}': 1,
    });
    await store.close();
  });
});
