import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointModel, HealthCheckFilterModel, HealthStatus } from '../../../config/model.js';
import {
  HealthCheckFilter,
  ServerHealthState,
  countMembership,
  type ClusterMembership,
} from './health-check-filter.js';
import { RequestHeaderMap } from '../../../http/header-map.js';

function model(extra: Partial<HealthCheckFilterModel> = {}): HealthCheckFilterModel {
  return {
    passThroughMode: false,
    headers: [
      {
        name: ':path',
        kind: 'string',
        string: { kind: 'exact', value: '/healthz', ignoreCase: false },
        invert: false,
        treatMissingAsEmpty: false,
      },
    ],
    clusterMinHealthyPercentages: {},
    ...extra,
  };
}

function request(path: string, headers: Record<string, string> = {}): RequestHeaderMap {
  const map = new RequestHeaderMap('GET', path, 'proxy.local', 'http', 'HTTP/1.1');
  for (const [name, value] of Object.entries(headers)) map.append(name, value);
  return map;
}

const noClusters = (): ClusterMembership | undefined => undefined;

test('matching: every header matcher, pseudo-headers included', () => {
  const filter = new HealthCheckFilter(
    model({
      headers: [
        ...model().headers,
        { name: 'x-lb', kind: 'present', present: true, invert: false, treatMissingAsEmpty: false },
        {
          name: ':method',
          kind: 'string',
          string: { kind: 'exact', value: 'GET', ignoreCase: false },
          invert: false,
          treatMissingAsEmpty: false,
        },
      ],
    }),
    new ServerHealthState(),
  );
  assert.equal(filter.matches(request('/healthz', { 'x-lb': '1' })), true);
  assert.equal(filter.matches(request('/healthz')), false, 'x-lb missing');
  assert.equal(filter.matches(request('/healthz?x=1', { 'x-lb': '1' })), false, ':path has query');
  assert.equal(filter.matches(request('/other', { 'x-lb': '1' })), false);
  const everything = new HealthCheckFilter(model({ headers: [] }), new ServerHealthState());
  assert.equal(everything.matches(request('/anything')), true, 'no matchers: every request');
});

test('not pass-through: 200 when healthy, 503 LH when failing, others continue', () => {
  const state = new ServerHealthState();
  const filter = new HealthCheckFilter(model(), state);
  assert.deepEqual(filter.evaluate(request('/healthz'), noClusters), {
    status: 200,
    failedLocalHealthCheck: false,
  });
  assert.equal(filter.evaluate(request('/app'), noClusters), undefined);
  state.failing = true;
  assert.deepEqual(filter.evaluate(request('/healthz'), noClusters), {
    status: 503,
    failedLocalHealthCheck: true,
  });
  assert.equal(filter.evaluate(request('/app'), noClusters), undefined);
  state.failing = false;
  assert.equal(filter.evaluate(request('/healthz'), noClusters)?.status, 200);
});

test('pass-through: forwarded while healthy, 503 locally while failing', () => {
  const state = new ServerHealthState();
  const filter = new HealthCheckFilter(model({ passThroughMode: true }), state);
  assert.equal(filter.evaluate(request('/healthz'), noClusters), undefined);
  state.failing = true;
  assert.deepEqual(filter.evaluate(request('/healthz'), noClusters), {
    status: 503,
    failedLocalHealthCheck: true,
  });
});

test('cluster_min_healthy_percentages, as Envoy counts membership', () => {
  const clusters: Record<string, ClusterMembership> = {
    half: { total: 4, available: 2 },
    empty: { total: 0, available: 0 },
  };
  const lookup = (name: string): ClusterMembership | undefined => clusters[name];
  const table: Array<[Record<string, number>, number]> = [
    [{ half: 50 }, 200],
    [{ half: 51 }, 503],
    [{ missing: 0 }, 503],
    [{ empty: 0 }, 200],
    [{ empty: 1 }, 503],
    [{ half: 10, empty: 0 }, 200],
  ];
  for (const [minimums, status] of table) {
    const filter = new HealthCheckFilter(
      model({ clusterMinHealthyPercentages: minimums }),
      new ServerHealthState(),
    );
    assert.equal(
      filter.evaluate(request('/healthz'), lookup)?.status,
      status,
      JSON.stringify(minimums),
    );
  }
});

test('countMembership: UNKNOWN, HEALTHY and DEGRADED hosts are available', () => {
  const endpoint = (healthStatus: HealthStatus): EndpointModel => ({
    host: '127.0.0.1',
    port: 1,
    weight: 1,
    healthStatus,
    hostname: '',
  });
  const statuses: HealthStatus[] = [
    'UNKNOWN',
    'HEALTHY',
    'DEGRADED',
    'UNHEALTHY',
    'DRAINING',
    'TIMEOUT',
  ];
  assert.deepEqual(countMembership(statuses.map(endpoint)), { total: 6, available: 3 });
});
