import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sequence } from '../router/route-fixtures.js';
import type { LoadBalancer, PickContext } from './load-balancer.js';
import { createLoadBalancer } from './load-balancer-factory.js';
import { endpoint, lbCluster, locality } from './load-balancer-fixtures.js';

const idle: PickContext = { activeRequests: () => 0 };

function counts(lb: LoadBalancer, picks: number, ctx: PickContext = idle): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const key = lb.pick(ctx)?.key ?? 'none';
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

const weighted123 = [
  locality([
    endpoint('10.0.0.1', 80, { weight: 1 }),
    endpoint('10.0.0.2', 80, { weight: 2 }),
    endpoint('10.0.0.3', 80, { weight: 3 }),
  ]),
];

describe('ROUND_ROBIN', () => {
  test('weights 1:2:3 over 600 picks give exactly 100/200/300', () => {
    const lb = createLoadBalancer(lbCluster('ROUND_ROBIN', weighted123));
    assert.deepEqual(counts(lb, 600), {
      '10.0.0.1:80': 100,
      '10.0.0.2:80': 200,
      '10.0.0.3:80': 300,
    });
  });
  test('weighted picks are interleaved, not bursts', () => {
    const lb = createLoadBalancer(lbCluster('ROUND_ROBIN', weighted123));
    const first6 = Array.from({ length: 6 }, () => lb.pick(idle)!.key.slice(7, 8));
    assert.deepEqual(first6, ['3', '2', '3', '1', '2', '3']);
  });
  test('equal weights rotate from a random start', () => {
    const lb = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [locality([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)])]),
      { random: () => 0.5 },
    );
    assert.deepEqual(
      Array.from({ length: 4 }, () => lb.pick(idle)!.host),
      ['b', 'c', 'a', 'b'],
    );
  });
  test('IPv6 keys are bracketed', () => {
    const lb = createLoadBalancer(lbCluster('ROUND_ROBIN', [locality([endpoint('::1', 8080)])]));
    assert.equal(lb.pick(idle)?.key, '[::1]:8080');
  });
  test('no hosts → undefined', () => {
    assert.equal(createLoadBalancer(lbCluster('ROUND_ROBIN', [])).pick(idle), undefined);
  });
});

describe('RANDOM', () => {
  test('weighted: a uniform sequence gives exact proportions', () => {
    const lb = createLoadBalancer(lbCluster('RANDOM', weighted123), {
      random: sequence(Array.from({ length: 600 }, (_, i) => i / 600)),
    });
    assert.deepEqual(counts(lb, 600), {
      '10.0.0.1:80': 100,
      '10.0.0.2:80': 200,
      '10.0.0.3:80': 300,
    });
  });
  test('unweighted: index from the random value', () => {
    const lb = createLoadBalancer(
      lbCluster('RANDOM', [locality([endpoint('a', 1), endpoint('b', 1)])]),
      {
        random: sequence([0.1, 0.9, 0.49, 0.5]),
      },
    );
    assert.deepEqual(
      Array.from({ length: 4 }, () => lb.pick(idle)!.host),
      ['a', 'b', 'a', 'b'],
    );
  });
});

describe('LEAST_REQUEST', () => {
  test('power of two choices takes the less loaded of two sampled hosts', () => {
    const active: Record<string, number> = { 'a:1': 5, 'b:1': 0, 'c:1': 2 };
    const ctx: PickContext = { activeRequests: (key) => active[key] ?? 0 };
    const hosts = [locality([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)])];
    // samples: (a, c) → c; (a, b) → b; (c, c) → c; (a, a) → a
    const lb = createLoadBalancer(lbCluster('LEAST_REQUEST', hosts), {
      random: sequence([0.0, 0.9, 0.0, 0.5, 0.9, 0.9, 0.1, 0.2]),
    });
    assert.deepEqual(
      Array.from({ length: 4 }, () => lb.pick(ctx)!.host),
      ['c', 'b', 'c', 'a'],
    );
  });
  test('choice_count samples that many hosts', () => {
    const active: Record<string, number> = { 'a:1': 3, 'b:1': 2, 'c:1': 1 };
    const lb = createLoadBalancer(
      lbCluster(
        'LEAST_REQUEST',
        [locality([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)])],
        { leastRequestChoiceCount: 3 },
      ),
      { random: sequence([0.0, 0.4, 0.9]) },
    );
    assert.equal(lb.pick({ activeRequests: (k) => active[k] ?? 0 })?.host, 'c');
  });
  test('weighted with no active requests follows the weights', () => {
    const lb = createLoadBalancer(
      lbCluster('LEAST_REQUEST', [
        locality([endpoint('a', 1, { weight: 1 }), endpoint('b', 1, { weight: 3 })]),
      ]),
    );
    const result = counts(lb, 400);
    assert.ok(Math.abs(result['a:1']! - 100) <= 1, JSON.stringify(result));
    assert.ok(Math.abs(result['b:1']! - 300) <= 1, JSON.stringify(result));
  });
  test('weighted: active requests reduce a host effective weight (bias 1)', () => {
    const active: Record<string, number> = { 'a:1': 0, 'b:1': 5 };
    const ctx: PickContext = { activeRequests: (k) => active[k] ?? 0 };
    // b has weight 3 but 5 active requests: effective 3/6 = 0.5 < a's 1.
    const lb = createLoadBalancer(
      lbCluster('LEAST_REQUEST', [
        locality([endpoint('a', 1, { weight: 1 }), endpoint('b', 1, { weight: 3 })]),
      ]),
    );
    const result = counts(lb, 300, ctx);
    assert.ok(result['a:1']! > result['b:1']!, JSON.stringify(result));
    // bias 0: plain weighted round robin, active requests ignored
    const flat = createLoadBalancer(
      lbCluster(
        'LEAST_REQUEST',
        [locality([endpoint('a', 1, { weight: 1 }), endpoint('b', 1, { weight: 3 })])],
        { leastRequestActiveRequestBias: 0 },
      ),
    );
    const flatResult = counts(flat, 400, ctx);
    assert.ok(Math.abs(flatResult['b:1']! - 300) <= 1, JSON.stringify(flatResult));
  });
});

describe('priorities, health and panic', () => {
  test('all traffic to priority 0 while it is healthy', () => {
    const lb = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [
        locality([endpoint('p0', 1)], 0),
        locality([endpoint('p1', 1)], 1),
      ]),
    );
    assert.deepEqual(counts(lb, 10), { 'p0:1': 10 });
  });
  test('unhealthy priority 0 fails over to priority 1', () => {
    const lb = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [
        locality(
          [endpoint('p0a', 1, { health: 'UNHEALTHY' }), endpoint('p0b', 1, { health: 'TIMEOUT' })],
          0,
        ),
        locality([endpoint('p1', 1, { health: 'HEALTHY' })], 1),
      ]),
    );
    assert.deepEqual(counts(lb, 10), { 'p1:1': 10 });
  });
  test('half-healthy priority 0 keeps 70% (overprovisioning 1.4), spills 30%', () => {
    const lb = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [
        locality([endpoint('p0a', 1), endpoint('p0b', 1, { health: 'UNHEALTHY' })], 0),
        locality([endpoint('p1', 1)], 1),
      ]),
      { random: sequence(Array.from({ length: 100 }, (_, i) => i / 100)) },
    );
    // The first RR picker of each slice draws one random value for its start; tolerate that.
    const result = counts(lb, 100);
    assert.ok(
      Math.abs(result['p0a:1']! - 70) <= 2 && Math.abs(result['p1:1']! - 30) <= 2,
      JSON.stringify(result),
    );
  });
  test('panic: too few healthy hosts everywhere → all hosts of the priority are used', () => {
    const hosts = [
      locality([
        endpoint('a', 1, { health: 'UNHEALTHY' }),
        endpoint('b', 1, { health: 'UNHEALTHY' }),
        endpoint('c', 1),
      ]),
    ];
    const lb = createLoadBalancer(lbCluster('ROUND_ROBIN', hosts));
    assert.deepEqual(Object.keys(counts(lb, 30)).sort(), ['a:1', 'b:1', 'c:1']);
    // Above the threshold (2 of 3 healthy = 66%): no panic, unhealthy hosts are skipped.
    const healthier = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [
        locality([endpoint('a', 1, { health: 'UNHEALTHY' }), endpoint('b', 1), endpoint('c', 1)]),
      ]),
    );
    assert.deepEqual(Object.keys(counts(healthier, 30)).sort(), ['b:1', 'c:1']);
  });
  test('panic threshold 0 disables panic: no healthy host → no host', () => {
    const lb = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [locality([endpoint('a', 1, { health: 'UNHEALTHY' })])], {
        healthyPanicThresholdPercent: 0,
      }),
    );
    assert.equal(lb.pick(idle), undefined);
    const panicking = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [locality([endpoint('a', 1, { health: 'UNHEALTHY' })])]),
    );
    assert.equal(panicking.pick(idle)?.host, 'a');
  });
  test('degraded hosts are used only for the load healthy ones cannot take', () => {
    const onlyDegraded = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [
        locality([endpoint('d', 1, { health: 'DEGRADED' })]),
        locality([endpoint('u', 1, { health: 'UNHEALTHY' })], 1),
      ]),
    );
    assert.deepEqual(counts(onlyDegraded, 5), { 'd:1': 5 });
    const healthyEnough = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [
        locality([
          endpoint('h1', 1),
          endpoint('h2', 1),
          endpoint('h3', 1),
          endpoint('d', 1, { health: 'DEGRADED' }),
        ]),
      ]),
    );
    assert.equal(counts(healthyEnough, 30)['d:1'], undefined);
  });
});

describe('exclusion and updates', () => {
  test('excluded hosts (previous_hosts) are skipped while others remain', () => {
    const lb = createLoadBalancer(
      lbCluster('ROUND_ROBIN', [locality([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)])]),
      { random: () => 0 },
    );
    const ctx: PickContext = { activeRequests: () => 0, exclude: new Set(['a:1', 'b:1']) };
    for (let i = 0; i < 6; i++) assert.equal(lb.pick(ctx)?.host, 'c');
    const all: PickContext = { activeRequests: () => 0, exclude: new Set(['a:1', 'b:1', 'c:1']) };
    assert.ok(lb.pick(all), 'with every host excluded a host is still returned');
  });
  test('regression: RANDOM re-picks landing on the excluded host still avoid it', () => {
    // Every random draw selects host a; previous_hosts excludes it, so b must be returned.
    const lb = createLoadBalancer(
      lbCluster('RANDOM', [locality([endpoint('a', 1), endpoint('b', 1)])]),
      { random: () => 0 },
    );
    const ctx: PickContext = { activeRequests: () => 0, exclude: new Set(['a:1']) };
    assert.equal(lb.pick({ activeRequests: () => 0 })?.host, 'a');
    for (let i = 0; i < 6; i++) assert.equal(lb.pick(ctx)?.host, 'b');
  });
  test('exclusion with hash policies moves to another host', () => {
    for (const policy of ['RING_HASH', 'MAGLEV'] as const) {
      const lb = createLoadBalancer(
        lbCluster(policy, [locality([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)])]),
      );
      const first = lb.pick({ activeRequests: () => 0, hash: 12345 })!;
      const retry = lb.pick({
        activeRequests: () => 0,
        hash: 12345,
        exclude: new Set([first.key]),
      })!;
      assert.notEqual(retry.key, first.key, policy);
    }
  });
  test('updateHosts keeps HostRef objects of unchanged endpoints', () => {
    const cluster = lbCluster('ROUND_ROBIN', [locality([endpoint('a', 1), endpoint('b', 1)])]);
    const lb = createLoadBalancer(cluster);
    const [a] = lb.hosts;
    lb.updateHosts(lbCluster('ROUND_ROBIN', [locality([endpoint('a', 1), endpoint('c', 1)])]));
    assert.equal(lb.hosts[0], a);
    assert.deepEqual(
      lb.hosts.map((h) => h.key),
      ['a:1', 'c:1'],
    );
    assert.deepEqual(Object.keys(counts(lb, 4)).sort(), ['a:1', 'c:1']);
    lb.updateHosts(
      lbCluster('ROUND_ROBIN', [
        locality([endpoint('a', 1, { health: 'UNHEALTHY' }), endpoint('c', 1)]),
      ]),
    );
    assert.notEqual(lb.hosts[0], a, 'a health change yields a new HostRef');
    assert.equal(lb.hosts[0]!.healthStatus, 'UNHEALTHY');
  });
});
