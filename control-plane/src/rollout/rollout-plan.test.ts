import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  byRank,
  failedGate,
  matches,
  stageMembers,
  stageSize,
  type GateInput,
  type LoadDelta,
} from './rollout-plan.js';
import { DEFAULT_GATES } from './rollout-record.js';

function load(issued: number, errors: number, latencyMs = 0, latencyCount = 0): LoadDelta {
  return { issued, errors, latencyMs, latencyCount };
}

const quiet = load(0, 0);
const noHealth = { proxies: 0, increase: 0 };

function gates(overrides: Partial<GateInput>): GateInput {
  return {
    gates: DEFAULT_GATES,
    nacks: new Map(),
    updatedLoad: quiet,
    baselineLoad: quiet,
    updatedHealth: noHealth,
    baselineHealth: noHealth,
    ...overrides,
  };
}

void describe('rollout plan', () => {
  void test('stage sizes: counts are capped, percentages round up to at least one proxy', () => {
    assert.equal(stageSize({ count: 1 }, 4), 1);
    assert.equal(stageSize({ count: 10 }, 4), 4);
    assert.equal(stageSize({ percent: 10 }, 4), 1);
    assert.equal(stageSize({ percent: 50 }, 5), 3);
    assert.equal(stageSize({ percent: 100 }, 4), 4);
    assert.equal(stageSize({ percent: 100 }, 0), 0);
  });

  void test('members: deterministic by hash of node id, and earlier members stay', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const order = byRank(ids);
    assert.deepEqual(byRank([...ids].reverse()), order, 'independent of the input order');
    const first = stageMembers({ count: 1 }, ids, []);
    assert.deepEqual(first, [order[0]]);
    const second = stageMembers({ percent: 50 }, ids, first);
    assert.deepEqual(second, order.slice(0, 3));
    // A member that disconnected stays a member; the stage is filled from the rest.
    const without = ids.filter((id) => id !== order[1]);
    assert.deepEqual(stageMembers({ count: 3 }, without, [order[1]!]), [
      order[1],
      order[0],
      order[2],
    ]);
  });

  void test('selectors match node id, locality and metadata', () => {
    const node = {
      id: 'p1',
      cluster: 'web',
      locality: { region: 'eu', zone: 'a', sub_zone: 'r1' },
      metadata: { canary: 'true', tier: 2 },
    };
    assert.ok(matches(node, []));
    assert.ok(
      matches(node, [
        { key: 'locality.zone', value: 'a' },
        { key: 'metadata.canary', value: 'true' },
      ]),
    );
    assert.ok(
      matches(node, [
        { key: 'metadata.tier', value: '2' },
        { key: 'id', value: 'p1' },
      ]),
    );
    assert.ok(!matches(node, [{ key: 'locality.zone', value: 'b' }]));
    assert.ok(!matches(node, [{ key: 'metadata.missing', value: 'x' }]));
  });

  void test('gates: a NACK fails at once', () => {
    const reason = failedGate(gates({ nacks: new Map([['p1', 'route: unknown cluster']]) }));
    assert.match(reason ?? '', /proxy p1 rejected the candidate \(NACK\): route: unknown cluster/);
  });

  void test('gates: error ratio judged after min_requests, against the baseline', () => {
    // Below min_requests: not judged.
    assert.equal(failedGate(gates({ updatedLoad: load(19, 19) })), undefined);
    // Above the ratio, baseline clean: fails.
    assert.match(
      failedGate(
        gates({
          updatedLoad: load(100, 30),
          baselineLoad: load(300, 0),
        }),
      ) ?? '',
      /error ratio of updated proxies 30\.0% \(30\/100\) is above 5\.0% and 2\.0% above the baseline's 0\.0%/,
    );
    // The baseline fails as much: the candidate is not to blame.
    assert.equal(
      failedGate(
        gates({
          updatedLoad: load(100, 30),
          baselineLoad: load(300, 87),
        }),
      ),
      undefined,
    );
    // No baseline with enough requests (last stage): the absolute ratio decides.
    assert.match(
      failedGate(gates({ updatedLoad: load(100, 30) })) ?? '',
      /no baseline with enough requests/,
    );
    // At or under the ratio: passes.
    assert.equal(failedGate(gates({ updatedLoad: load(100, 5) })), undefined);
  });

  void test('gates: unhealthy upstream hosts increase beyond the baseline', () => {
    assert.match(
      failedGate(
        gates({
          updatedHealth: { proxies: 1, increase: 2 },
          baselineHealth: { proxies: 3, increase: 0 },
        }),
      ) ?? '',
      /2\.0 more unhealthy upstream hosts per proxy/,
    );
    // The same increase everywhere (an upstream went down for everyone): passes.
    assert.equal(
      failedGate(
        gates({
          updatedHealth: { proxies: 1, increase: 2 },
          baselineHealth: { proxies: 3, increase: 6 },
        }),
      ),
      undefined,
    );
  });

  void test('gates: the latency gate compares means once both sides finished min_requests', () => {
    const latency = { ...DEFAULT_GATES, latency: { maxRatio: 2, minRequests: 10 } };
    const slow = load(10, 0, 500, 10);
    assert.equal(
      failedGate(gates({ gates: latency, updatedLoad: slow, baselineLoad: load(9, 0, 90, 9) })),
      undefined,
      'no baseline to compare with',
    );
    assert.equal(
      failedGate(gates({ gates: latency, updatedLoad: slow, baselineLoad: load(10, 0, 250, 10) })),
      undefined,
      '50 ms against 25 ms is 2×, not above',
    );
    assert.match(
      failedGate(
        gates({ gates: latency, updatedLoad: slow, baselineLoad: load(10, 0, 240, 10) }),
      ) ?? '',
      /mean upstream request time of updated proxies 50\.0 ms \(10 requests\) is 2\.08× the baseline's 24\.0 ms/,
    );
    assert.equal(
      failedGate(gates({ updatedLoad: slow, baselineLoad: load(10, 0, 10, 10) })),
      undefined,
      'off by default',
    );
  });
});
