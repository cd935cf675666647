/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeStatusJson, TypeStatusJson } from '@ferry/shared/api-wire';
import { nodeState, typeShortName, typeState } from './node-state.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

const type = (t: Partial<TypeStatusJson>): TypeStatusJson => ({
  type_url: LDS,
  version_sent: 'v2',
  version_acked: 'v2',
  resources: 1,
  ...t,
});

const node = (types: TypeStatusJson[], connected = true): NodeStatusJson => ({
  node_id: 'n',
  cluster: 'default',
  group: 'default',
  user_agent: 'ferry-proxy/0.1.0',
  address: '127.0.0.1',
  streams: [],
  connected,
  connected_since: '',
  last_seen: '',
  types,
});

test('a type stays NACKED after a newer version is sent, until an ACK clears the NACK', () => {
  const nack = { version: 'v2', error: 'bad', time: '' };
  assert.equal(typeState(type({ version_acked: 'v1', last_nack: nack })), 'NACKED');
  // v3 sent after the NACK of v2, not ACKed yet: the server calls the node NACKED, so does the type.
  assert.equal(
    typeState(
      type({ version_sent: 'v3', version_acked: 'v1', version_applied: 'v1', last_nack: nack }),
    ),
    'NACKED',
  );
  assert.equal(typeState(type({ version_acked: 'v1' })), 'STALE');
  assert.equal(typeState(type({ version_acked: 'v2', version_applied: 'v1' })), 'STALE');
  assert.equal(
    typeState(
      type({
        rejected_resources: [
          { name: 'x', state: 'NACKED', version_running: '', version_sent: 'v2' },
        ],
      }),
    ),
    'NACKED',
  );
});

test("the server's per-type state wins", () => {
  const nack = { version: 'v2', error: 'bad', time: '' };
  assert.equal(typeState(type({ version_acked: 'v1', state: 'SYNCED' })), 'SYNCED');
  assert.equal(typeState(type({ last_nack: nack, state: 'STALE' })), 'STALE');
});

test('a node of types that follow the server rule is in the state the server gives it', () => {
  const nack = { version: 'v2', error: 'bad', time: '' };
  const row = node([type({}), type({ version_sent: 'v3', version_acked: 'v1', last_nack: nack })]);
  assert.equal(nodeState(row), 'NACKED');
});

test('a node takes its worst type; disconnected is STALE; the server state wins', () => {
  assert.equal(nodeState(node([type({}), type({ version_acked: 'v1' })])), 'STALE');
  assert.equal(nodeState(node([type({})], false)), 'STALE');
  assert.equal(nodeState(node([type({})])), 'SYNCED');
  assert.equal(nodeState({ ...node([type({})]), state: 'NACKED' }), 'NACKED');
});

test('type short names', () => {
  assert.equal(typeShortName(LDS), 'LDS');
  assert.equal(typeShortName('type.googleapis.com/envoy.config.cluster.v3.Cluster'), 'CDS');
});
