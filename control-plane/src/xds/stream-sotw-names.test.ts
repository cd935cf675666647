import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { XDS_RESOURCE_TYPES } from '@ferry/proto';
import { selectSotw, updateSotwNames, type SotwSubscription } from './stream-sotw.js';
import type { TypeSnapshot } from './snapshot-cache.js';

const EDS = XDS_RESOURCE_TYPES.find((t) => t.short === 'EDS')!.typeUrl;

function subscription(): SotwSubscription {
  return {
    wildcard: false,
    names: new Set(),
    nonce: undefined,
    versionSent: '',
    rejected: undefined,
  };
}

function snapshot(names: readonly string[]): TypeSnapshot {
  const resources = new Map(
    names.map((name) => [
      name,
      { name, version: `${name}-1`, resource: { type_url: EDS, value: Buffer.from(name) } },
    ]),
  );
  return {
    typeUrl: EDS,
    version: 'v',
    resources,
    all: [...resources.values()].map((r) => r.resource),
    removed: new Map(),
  };
}

// A SotW request repeats the whole subscription (every ACK does): the names are compared, not
// rebuilt, and only a real change replaces the set.
describe('SotW subscription names', () => {
  test('a request repeating the names keeps the set and adds nothing', () => {
    const sub = subscription();
    assert.equal(updateSotwNames(sub, ['a', 'b'], true, EDS), true);
    const names = sub.names;
    assert.equal(updateSotwNames(sub, ['a', 'b'], false, EDS), false);
    assert.equal(sub.names, names);
    assert.deepEqual([...sub.names], ['a', 'b']);
  });

  test('other names, fewer, more, another order or duplicates replace the set', () => {
    const sub = subscription();
    updateSotwNames(sub, ['a', 'b'], true, EDS);
    for (const [requested, added, expected] of [
      [['b', 'a'], false, ['b', 'a']],
      [['b', 'a', 'c'], true, ['b', 'a', 'c']],
      [['b', 'a'], false, ['b', 'a']],
      [['b'], false, ['b']],
      [['b', 'b'], false, ['b']],
      [['x'], true, ['x']],
    ] as const) {
      const before = sub.names;
      assert.equal(updateSotwNames(sub, requested, false, EDS), added, requested.join());
      assert.deepEqual([...sub.names], expected, requested.join());
      assert.notEqual(sub.names, before, requested.join());
    }
  });

  test('"*" is the wildcard: adding it adds, repeating it does not, dropping it replaces', () => {
    const sub = subscription();
    updateSotwNames(sub, ['a'], true, EDS);
    assert.equal(updateSotwNames(sub, ['a', '*'], false, EDS), true);
    assert.equal(sub.wildcard, true);
    assert.deepEqual([...sub.names], ['a']);
    const names = sub.names;
    assert.equal(updateSotwNames(sub, ['*', 'a'], false, EDS), false);
    assert.equal(sub.wildcard, true);
    assert.equal(sub.names, names);
    assert.equal(updateSotwNames(sub, ['a'], false, EDS), false);
    assert.equal(sub.wildcard, false);
    assert.deepEqual([...sub.names], ['a']);
  });

  test('a kept set keeps its shared selection; a replaced one selects in its own order', () => {
    const snap = snapshot(['a', 'b', 'c']);
    const sub = subscription();
    updateSotwNames(sub, ['c', 'a'], true, EDS);
    const first = selectSotw(snap, sub);
    assert.deepEqual(first.names(), ['c', 'a']);
    updateSotwNames(sub, ['c', 'a'], false, EDS);
    assert.equal(selectSotw(snap, sub), first);
    updateSotwNames(sub, ['a', 'c'], false, EDS);
    const reordered = selectSotw(snap, sub);
    assert.deepEqual(reordered.names(), ['a', 'c']);
    assert.equal(reordered.version, first.version);
    // Another stream naming the same resources in the same order shares the selection.
    const other = subscription();
    updateSotwNames(other, ['a', 'c'], true, EDS);
    assert.equal(selectSotw(snap, other), reordered);
  });
});
