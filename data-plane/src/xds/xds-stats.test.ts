import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { XdsCounters } from './config-source.js';
import { XdsStats } from './xds-stats.js';

test('xDS stats: updates and rejections per type URL, connects, connection and last update', () => {
  const counters: XdsCounters = {
    updates: new Map([
      ['type.googleapis.com/envoy.config.cluster.v3.Cluster', 3],
      ['type.googleapis.com/envoy.config.listener.v3.Listener', 1],
    ]),
    rejections: new Map([['type.googleapis.com/envoy.config.cluster.v3.Cluster', 2]]),
    lastRejection: undefined,
    rejectedResources: new Map(),
    connected: false,
    connects: 4,
  };
  let lastUpdateMs = 0;
  const stats = new XdsStats(counters, () => lastUpdateMs);
  assert.deepEqual(stats.counters(), [
    {
      name: 'xds_update_success_total',
      labels: { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' },
      value: 3,
    },
    {
      name: 'xds_update_success_total',
      labels: { type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener' },
      value: 1,
    },
    {
      name: 'xds_update_rejected_total',
      labels: { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' },
      value: 2,
    },
    { name: 'xds_connects_total', labels: {}, value: 4 },
  ]);
  assert.deepEqual(stats.gauges(), [
    { name: 'xds_connected', labels: {}, value: 0 },
    { name: 'xds_last_update_timestamp_seconds', labels: {}, value: 0 },
  ]);
  counters.connected = true;
  lastUpdateMs = 1_700_000_000_999;
  const rejected = { name: 'api', version: 'v2', errors: ['bad'], at: 'now', json: undefined };
  counters.rejectedResources.set(
    'type.googleapis.com/envoy.config.listener.v3.Listener',
    new Map([['api', rejected]]),
  );
  assert.deepEqual(stats.gauges(), [
    { name: 'xds_connected', labels: {}, value: 1 },
    { name: 'xds_last_update_timestamp_seconds', labels: {}, value: 1_700_000_000 },
    {
      name: 'xds_rejected_resources',
      labels: { type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener' },
      value: 1,
    },
  ]);
});
