/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filtersFromHash, hashWithFilters, isFleetHash } from './fleet-filters.js';

test('the fleet filters go into the hash and come back out', () => {
  const filters = { q: 'edge a&b', group: 'web', state: 'NACKED' } as const;
  const hash = hashWithFilters('fleet', filters);
  assert.equal(hash, '#/fleet?q=edge+a%26b&group=web&state=NACKED');
  assert.deepEqual(filtersFromHash(hash), filters);
});

test('no filter, no query; an unknown state is ignored', () => {
  const none = { q: '', group: '', state: '' } as const;
  assert.equal(hashWithFilters('fleet', none), '#/fleet');
  assert.deepEqual(filtersFromHash('#/fleet'), none);
  assert.deepEqual(filtersFromHash(''), none);
  assert.deepEqual(filtersFromHash('#/fleet?state=BROKEN&group=g'), { ...none, group: 'g' });
});

test('only the Fleet view’s hash is read or replaced', () => {
  for (const hash of ['', '#', '#/', '#/fleet', '#/fleet?q=a']) assert.ok(isFleetHash(hash), hash);
  for (const hash of ['#/config', '#/fleetx', '#/health?q=a']) assert.ok(!isFleetHash(hash), hash);
});
