import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { parseResourceJson, type ParsedResource } from '@ferry/proto';
import { pino } from 'pino';
import { MemoryStore } from '../store/store-memory.js';
import { FleetTracker } from './fleet.js';
import { chunkBySize, GRPC_MAX_MESSAGE_BYTES, RESPONSE_RESOURCES_BUDGET } from './response-size.js';
import { SnapshotCache } from './snapshot-cache.js';
import {
  CDS,
  cluster,
  del,
  DeltaClient,
  deltaNames,
  namesOf,
  node,
  put,
  SotwClient,
} from './test-support.js';
import { XdsServer } from './xds-server.js';

/** A cluster of about `bytes` bytes (a large metadata string). */
function bigCluster(name: string, bytes: number): ParsedResource {
  const result = parseResourceJson({
    '@type': CDS,
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    connect_timeout: '1s',
    metadata: { filter_metadata: { ferry: { blob: 'x'.repeat(bytes) } } },
  });
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.value;
}

const MiB = 1024 * 1024;

void describe('chunkBySize', () => {
  void test('keeps order, fills chunks up to the budget, and sets aside items over it', () => {
    const { chunks, oversized } = chunkBySize([3, 4, 2, 9, 5, 1, 4], (n) => n, 6);
    assert.deepEqual(chunks, [[3], [4, 2], [5, 1], [4]]);
    assert.deepEqual(oversized, [9]);
  });

  void test('no items, no chunks', () => {
    assert.deepEqual(
      chunkBySize([], () => 1),
      { chunks: [], oversized: [] },
    );
  });

  void test('the default budget leaves room for the envelope under the gRPC limit', () => {
    assert.ok(RESPONSE_RESOURCES_BUDGET < GRPC_MAX_MESSAGE_BYTES);
  });
});

void describe('responses over the 4 MiB gRPC message limit', () => {
  let store: MemoryStore;
  let cache: SnapshotCache;
  let server: XdsServer;
  let address: string;
  let logs: Array<Record<string, unknown>>;
  const clients: Array<SotwClient | DeltaClient> = [];

  beforeEach(async () => {
    logs = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n'))
          if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const logger = pino({ level: 'error' }, sink);
    store = new MemoryStore();
    cache = new SnapshotCache({ store, logger, debounceMs: 0 });
    server = new XdsServer({ cache, logger, fleet: new FleetTracker(), controlPlaneId: 'test' });
    address = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    server.destroy();
    cache.close();
    await store.close();
  });

  void test('SotW: an oversized CDS response is logged with group and type and not sent; a fitting one is', async () => {
    await store.apply(
      put(
        'edge',
        bigCluster('big1', 1.5 * MiB),
        bigCluster('big2', 1.5 * MiB),
        bigCluster('big3', 1.5 * MiB),
      ),
    );
    const c = new SotwClient(address);
    clients.push(c);
    c.request(CDS, [], { node: node('n1', 'edge') });
    // The barrier is answered first: no CDS response was sent (the client would have failed the
    // stream with RESOURCE_EXHAUSTED on it).
    await c.barrier();
    const error = logs.find((l) => l.typeUrl === CDS && l.group === 'edge');
    assert.ok(error, `no error logged: ${JSON.stringify(logs)}`);
    assert.equal(error.level, 50);
    assert.match(String(error.msg), /4 MiB/);
    assert.ok(Number(error.bytes) > RESPONSE_RESOURCES_BUDGET);

    await store.apply(del('edge', CDS, 'big3'));
    const cds = await c.expect(CDS);
    assert.deepEqual(namesOf(cds), ['big1', 'big2']);
  });

  void test('delta: an oversized update is split into responses under the limit, removals in the last; only the last ACK counts', async () => {
    await store.apply(put('default', cluster('gone')));
    const c = new DeltaClient(address);
    clients.push(c);
    c.request(CDS, { node: node('n1') });
    const initial = await c.expect(CDS);
    assert.deepEqual(deltaNames(initial), ['gone']);
    c.ack(initial);
    await c.barrier();

    await store.apply([
      ...put(
        'default',
        bigCluster('big1', 1.5 * MiB),
        bigCluster('big2', 1.5 * MiB),
        bigCluster('big3', 1.5 * MiB),
      ),
      ...del('default', CDS, 'gone'),
    ]);
    // Each part arrives intact, so each is under the client's 4 MiB receive limit.
    const firstPart = await c.expect(CDS);
    let last = await c.expect(CDS);
    const parts = [firstPart, last];
    assert.deepEqual(firstPart.removed_resources ?? [], []);
    if ((last.removed_resources ?? []).length === 0) {
      last = await c.expect(CDS);
      parts.push(last);
    }
    assert.deepEqual(last.removed_resources, ['gone']);
    assert.deepEqual(parts.flatMap(deltaNames).sort(), ['big1', 'big2', 'big3']);
    assert.equal(new Set(parts.map((p) => p.nonce)).size, parts.length);
    for (const p of parts) assert.equal(p.system_version_info, last.system_version_info);

    const fleet = () =>
      server
        .fleet()
        .nodes()[0]
        ?.types.find((t) => t.typeUrl === CDS);
    // The first part's ACK is not an ACK of the update...
    c.ack(firstPart);
    await c.barrier();
    assert.equal(fleet()?.versionAcked, initial.system_version_info);
    // ...the last one's is.
    for (const p of parts.slice(1)) c.ack(p);
    await c.barrier();
    assert.equal(fleet()?.versionAcked, last.system_version_info);
  });

  void test('delta: a NACK of an earlier part is recorded with that part’s resources and is not cleared by the last part’s ACK', async () => {
    const c = new DeltaClient(address);
    clients.push(c);
    c.request(CDS, { node: node('n1') });
    c.ack(await c.expect(CDS));
    await c.barrier();
    await store.apply(
      put(
        'default',
        bigCluster('big1', 1.5 * MiB),
        bigCluster('big2', 1.5 * MiB),
        bigCluster('big3', 1.5 * MiB),
      ),
    );
    const first = await c.expect(CDS);
    const second = await c.expect(CDS);
    c.nack(first, 'too big for me');
    c.ack(second);
    await c.barrier();
    const status = server
      .fleet()
      .nodes()[0]
      ?.types.find((t) => t.typeUrl === CDS);
    assert.equal(status?.lastNack?.error, 'too big for me');
    assert.deepEqual(status?.lastNack?.resources, deltaNames(first));
    assert.notEqual(status?.versionAcked, second.system_version_info);
  });
});
