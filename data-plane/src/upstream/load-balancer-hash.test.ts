import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestHeaders } from '../router/route-fixtures.js';
import type { HostRef } from './load-balancer.js';
import { createLoadBalancer } from './load-balancer-factory.js';
import { endpoint, lbCluster, locality } from './load-balancer-fixtures.js';
import { MaglevPicker } from './load-balancer-maglev.js';
import { RingHashPicker } from './load-balancer-ring-hash.js';
import {
  findCookie,
  formatHashCookie,
  hashForRequest,
  type GeneratedCookie,
} from './hash-policy.js';
import { xxhash32 } from './xxhash32.js';

const ctx = { activeRequests: () => 0 };

function host(name: string, weight = 1): HostRef {
  return {
    key: `${name}:80`,
    host: name,
    port: 80,
    weight,
    hostname: '',
    priority: 0,
    healthStatus: 'HEALTHY',
  };
}

const KEYS = Array.from({ length: 20000 }, (_, i) => xxhash32(`user-${i}`));

function assignment(picker: {
  pick(c: unknown, h: number, a: number): HostRef | undefined;
}): string[] {
  return KEYS.map((k) => picker.pick(ctx, k, 0)!.key);
}

function shares(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1 / keys.length;
  return out;
}

describe('xxhash32', () => {
  test('reference vectors', () => {
    assert.equal(xxhash32(''), 0x02cc5d05);
    assert.equal(xxhash32('abc'), 0x32d153ff);
    assert.equal(xxhash32('Nobody inspects the spammish repetition'), 0xe2293b2f);
    assert.notEqual(xxhash32('abc', 1), xxhash32('abc', 0));
    assert.equal(
      xxhash32('x'.repeat(5000)),
      xxhash32('x'.repeat(5000)),
      'long keys take the slow path consistently',
    );
  });
});

describe('RING_HASH', () => {
  const four = ['a', 'b', 'c', 'd'].map((n) => host(n));
  test('ring size: the lightest host gets a whole share of minimum_ring_size', () => {
    assert.equal(new RingHashPicker(four.slice(0, 3), 1024, 8388608).size, 1026);
    assert.equal(new RingHashPicker(four, 1024, 8388608).size, 1024);
    assert.equal(new RingHashPicker(four, 1024, 100).size, 100);
  });
  test('same key → same host, independent of endpoint order', () => {
    const one = assignment(new RingHashPicker(four, 1024, 8388608));
    const reversed = assignment(new RingHashPicker([...four].reverse(), 1024, 8388608));
    assert.deepEqual(one, reversed);
  });
  test('removing hosts moves only the keys they owned (same points per host)', () => {
    // 300 points per host in both rings: 4 × 300 and 2 × 300 (shares exact in binary).
    const before = assignment(new RingHashPicker(four, 1200, 8388608));
    const after = assignment(new RingHashPicker(four.slice(0, 2), 600, 8388608));
    let moved = 0;
    before.forEach((key, i) => {
      if (key === 'a:80' || key === 'b:80') assert.equal(after[i], key);
      else moved++;
    });
    assert.ok(moved > 0);
  });
  test('with the default ring size most keys of the other hosts stay', () => {
    const before = assignment(new RingHashPicker(four, 1024, 8388608));
    const after = assignment(new RingHashPicker(four.slice(0, 3), 1024, 8388608));
    let kept = 0;
    let others = 0;
    before.forEach((key, i) => {
      if (key === 'd:80') return;
      others++;
      if (after[i] === key) kept++;
    });
    assert.ok(kept / others > 0.8, `kept ${kept}/${others}`);
  });
  test('spread follows weights (1:3 → ~25/75)', () => {
    const result = shares(
      assignment(new RingHashPicker([host('a', 1), host('b', 3)], 1024, 8388608)),
    );
    assert.ok(Math.abs(result['a:80']! - 0.25) < 0.05, JSON.stringify(result));
    const even = shares(assignment(new RingHashPicker(four, 1024, 8388608)));
    for (const share of Object.values(even))
      assert.ok(Math.abs(share - 0.25) < 0.06, JSON.stringify(even));
  });
});

describe('MAGLEV', () => {
  const four = ['a', 'b', 'c', 'd'].map((n) => host(n));
  test('table entries split evenly, or by weight', () => {
    const even = new MaglevPicker(four, 65537);
    const owners = Array.from({ length: even.size }, (_, i) => even.ownerAt(i)!.key);
    for (const share of Object.values(shares(owners))) assert.ok(Math.abs(share - 0.25) < 0.01);
    const weighted = new MaglevPicker([host('a', 1), host('b', 3)], 65537);
    const weightedOwners = Array.from(
      { length: weighted.size },
      (_, i) => weighted.ownerAt(i)!.key,
    );
    assert.ok(Math.abs(shares(weightedOwners)['a:80']! - 0.25) < 0.01);
  });
  test('same key → same host; removing a host moves few other keys', () => {
    const before = assignment(new MaglevPicker(four, 65537));
    assert.deepEqual(before, assignment(new MaglevPicker([...four].reverse(), 65537)));
    const after = assignment(new MaglevPicker(four.slice(0, 3), 65537));
    let kept = 0;
    let others = 0;
    before.forEach((key, i) => {
      if (key === 'd:80') return;
      others++;
      if (after[i] === key) kept++;
    });
    assert.ok(kept / others > 0.9, `kept ${kept}/${others}`);
  });
  test('a small prime table works', () => {
    const picker = new MaglevPicker([host('a'), host('b')], 7);
    assert.equal(picker.size, 7);
    assert.ok(picker.pick(ctx, 3, 0));
  });
});

describe('hash policies', () => {
  const req = (headers: Record<string, string>, path = '/') => ({
    headers: new TestHeaders(headers),
    path,
  });
  test('header, query parameter and source IP values hash with xxhash32', () => {
    assert.equal(
      hashForRequest(
        [{ kind: 'header', name: 'X-User', terminal: false }],
        req({ 'x-user': 'ann' }),
        '1.2.3.4',
      ),
      xxhash32('ann'),
    );
    assert.equal(
      hashForRequest(
        [{ kind: 'query_parameter', name: 'u', terminal: false }],
        req({}, '/p?u=bob'),
        '',
      ),
      xxhash32('bob'),
    );
    assert.equal(
      hashForRequest([{ kind: 'source_ip', terminal: false }], req({}), '1.2.3.4'),
      xxhash32('1.2.3.4'),
    );
  });
  test('no value → undefined; values combine as rotl(h,1) ^ v; terminal stops', () => {
    assert.equal(
      hashForRequest([{ kind: 'header', name: 'x', terminal: false }], req({}), ''),
      undefined,
    );
    const a = xxhash32('a');
    const b = xxhash32('b');
    const both = hashForRequest(
      [
        { kind: 'header', name: 'x', terminal: false },
        { kind: 'header', name: 'y', terminal: false },
      ],
      req({ x: 'a', y: 'b' }),
      '',
    );
    assert.equal(both, (((a << 1) | (a >>> 31)) ^ b) >>> 0);
    const terminal = hashForRequest(
      [
        { kind: 'header', name: 'x', terminal: true },
        { kind: 'header', name: 'y', terminal: false },
      ],
      req({ x: 'a', y: 'b' }),
      '',
    );
    assert.equal(terminal, a);
    const skipped = hashForRequest(
      [
        { kind: 'header', name: 'missing', terminal: true },
        { kind: 'header', name: 'y', terminal: false },
      ],
      req({ y: 'b' }),
      '',
    );
    assert.equal(skipped, b, 'a terminal policy without a value does not stop the walk');
  });
  test('cookie: existing value hashed; absent with ttl → generated and reported', () => {
    assert.equal(findCookie('a=1; session="xyz"; b=2', 'session'), 'xyz');
    assert.equal(findCookie('asession=1', 'session'), undefined);
    const policy = {
      kind: 'cookie' as const,
      name: 'session',
      ttlMs: 60000,
      path: '/',
      terminal: false,
    };
    assert.equal(
      hashForRequest([policy], req({ cookie: 'session=abc' }), '1.2.3.4'),
      xxhash32('abc'),
    );
    const generated: GeneratedCookie[] = [];
    const hash = hashForRequest([policy], req({}), '1.2.3.4', generated);
    assert.equal(generated.length, 1);
    assert.equal(hash, xxhash32(generated[0]!.value));
    assert.equal(
      formatHashCookie(generated[0]!),
      `session="${generated[0]!.value}"; Max-Age=60; Path=/; HttpOnly`,
    );
    assert.equal(
      hashForRequest([{ kind: 'cookie', name: 'session', terminal: false }], req({}), '1.2.3.4'),
      undefined,
    );
  });
  test('a load balancer with a hash policy is sticky', () => {
    const lb = createLoadBalancer(
      lbCluster('RING_HASH', [locality([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)])]),
    );
    const hash = hashForRequest(
      [{ kind: 'header', name: 'x-user', terminal: false }],
      req({ 'x-user': 'ann' }),
      '',
    )!;
    const first = lb.pick({ ...ctx, hash })!.key;
    for (let i = 0; i < 10; i++) assert.equal(lb.pick({ ...ctx, hash })!.key, first);
  });
});
