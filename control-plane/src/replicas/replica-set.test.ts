import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicaSetStatus } from './replica-set.js';

test('replica set: members sorted, the leader and the answering replica marked', () => {
  const status = replicaSetStatus(
    {
      leader: 'cp-b',
      expiresAt: Date.parse('2026-01-01T00:00:10Z'),
      self: 'cp-a',
      isLeader: false,
    },
    [
      { id: 'cp-b', address: '127.0.0.1:2', apiUrl: 'http://127.0.0.1:12' },
      { id: 'cp-a', address: '127.0.0.1:1' },
    ],
  );
  assert.deepEqual(status, {
    self: 'cp-a',
    leader: 'cp-b',
    leaderExpiresAt: '2026-01-01T00:00:10.000Z',
    replicas: [
      { id: 'cp-a', address: '127.0.0.1:1', apiUrl: '', leader: false, self: true },
      {
        id: 'cp-b',
        address: '127.0.0.1:2',
        apiUrl: 'http://127.0.0.1:12',
        leader: true,
        self: false,
      },
    ],
  });
});

test('replica set: a leader without a membership lease is still listed; no leader is undefined', () => {
  const members = [{ id: 'cp-a', address: '127.0.0.1:1' }];
  const withLeader = replicaSetStatus(
    { leader: 'cp-z', expiresAt: 0, self: 'cp-a', isLeader: false },
    members,
  );
  assert.deepEqual(withLeader.replicas[1], {
    id: 'cp-z',
    address: '',
    apiUrl: '',
    leader: true,
    self: false,
  });
  assert.equal(withLeader.leaderExpiresAt, undefined);
  const none = replicaSetStatus(
    { leader: undefined, expiresAt: 0, self: 'cp-a', isLeader: false },
    members,
  );
  assert.equal(none.leader, undefined);
  assert.deepEqual(
    none.replicas.map((r) => r.leader),
    [false],
  );
});
