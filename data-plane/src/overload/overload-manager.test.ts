import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBootstrap } from '../config/bootstrap.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { OverloadManager } from './overload-manager.js';
import type { OverloadModel } from '../config/translate-overload.js';

const BASE = `
node: { id: n1, cluster: c }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
`;

function load(overload: string) {
  return loadBootstrap(BASE + overload, 'bootstrap.yaml');
}

const VALID = `
overload_manager:
  refresh_interval: 0.25s
  resource_monitors:
  - name: envoy.resource_monitors.fixed_heap
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig
      max_heap_size_bytes: 1073741824
  actions:
  - name: envoy.overload_actions.stop_accepting_requests
    triggers:
    - name: envoy.resource_monitors.fixed_heap
      threshold: { value: 0.95 }
`;

describe('bootstrap overload_manager', () => {
  test('fixed_heap with a threshold stop_accepting_requests is translated', () => {
    const result = load(VALID);
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
    assert.deepEqual(result.value.overload, {
      refreshIntervalMs: 250,
      monitors: [{ name: 'envoy.resource_monitors.fixed_heap', maxHeapSizeBytes: 1073741824 }],
      actions: [
        {
          name: 'envoy.overload_actions.stop_accepting_requests',
          triggers: [{ monitor: 'envoy.resource_monitors.fixed_heap', threshold: 0.95 }],
        },
      ],
    });
  });

  test('absent: no overload model', () => {
    const result = load('');
    assert.ok(result.ok);
    assert.equal(result.value.overload, undefined);
  });

  const rejected: Array<[string, string, RegExp]> = [
    [
      'a scaled trigger',
      VALID.replace(
        'threshold: { value: 0.95 }',
        'scaled: { scaling_threshold: 0.8, saturation_threshold: 0.95 }',
      ),
      /overload_manager\.actions\[0\]\.triggers\[0\]\.scaled: scaled triggers are not supported/,
    ],
    [
      'another resource monitor',
      VALID.replace(
        /resource_monitors:[\s\S]*?actions:/,
        `resource_monitors:
  - name: envoy.resource_monitors.injected_resource
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.injected_resource.v3.InjectedResourceConfig
      filename: /tmp/x
  actions:`,
      ),
      /overload_manager\.resource_monitors\[0\]\.name: resource monitor "envoy\.resource_monitors\.injected_resource" is not supported/,
    ],
    [
      'another action',
      VALID.replace(
        'envoy.overload_actions.stop_accepting_requests',
        'envoy.overload_actions.disable_http_keepalive',
      ),
      /overload_manager\.actions\[0\]\.name: overload action "envoy\.overload_actions\.disable_http_keepalive" is not supported/,
    ],
    [
      'a trigger on an unknown monitor',
      VALID.replace(
        '    - name: envoy.resource_monitors.fixed_heap',
        '    - name: envoy.resource_monitors.global_downstream_max_connections',
      ),
      /overload_manager\.actions\[0\]\.triggers\[0\]\.name: unknown resource monitor/,
    ],
    [
      'load shed points',
      VALID +
        `  loadshed_points:
  - name: envoy.load_shed_points.tcp_listener_accept
    triggers:
    - name: envoy.resource_monitors.fixed_heap
      threshold: { value: 0.9 }
`,
      /overload_manager\.loadshed_points: load shed points are not supported/,
    ],
  ];
  for (const [name, yaml, error] of rejected) {
    test(`NACKed: ${name}`, () => {
      const result = load(yaml);
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.errors.join('\n'), error);
    });
  }
});

const MODEL: OverloadModel = {
  refreshIntervalMs: 1000,
  monitors: [{ name: 'envoy.resource_monitors.fixed_heap', maxHeapSizeBytes: 1000 }],
  actions: [
    {
      name: 'envoy.overload_actions.stop_accepting_requests',
      triggers: [{ monitor: 'envoy.resource_monitors.fixed_heap', threshold: 0.9 }],
    },
  ],
};

describe('OverloadManager', () => {
  test('the action is active while pressure >= threshold, with Envoy stats', () => {
    let heap = 500;
    const state = { stopAcceptingRequests: false };
    const sink = new MemoryStatsSink();
    const manager = new OverloadManager(MODEL, sink, 'worker-0', () => heap, state);
    const gauge = (name: string): number | undefined =>
      sink.snapshot().gauges.find((g) => g.name === name)?.value;

    manager.refresh();
    assert.equal(state.stopAcceptingRequests, false);
    assert.equal(gauge('overload_pressure'), 50);
    assert.equal(gauge('overload_active'), 0);

    heap = 900; // exactly the threshold: Envoy's trigger fires at >=
    manager.refresh();
    assert.equal(state.stopAcceptingRequests, true);
    assert.equal(gauge('overload_pressure'), 90);
    assert.equal(gauge('overload_active'), 1);
    assert.equal(gauge('overload_scale_percent'), 100);
    assert.deepEqual(sink.snapshot().gauges.find((g) => g.name === 'overload_active')?.labels, {
      action: 'envoy.overload_actions.stop_accepting_requests',
      process: 'worker-0',
    });

    heap = 899;
    manager.refresh();
    assert.equal(state.stopAcceptingRequests, false);
    assert.equal(gauge('overload_active'), 0);

    heap = 5000;
    manager.refresh();
    assert.equal(state.stopAcceptingRequests, true);
    manager.stop();
    assert.equal(state.stopAcceptingRequests, false, 'stopping releases the action');
  });
});
