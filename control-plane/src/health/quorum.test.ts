import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryToJson, contentVersion, jsonToBinary, sortKeysDeep } from '@ferry/proto';
import type { LeasedEvent, Mutation } from '../store/store.js';
import {
  HEALTH_REPORTS_NAMESPACE,
  NODE_HEALTH_REPORT_TYPE,
  decodeNodeHealthReport,
  encodeNodeHealthReport,
  quorumSettingOf,
  quorumUnhealthy,
  type ClusterView,
} from './quorum.js';
import { HealthOverlay } from './health-overlay.js';

const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const EDS_MESSAGE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
const KEY = 'metadata.filter_metadata["ferry.health_quorum"]';

describe('quorumSettingOf', () => {
  const cases: Array<[string, unknown, unknown]> = [
    ['absent', undefined, { ok: true, value: undefined }],
    ['defaults', {}, { ok: true, value: { unhealthyPercent: 50, minProxies: 1 } }],
    [
      'both set',
      { unhealthy_percent: 0, min_proxies: 3 },
      { ok: true, value: { unhealthyPercent: 0, minProxies: 3 } },
    ],
    [
      'percent 100 is out of range',
      { unhealthy_percent: 100 },
      { ok: false, errors: [`${KEY}.unhealthy_percent: must be a number in [0, 100), got 100`] },
    ],
    [
      'min_proxies must be a positive integer',
      { min_proxies: 1.5 },
      { ok: false, errors: [`${KEY}.min_proxies: must be an integer >= 1, got 1.5`] },
    ],
    [
      'unknown field',
      { quorum: 2 },
      {
        ok: false,
        errors: [`${KEY}.quorum: unknown field (known: unhealthy_percent, min_proxies)`],
      },
    ],
    [
      'not an object',
      'yes',
      {
        ok: false,
        errors: [`${KEY}: must be an object with unhealthy_percent and/or min_proxies`],
      },
    ],
  ];
  for (const [name, setting, expected] of cases) {
    test(name, () => {
      const cluster =
        setting === undefined
          ? { name: 'web' }
          : { name: 'web', metadata: { filter_metadata: { 'ferry.health_quorum': setting } } };
      assert.deepEqual(quorumSettingOf(cluster), expected);
    });
  }
});

describe('quorumUnhealthy', () => {
  const view = (checked: string[], unhealthy: string[]): ClusterView => ({
    checked: new Set(checked),
    unhealthy: new Set(unhealthy),
  });
  const cases: Array<[string, number, number, ClusterView[], string[]]> = [
    ['no reports', 50, 1, [], []],
    ['1 of 1 > 50%', 50, 1, [view(['a'], ['a'])], ['a']],
    ['1 of 2 is not more than 50%', 50, 1, [view(['a'], ['a']), view(['a'], [])], []],
    ['2 of 3 > 50%', 50, 1, [view(['a'], ['a']), view(['a'], ['a']), view(['a'], [])], ['a']],
    ['1 of 2 > 0%', 0, 1, [view(['a'], ['a']), view(['a'], [])], ['a']],
    ['2 of 2 but min_proxies 3', 50, 3, [view(['a'], ['a']), view(['a'], ['a'])], []],
    [
      'counted per endpoint: b is checked by one proxy only',
      50,
      1,
      [view(['a', 'b'], ['b']), view(['a'], ['a'])],
      ['b'],
    ],
  ];
  for (const [name, percent, minProxies, views, expected] of cases) {
    test(name, () => {
      const marked = quorumUnhealthy({ unhealthyPercent: percent, minProxies }, views);
      assert.deepEqual([...marked].sort(), expected);
    });
  }
});

function clusterPut(group: string, name: string, setting: unknown): Mutation {
  const json: Record<string, unknown> = {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
  };
  if (setting !== undefined)
    json.metadata = { filter_metadata: { 'ferry.health_quorum': setting } };
  const bytes = jsonToBinary('envoy.config.cluster.v3.Cluster', json);
  assert.ok(bytes.ok);
  return {
    op: 'put',
    typeUrl: CLUSTER_TYPE,
    group,
    name,
    value: bytes.value,
    version: contentVersion(bytes.value),
  };
}

function reportPut(
  group: string,
  node: string,
  cluster: string,
  checked: string[],
  down: string[],
) {
  const { value } = encodeNodeHealthReport({
    node_id: node,
    group,
    replica: 'r1',
    clusters: [{ cluster, checked, unhealthy: down }],
  });
  return {
    reset: false,
    puts: [{ namespace: HEALTH_REPORTS_NAMESPACE, key: node, holder: 'r1', value }],
    deletes: [],
  } satisfies LeasedEvent;
}

function assignment(cluster: string, endpoints: Array<[number, string?]>) {
  const json = {
    cluster_name: cluster,
    endpoints: [
      {
        lb_endpoints: endpoints.map(([port, status]) => ({
          endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } },
          ...(status ? { health_status: status } : {}),
        })),
      },
    ],
  };
  const bytes = jsonToBinary(EDS_MESSAGE, sortKeysDeep(json));
  assert.ok(bytes.ok);
  const value = Buffer.from(bytes.value);
  return { name: cluster, version: contentVersion(value), value };
}

function statuses(resource: { value: Buffer }): string[] {
  const json = binaryToJson(EDS_MESSAGE, resource.value) as {
    endpoints: { lb_endpoints: { health_status?: string }[] }[];
  };
  return json.endpoints[0]!.lb_endpoints.map((e) => e.health_status ?? 'UNKNOWN');
}

describe('HealthOverlay', () => {
  test('marks what a quorum sees unhealthy, keeps operator statuses, and reverts', () => {
    const overlay = new HealthOverlay();
    assert.deepEqual(overlay.observe(clusterPut('g', 'web', { min_proxies: 2 })), [['g', EDS]]);
    const stored = assignment('web', [[80], [81], [82, 'DRAINING']]);
    assert.equal(overlay.transform('g', EDS, stored), stored, 'nothing reported: served as stored');

    overlay.observeReports(
      reportPut('g', 'n1', 'web', ['10.0.0.1:81', '10.0.0.1:82'], ['10.0.0.1:81', '10.0.0.1:82']),
    );
    assert.equal(overlay.transform('g', EDS, stored), stored, '1 proxy < min_proxies 2');

    assert.deepEqual(
      overlay.observeReports(
        reportPut('g', 'n2', 'web', ['10.0.0.1:81', '10.0.0.1:82'], ['10.0.0.1:81', '10.0.0.1:82']),
      ),
      [['g', EDS]],
    );
    const served = overlay.transform('g', EDS, stored);
    assert.notEqual(served.version, stored.version);
    assert.deepEqual(statuses(served), ['UNKNOWN', 'UNHEALTHY', 'DRAINING']);
    assert.equal(
      overlay.transform('g', EDS, stored),
      served,
      'memoised while inputs are unchanged',
    );
    assert.deepEqual([...overlay.marked('g', 'web')].sort(), ['10.0.0.1:81', '10.0.0.1:82']);

    // Another group with the same cluster name is unaffected.
    assert.equal(overlay.transform('other', EDS, stored), stored);

    // n2's report goes away: 1 of 1 remaining proxies is below min_proxies again.
    assert.deepEqual(overlay.observeReports({ reset: false, puts: [], deletes: ['n2'] }), [
      ['g', EDS],
    ]);
    assert.equal(overlay.transform('g', EDS, stored), stored);

    // A reset (a watch that reconnected) replaces every report: now n1 and n3 see only :81 down.
    const n1 = reportPut('g', 'n1', 'web', ['10.0.0.1:81'], ['10.0.0.1:81']).puts[0]!;
    const n3 = reportPut('g', 'n3', 'web', ['10.0.0.1:81'], ['10.0.0.1:81']).puts[0]!;
    assert.deepEqual(overlay.observeReports({ reset: true, puts: [n1, n3], deletes: [] }), [
      ['g', EDS],
    ]);
    assert.deepEqual([...overlay.marked('g', 'web')], ['10.0.0.1:81']);
    overlay.observeReports({ reset: true, puts: [], deletes: [] });
    assert.deepEqual([...overlay.marked('g', 'web')], []);
  });

  test('report resources an older version stored are ignored', () => {
    const overlay = new HealthOverlay();
    overlay.observe(clusterPut('g', 'web', {}));
    const { value, version } = encodeNodeHealthReport({
      node_id: 'n1',
      group: 'g',
      replica: 'r1',
      clusters: [{ cluster: 'web', checked: ['10.0.0.1:80'], unhealthy: ['10.0.0.1:80'] }],
    });
    const legacy: Mutation = {
      op: 'put',
      typeUrl: NODE_HEALTH_REPORT_TYPE,
      group: 'g',
      name: 'node/n1',
      value,
      version,
    };
    assert.deepEqual(overlay.observe(legacy), []);
    assert.deepEqual([...overlay.marked('g', 'web')], []);
  });

  test('served versions depend only on the store content (equal on every replica)', () => {
    const a = new HealthOverlay();
    const b = new HealthOverlay();
    const cluster = clusterPut('g', 'web', {});
    const reported = reportPut('g', 'n1', 'web', ['10.0.0.1:80'], ['10.0.0.1:80']);
    a.observe(cluster);
    a.observeReports(reported);
    b.observeReports(reported);
    b.observe(cluster);
    const stored = assignment('web', [[80]]);
    assert.equal(a.transform('g', EDS, stored).version, b.transform('g', EDS, stored).version);
    assert.notEqual(a.transform('g', EDS, stored).version, stored.version);
  });

  test('a cluster that stops opting in is served as stored', () => {
    const overlay = new HealthOverlay();
    overlay.observe(clusterPut('g', 'web', {}));
    overlay.observeReports(reportPut('g', 'n1', 'web', ['10.0.0.1:80'], ['10.0.0.1:80']));
    const stored = assignment('web', [[80]]);
    assert.notEqual(overlay.transform('g', EDS, stored), stored);
    assert.deepEqual(overlay.observe(clusterPut('g', 'web', undefined)), [['g', EDS]]);
    assert.equal(overlay.transform('g', EDS, stored), stored);
    assert.deepEqual(
      overlay.observe(clusterPut('g', 'web', undefined)),
      [],
      'no change, no rebuild',
    );
  });

  test('NodeHealthReport round-trips through its proto', () => {
    const report = {
      node_id: 'n1',
      group: 'g',
      replica: 'r1',
      clusters: [{ cluster: 'web', checked: ['a:1', 'b:2'], unhealthy: ['b:2'] }],
    };
    assert.deepEqual(decodeNodeHealthReport(encodeNodeHealthReport(report).value), report);
  });
});
