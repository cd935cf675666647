/**
 * Summing the replicas' tallies of a rollout (rollout-tally.ts), and parsing the gates that judge
 * the sums (rollout-spec.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { byRank, stageMembers, stageSize } from './rollout-plan.js';
import { DEFAULT_GATES, type RolloutRecord } from './rollout-record.js';
import { parseGates, parseRolloutSpec } from './rollout-spec.js';
import {
  decodeTally,
  EMPTY_SIDE,
  encodeTally,
  stageKey,
  sumTallies,
  type RolloutTally,
} from './rollout-tally.js';

const RECORD: RolloutRecord = {
  name: 'r1',
  group: 'web',
  state: 'PROGRESSING',
  changes: [],
  stages: [{ count: 1 }, { percent: 50 }, { percent: 100 }],
  selectors: [],
  bakeMs: 1000,
  gates: DEFAULT_GATES,
  stage: 0,
  updatedNodes: ['n1'],
  stageStartedAt: 5000,
  reason: '',
  createdBy: 'alice',
  createdAt: 1000,
  updatedAt: 5000,
  message: '',
  baseRevision: 1,
};

function tally(replica: string, overrides: Partial<RolloutTally> = {}): RolloutTally {
  return {
    replica,
    group: 'web',
    rollout: 'r1',
    stage: stageKey(RECORD),
    updated: { ...EMPTY_SIDE, converged: 0 },
    baseline: EMPTY_SIDE,
    nacks: [],
    matching: 0,
    pending: 0,
    candidates: [],
    candidatesFor: 1,
    ...overrides,
  };
}

const sizeOf = (i: number, n: number): number => stageSize(RECORD.stages[i]!, n);

void describe('rollout tallies', () => {
  void test('sums both sides, convergence and matching over replicas of the current stage', () => {
    const side = (proxies: number, issued: number, errors: number, latencyMs: number) => ({
      proxies,
      load: { issued, errors, latencyMs, latencyCount: issued },
      unhealthy: { proxies, increase: errors },
    });
    const sum = sumTallies(
      RECORD,
      [
        tally('a', {
          updated: { ...side(1, 10, 1, 100), converged: 1 },
          baseline: side(2, 30, 0, 150),
          matching: 3,
        }),
        tally('b', { baseline: side(4, 50, 2, 250), matching: 4 }),
        // Another rollout, and a stale stage of this one: not summed.
        tally('c', { rollout: 'r0', baseline: side(9, 999, 999, 9) }),
        tally('d', { stage: `0@1000`, baseline: side(9, 999, 999, 9) }),
      ],
      undefined,
      sizeOf,
    );
    assert.deepEqual(sum.replicas, ['a', 'b']);
    assert.deepEqual(sum.lagging, ['d'], 'a tally of an earlier stage is waited for');
    assert.deepEqual(sum.updated, { ...side(1, 10, 1, 100), converged: 1 });
    assert.deepEqual(sum.baseline, side(6, 80, 2, 400));
    assert.equal(sum.matching, 7);
  });

  void test('only live replicas count; a live one without a tally lags', () => {
    const sum = sumTallies(
      RECORD,
      [tally('a', { matching: 2 }), tally('gone', { matching: 5 })],
      ['a', 'new'],
      sizeOf,
    );
    assert.deepEqual(sum.replicas, ['a']);
    assert.deepEqual(sum.lagging, ['new']);
    assert.equal(sum.matching, 2);
  });

  void test('NACKs come from every tally of the rollout, whatever its stage', () => {
    const sum = sumTallies(
      RECORD,
      [
        tally('a', { nacks: [{ node: 'n1', detail: 'clusters[0]: bad' }] }),
        tally('b', { stage: '0@1', nacks: [{ node: 'n2', detail: 'listeners[0]: bad' }] }),
      ],
      undefined,
      sizeOf,
    );
    assert.deepEqual(
      [...sum.nacks],
      [
        ['n1', 'clusters[0]: bad'],
        ['n2', 'listeners[0]: bad'],
      ],
    );
  });

  void test("the next stage's members from every replica's first candidates equal those of one fleet-wide list", () => {
    // 20 matching proxies over two replicas; stage 2 (50%) takes 10, n1 already updated.
    const all = Array.from({ length: 20 }, (_, i) => `n${i + 1}`);
    const onA = all.filter((_, i) => i % 3 === 0);
    const onB = all.filter((_, i) => i % 3 !== 0);
    const adds = stageSize({ percent: 50 }, 20) - 1;
    const candidates = (ids: string[]) => byRank(ids.filter((id) => id !== 'n1')).slice(0, adds);
    const sum = sumTallies(
      RECORD,
      [
        tally('a', {
          matching: onA.length,
          pending: onA.length - 1,
          candidates: candidates(onA),
        }),
        tally('b', { matching: onB.length, pending: onB.length, candidates: candidates(onB) }),
      ],
      undefined,
      sizeOf,
    );
    assert.ok(sum.candidatesComplete);
    assert.deepEqual(
      stageMembers({ percent: 50 }, sum.candidates, ['n1'], sum.matching),
      stageMembers({ percent: 50 }, all, ['n1']),
    );
    // A replica that listed fewer than the stage may take from it (it had not seen the other's
    // proxies yet): the driver waits for its next tally.
    const short = sumTallies(
      RECORD,
      [
        tally('a', { matching: onA.length, pending: onA.length - 1, candidates: candidates(onA) }),
        tally('b', { matching: onB.length, pending: onB.length, candidates: onB.slice(0, 2) }),
      ],
      undefined,
      sizeOf,
    );
    assert.equal(short.candidatesComplete, false);
    const otherStage = sumTallies(
      RECORD,
      [tally('a', { candidatesFor: 2, pending: 0 })],
      undefined,
      sizeOf,
    );
    assert.equal(otherStage.candidatesComplete, false, 'listed for another stage');
  });

  void test('a tally survives the store as bytes; foreign records are ignored', () => {
    const t = tally('a', { nacks: [{ node: 'n1', detail: 'bad' }], candidates: ['n2'] });
    assert.deepEqual(decodeTally(encodeTally(t)), t);
    assert.equal(decodeTally(Buffer.from('not json')), undefined);
    assert.equal(decodeTally(Buffer.from('{"replica":"a"}')), undefined);
  });
});

void describe('gate parsing', () => {
  void test('the latency gate: max_ratio required, min_requests defaults to the gates', () => {
    assert.deepEqual(parseGates({ min_requests: 50, latency: { max_ratio: 2 } }, 'gates').latency, {
      maxRatio: 2,
      minRequests: 50,
    });
    assert.deepEqual(
      parseGates({ latency: { max_ratio: 1.5, min_requests: 10 } }, 'gates').latency,
      { maxRatio: 1.5, minRequests: 10 },
    );
    assert.equal(parseGates({}, 'gates').latency, undefined, 'off unless asked for');
    const refused = (value: unknown, message: RegExp): void =>
      assert.throws(() => parseRolloutSpec({ stages: '1', gates: value }), message);
    refused({ latency: {} }, /rollout\.gates\.latency\.max_ratio: required/);
    refused(
      { latency: { max_ratio: 0 } },
      /rollout\.gates\.latency\.max_ratio: expected a number above 0/,
    );
    refused(
      { latency: { max_ratio: 2, p99: 3 } },
      /rollout\.gates\.latency\.p99: unknown field \(one of max_ratio, min_requests\)/,
    );
    refused(
      { latency: { max_ratio: 2, min_requests: -1 } },
      /rollout\.gates\.latency\.min_requests: expected a whole number/,
    );
    refused({ latency: 'fast' }, /rollout\.gates\.latency: expected an object with max_ratio/);
    refused({ max_latency: 1 }, /rollout\.gates\.max_latency: unknown field/);
  });
});
