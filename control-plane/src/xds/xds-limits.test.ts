/**
 * The per-stream limits of stream-base.ts on delta streams (the e2e test covers SotW): a node in
 * the first request, and the subscription size, counted over requests.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { FleetTracker } from './fleet.js';
import { CDS, DeltaClient, EDS, node, startHarness, type Harness } from './test-support.js';

describe('xDS stream limits (delta)', () => {
  let h: Harness;
  const clients: DeltaClient[] = [];
  const connect = (): DeltaClient => {
    const c = new DeltaClient(h.address);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    h = await startHarness({ limits: { maxResourceNames: 3 } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await h.close();
  });

  test('a first request without a node ends the stream with INVALID_ARGUMENT', async () => {
    const c = connect();
    c.request(CDS, {});
    const err = await c.failure;
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /must carry the node/);
  });

  test('names are counted over requests: past the limit the stream ends', async () => {
    const c = connect();
    c.request(EDS, { node: node('n1'), resource_names_subscribe: ['a', 'b'] });
    await c.expect(EDS);
    // Subscribing again to a name it has does not count twice.
    c.request(EDS, { resource_names_subscribe: ['b', 'c'] });
    await c.expect(EDS);
    c.request(EDS, { resource_names_subscribe: ['d'] });
    const err = await c.failure;
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(
      err.details,
      /4 resource names .* over the limit of 3 \(--xds-max-resource-names\)/,
    );
  });

  test('initial_resource_versions past the limit end the stream', async () => {
    const c = connect();
    c.request(EDS, {
      node: node('n1'),
      initial_resource_versions: { a: '1', b: '1', c: '1', d: '1' },
    });
    const err = await c.failure;
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /over the limit of 3/);
  });
});

describe('fleet tracker under churn', () => {
  test('keeps at most maxDisconnected disconnected nodes, forgetting the oldest', () => {
    const fleet = new FleetTracker({ maxDisconnected: 2, connectedProxies: () => gauge });
    for (const id of ['a', 'b', 'c'])
      fleet.connect({ id, cluster: 'g' }, 'ads-sotw', 'peer').disconnect();
    // A node that reconnects is listed once, connected.
    fleet.connect({ id: 'b', cluster: 'g' }, 'ads-sotw', 'peer');
    const listed = fleet.nodes().map((n) => `${n.nodeId}:${n.connected ? 'up' : 'down'}`);
    assert.deepEqual(listed.sort(), ['b:up', 'c:down']);
  });
});

const gauge = { inc: (): void => undefined, set: (): void => undefined, get: (): number => 0 };
