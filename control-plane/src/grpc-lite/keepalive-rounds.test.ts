import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeepaliveRounds } from './keepalive-rounds.js';

/** Runs `rounds` tick by tick from 0 to `untilMs`; returns the members visited at each tick. */
function run(
  rounds: KeepaliveRounds<number>,
  members: Set<number>,
  tickMs: number,
  untilMs: number,
  onTick?: (now: number) => void,
): Map<number, number[]> {
  const visits = new Map<number, number[]>();
  for (let now = 0; now <= untilMs; now += tickMs) {
    onTick?.(now);
    const visited: number[] = [];
    rounds.tick(members, now, (m) => visited.push(m));
    visits.set(now, visited);
  }
  return visits;
}

describe('keepalive rounds', () => {
  test('a round visits every member once, spread over the interval; the next starts an interval later', () => {
    // The server's defaults: a PING every 30 s, checked every 2.5 s.
    const members = new Set(Array.from({ length: 1000 }, (_, i) => i));
    const visits = run(new KeepaliveRounds(30_000, 2_500), members, 2_500, 59_999);
    const firstRound = [...visits].filter(([now]) => now < 30_000).flatMap(([, v]) => v);
    assert.deepEqual(
      firstRound.sort((a, b) => a - b),
      [...members],
    );
    // 11 ticks of at most 91 each (1000 × 2.5 / 27.5), none with the whole fleet.
    for (const [now, visited] of visits) {
      assert.ok(visited.length <= 91, `${visited.length} at ${now} ms`);
    }
    assert.equal(visits.get(27_500)?.length, 0, 'the round is over one tick before the next');
    assert.equal(visits.get(30_000)?.[0], 0, 'the second round starts 30 s after the first');
    const secondRound = [...visits].filter(([now]) => now >= 30_000).flatMap(([, v]) => v);
    assert.equal(secondRound.length, 1000);
  });

  test('members gone before their turn are skipped; a round of a short interval takes one tick', () => {
    const members = new Set([1, 2, 3, 4, 5, 6]);
    const rounds = new KeepaliveRounds<number>(3_000, 1_000);
    const visits = run(rounds, members, 1_000, 2_999, (now) => {
      if (now === 1_000) members.delete(6);
    });
    assert.deepEqual(visits.get(0), [1, 2, 3]);
    assert.deepEqual(visits.get(1_000), [4, 5]);
    assert.deepEqual(visits.get(2_000), []);

    // The test-sized keepalive (100 ms interval, 50 ms tick): everyone in the first tick.
    const quick = run(new KeepaliveRounds(100, 50), new Set([1, 2, 3]), 50, 100);
    assert.deepEqual(quick.get(0), [1, 2, 3]);
    assert.deepEqual(quick.get(50), []);
    assert.deepEqual(quick.get(100), [1, 2, 3]);
  });

  test('no members: nothing to visit, and the next round still waits an interval', () => {
    const members = new Set<number>();
    const rounds = new KeepaliveRounds<number>(1_000, 250);
    const visits = run(rounds, members, 250, 1_000, (now) => {
      if (now === 500) members.add(7);
    });
    assert.deepEqual(visits.get(500), []);
    assert.deepEqual(visits.get(1_000), [7]);
  });
});
