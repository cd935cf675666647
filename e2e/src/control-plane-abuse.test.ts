/**
 * The control plane under bad input and abuse (docs/architecture.md, "Limits under bad input and
 * abuse"), against one real control plane while a fleet of raw ADS clients stays connected: each
 * case gets a clear error, and after it an apply still reaches every fleet client and none was
 * disconnected. Management API: bodies at and over the size limit, deep nesting, YAML alias
 * bombs (API and ferryctl), slow clients, oversized gRPC messages, 200 concurrent applies.
 * xDS: no node, undecodable messages, 100,000 resource names, request floods and NACK storms, a
 * client that never reads, 3,000 connect/disconnect cycles.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import {
  Client,
  credentials,
  Metadata,
  status,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  GrpcClient,
  serviceDefinition,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '@ferry/proto/grpc';
import {
  apiApply,
  eventually,
  ferryctl,
  httpRequest,
  rawExchange,
  startControlPlane,
  stopAll,
  tempDir,
  type ControlPlane,
} from './harness.js';
import { RawAdsClient, resourceNames } from './raw-ads-client.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const ADS_PATH = `/${ADS}/StreamAggregatedResources`;
const adsDefinition = serviceDefinition(ADS);
const FLEET_SIZE = 30;
const MAX_BODY = 16 * 1024 * 1024;
/** The unread-bytes limit this control plane runs with (--xds-max-pending-bytes). */
const MAX_PENDING = 1024 * 1024;

function cluster(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@type': CDS,
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9 } } } },
          ],
        },
      ],
    },
    ...extra,
  };
}

interface Reply {
  status: number;
  body: string;
}

async function post(cp: ControlPlane, body: string, contentType: string): Promise<Reply> {
  const res = await httpRequest(`${cp.apiUrl}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: res.status, body: res.body };
}

/** `series` → value from /metrics. */
async function scrape(cp: ControlPlane): Promise<Map<string, number>> {
  const res = await httpRequest(`${cp.apiUrl}/metrics`);
  assert.equal(res.status, 200);
  const values = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** A "billion laughs" YAML document: nine levels of nine aliases each. */
function aliasBomb(): string {
  const lines = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 9; i++) {
    const name = String.fromCharCode(97 + i);
    const prev = String.fromCharCode(96 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Sends `head` and then `bodyChunks` of a request on a raw socket, stopping when the server
 * answers or closes; resolves with the answer's status line (empty when it only closed) and how
 * many body bytes were written. A liveness bound of `timeoutMs`.
 */
function rawUpload(
  port: number,
  head: string,
  chunk: Buffer,
  maxChunks: number,
  timeoutMs = 30_000,
): Promise<{ statusLine: string; written: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    let written = 0;
    let finished = false;
    const finish = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ statusLine: response.split('\r\n')[0] ?? '', written, closed });
    };
    const timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutMs} ms after ${written} bytes`)),
      timeoutMs,
    );
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      response += d;
      if (response.includes('\r\n\r\n')) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(head);
    let sent = 0;
    const pump = (): void => {
      while (!finished && sent < maxChunks) {
        sent += 1;
        written += chunk.length;
        const framed = Buffer.concat([
          Buffer.from(`${chunk.length.toString(16)}\r\n`),
          chunk,
          Buffer.from('\r\n'),
        ]);
        if (!socket.write(framed)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!finished && sent >= maxChunks) socket.write('0\r\n\r\n');
    };
    pump();
  });
}

/** A connection that sends `text` one byte every `intervalMs`; resolves when the server closes it. */
function trickle(port: number, text: string, intervalMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let i = 0;
    let response = '';
    const timer = setInterval(() => {
      if (i < text.length) socket.write(text[i++]!);
    }, intervalMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (response += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(response.split('\r\n')[0] ?? '');
    });
  });
}

/** A DiscoveryRequest as one gRPC message frame (for raw HTTP/2 clients). */
function adsFrame(request: DiscoveryRequest): Buffer {
  const message = adsDefinition.StreamAggregatedResources!.requestSerialize(request);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** Opens an ADS stream on a raw HTTP/2 connection of its own. */
function rawAdsStream(xdsAddress: string): {
  session: http2.ClientHttp2Session;
  stream: http2.ClientHttp2Stream;
} {
  const session = http2.connect(`http://${xdsAddress}`);
  session.on('error', () => undefined);
  const stream = session.request({
    ':method': 'POST',
    ':path': ADS_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => undefined);
  return { session, stream };
}

/** A bidirectional ADS call whose messages are raw bytes both ways (no protobuf). */
function rawAdsCall(client: Client): ClientDuplexStream<Buffer, Buffer> {
  return client.makeBidiStreamRequest(
    ADS_PATH,
    (b: Buffer) => b,
    (b: Buffer) => b,
    new Metadata(),
  );
}

/** The status a call ends with (its error, or OK when it ended cleanly). */
function callStatus(call: {
  on(event: 'error', l: (e: ServiceError) => void): unknown;
  on(event: 'status', l: (s: { code: number; details: string }) => void): unknown;
  on(event: 'data', l: (d: unknown) => void): unknown;
}): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    call.on('data', () => undefined);
    call.on('error', (err) => resolve({ code: err.code, details: err.details }));
    call.on('status', (s) => resolve({ code: s.code, details: s.details }));
  });
}

describe('control plane under bad input and abuse', { timeout: 170_000 }, () => {
  let cp: ControlPlane;
  const fleet: RawAdsClient[] = [];
  let probes = 0;
  let apiPort = 0;

  /**
   * An apply reaches every fleet client (each ACKs what it got before), and none of them was
   * disconnected: the check after every case.
   */
  async function fleetStillServed(): Promise<void> {
    probes += 1;
    const name = `probe-${probes}`;
    await apiApply(cp.apiUrl, [cluster(name)], 'fleet');
    await Promise.all(
      fleet.map(async (client) => {
        const got = await client.until(
          (r) => resourceNames(r).includes(name),
          `${name} reaches the fleet`,
          30_000,
        );
        client.request(CDS, [], got);
      }),
    );
    const metrics = await scrape(cp);
    assert.equal(
      metrics.get('ferry_xds_connected_proxies{group="fleet"}'),
      FLEET_SIZE,
      'every fleet client is still connected',
    );
  }

  before(async () => {
    cp = await startControlPlane({
      args: [
        '--debounce-ms',
        '20',
        '--xds-max-pending-bytes',
        String(MAX_PENDING),
        '--debug-gc-on-metrics',
      ],
    });
    apiPort = Number(new URL(cp.apiUrl).port);
    await apiApply(cp.apiUrl, [cluster('base')], 'fleet');
    for (let i = 0; i < FLEET_SIZE; i++) {
      const client = new RawAdsClient(cp.xdsAddress, `fleet-${i}`, 'fleet');
      client.request(CDS, []);
      fleet.push(client);
    }
    await Promise.all(
      fleet.map(async (client) => {
        const first = await client.until(
          (r) => resourceNames(r).includes('base'),
          'the fleet connects',
          30_000,
        );
        client.request(CDS, [], first);
      }),
    );
  });

  after(async () => {
    for (const client of fleet) client.close();
    await stopAll();
  });

  test('bodies at the 16 MiB limit are read; over it, 413 without reading the rest', async () => {
    // Exactly at the limit: read and refused for its content (no resources), never 500.
    const head = '{"resources":[],"message":"';
    const tail = '"}';
    const atLimit = head + 'x'.repeat(MAX_BODY - head.length - tail.length) + tail;
    assert.equal(Buffer.byteLength(atLimit), MAX_BODY);
    const at = await post(cp, atLimit, 'application/json');
    assert.equal(at.status, 400, at.body);
    assert.match(at.body, /at least one resource/);

    // One byte over, declared in content-length: refused before any of it is read.
    const over = await rawExchange(
      apiPort,
      `POST /v1/apply HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${MAX_BODY + 1}\r\n\r\n{`,
    );
    assert.equal(over.status, 413, over.response);
    assert.match(over.response, /exceeds the limit of 16777216 bytes.*--api-max-body-bytes/);

    // Over, chunked: the server answers 413 once the limit is passed and stops reading; the
    // client, which would send 64 MiB, is answered long before.
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const upload = await rawUpload(
      apiPort,
      'POST /v1/apply HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
      chunk,
      256,
    );
    assert.match(upload.statusLine, /^HTTP\/1\.1 413/, JSON.stringify(upload));
    assert.ok(upload.written < 64 * 1024 * 1024, `wrote ${upload.written} bytes`);
    await fleetStillServed();
  });

  test('deeply nested JSON and YAML get 400 naming the limit, no crash', async () => {
    const n = 100_000;
    const cases: Array<[string, string, string]> = [
      ['json', `{"resources":${'['.repeat(n)}${']'.repeat(n)}}`, 'application/json'],
      ['json, unclosed', '['.repeat(n), 'application/json'],
      ['yaml flow', `${'['.repeat(n)}${']'.repeat(n)}`, 'application/yaml'],
      ['yaml block', `${'- '.repeat(n)}x\n`, 'application/yaml'],
    ];
    for (const [what, body, type] of cases) {
      const reply = await post(cp, body, type);
      assert.equal(reply.status, 400, `${what}: ${reply.body.slice(0, 300)}`);
      assert.match(reply.body, /nested deeper than 100 levels/, what);
    }
    // A Struct nests two protobuf messages per level: past protobuf's decoding limit it is
    // refused at apply (stored, it would fail every reader of it), within it it is accepted.
    const struct = (levels: number): Record<string, unknown> => {
      let nested: unknown = 'leaf';
      for (let i = 0; i < levels; i++) nested = { a: nested };
      return { metadata: { filter_metadata: { test: { deep: nested } } } };
    };
    const tooDeep = await post(
      cp,
      JSON.stringify({ group: 'other', resources: [cluster('struct-deep', struct(60))] }),
      'application/json',
    );
    assert.equal(tooDeep.status, 400, tooDeep.body);
    assert.match(tooDeep.body, /resources\[0\]: cannot be stored: .*recursion depth.*flatten it/);
    await apiApply(cp.apiUrl, [cluster('struct-ok', struct(40))], 'other');
    await fleetStillServed();
  });

  test('a YAML alias bomb is invalid input: 400 from the API, exit 1 from ferryctl', async () => {
    const bomb = aliasBomb();
    const reply = await post(cp, bomb, 'application/yaml');
    assert.equal(reply.status, 400, reply.body);
    assert.match(reply.body, /FERRY_INVALID_CONFIG/);
    assert.match(reply.body, /document 1: aliases expand past 100 uses/);

    const file = path.join(tempDir('abuse'), 'bomb.yaml');
    fs.writeFileSync(file, bomb);
    const ctl = await ferryctl(cp.apiUrl, ['apply', '-f', file]);
    assert.equal(ctl.code, 1, ctl.stderr);
    assert.match(ctl.stderr, /bomb\.yaml: document 1: aliases expand past 100 uses/);
    assert.doesNotMatch(ctl.stderr, /\n\s+at /, 'no stack trace');
    assert.ok(ctl.stderr.trim().split('\n').length <= 2, ctl.stderr);
    await fleetStillServed();
  });

  test('slow-header and slow-body clients are cut off; others are served meanwhile', async () => {
    // A control plane of its own with short timeouts, to watch slow clients being cut off: on a
    // loaded machine the event loop can stall longer than them, which the 200 concurrent
    // applies on the main one must not meet.
    const slow = await startControlPlane({
      args: ['--api-headers-timeout-ms', '1500', '--api-request-timeout-ms', '4000'],
    });
    const slowPort = Number(new URL(slow.apiUrl).port);
    const slowHeaders = Array.from({ length: 20 }, () =>
      trickle(slowPort, 'GET /v1/status HTTP/1.1\r\nhost: x\r\nx-slow: ' + 'a'.repeat(200), 100),
    );
    const slowBodies = Array.from({ length: 10 }, () =>
      trickle(
        slowPort,
        'POST /v1/apply HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n' +
          '{'.padEnd(1000, ' '),
        20,
      ),
    );
    // While they hold their connections, a normal apply is served.
    await apiApply(slow.apiUrl, [cluster('during-slowloris')], 'other');
    const ended = await Promise.all([...slowHeaders, ...slowBodies]);
    // Node answers 408 when it can, or just closes; either way none got a 2xx or a 5xx.
    for (const line of ended) assert.doesNotMatch(line, / [25]\d\d /, line);
    assert.ok(
      ended.some((line) => / 408 /.test(line)),
      `a timed-out client got 408: ${ended.join(' | ')}`,
    );
    await slow.stop();
    await fleetStillServed();
  });

  test('a gRPC management message over the limit gets RESOURCE_EXHAUSTED', async () => {
    const client = new GrpcClient(
      'ferry.v1.Management',
      cp.grpcApiAddress,
      credentials.createInsecure(),
    );
    try {
      const err = await client
        .unary('Apply', {
          group: 'other',
          resources: [{ type_url: CDS, value: Buffer.alloc(MAX_BODY + 1024, 1) }],
        })
        .then(
          () => undefined,
          (e: ServiceError) => e,
        );
      assert.ok(err, 'the oversized apply is refused');
      assert.equal(err.code, status.RESOURCE_EXHAUSTED, err.details);
      assert.match(err.details, /larger than max/);
      // The server lives: the next call on the same channel is served.
      const ok = await client.unary<object, { revision?: unknown }>('Status', {});
      assert.ok(ok);
    } finally {
      client.close();
    }
    await fleetStillServed();
  });

  test('200 concurrent applies: each applied atomically with its own revision, or a conflict', async () => {
    const before = await httpRequest(`${cp.apiUrl}/v1/status`);
    const startRevision = Number((JSON.parse(before.body) as { revision: number }).revision);
    const requests = Array.from({ length: 200 }, (_, i) => {
      const conditional = i % 2 === 1;
      const body = JSON.stringify({
        group: 'race',
        // Two resources per apply: both or neither may land.
        resources: [cluster(`race-${i}-a`), cluster(`race-${i}-b`)],
        message: `apply ${i}`,
        ...(conditional ? { expected_revision: startRevision } : {}),
      });
      return post(cp, body, 'application/json').then((reply) => ({ i, conditional, reply }));
    });
    const results = await Promise.all(requests);
    const applied = new Map<number, number>();
    for (const { i, conditional, reply } of results) {
      if (reply.status === 200) {
        applied.set(i, (JSON.parse(reply.body) as { revision: number }).revision);
      } else {
        assert.ok(conditional, `unconditional apply ${i} refused: ${reply.status} ${reply.body}`);
        assert.equal(reply.status, 409, reply.body);
        assert.match(reply.body, /FERRY_CONFLICT|revision/);
      }
    }
    const conditionalApplied = [...applied.keys()].filter((i) => i % 2 === 1);
    assert.ok(conditionalApplied.length <= 1, `conditional applies: ${conditionalApplied.join()}`);
    const revisions = [...applied.values()];
    assert.equal(new Set(revisions).size, revisions.length, 'every apply has its own revision');

    const list = await httpRequest(`${cp.apiUrl}/v1/resources?group=race&type=clusters`);
    const names = new Set(
      (JSON.parse(list.body) as { resources: Array<{ name: string }> }).resources.map(
        (r) => r.name,
      ),
    );
    for (let i = 0; i < 200; i++) {
      const expected = applied.has(i);
      assert.equal(names.has(`race-${i}-a`), expected, `race-${i}-a`);
      assert.equal(names.has(`race-${i}-b`), expected, `race-${i}-b`);
    }
    const history = await httpRequest(`${cp.apiUrl}/v1/history?limit=1000`);
    const entries = (
      JSON.parse(history.body) as {
        entries: Array<{ revision: number; message: string; changes: Array<{ name: string }> }>;
      }
    ).entries;
    for (const [i, revision] of applied) {
      const entry = entries.find((e) => e.revision === revision);
      assert.ok(entry, `revision ${revision} of apply ${i} is in the history`);
      assert.equal(entry.message, `apply ${i}`);
      assert.deepEqual(entry.changes.map((c) => c.name).sort(), [`race-${i}-a`, `race-${i}-b`]);
    }
    await fleetStillServed();
  });

  test('xDS: a first request without a node ends the stream with INVALID_ARGUMENT', async () => {
    const client = new GrpcClient(ADS, cp.xdsAddress, credentials.createInsecure());
    try {
      const call = client.stream<DiscoveryRequest, DiscoveryResponse>('StreamAggregatedResources');
      const ended = callStatus(call);
      call.write({ type_url: CDS, resource_names: [] });
      const { code, details } = await ended;
      assert.equal(code, status.INVALID_ARGUMENT, details);
      assert.match(details, /must carry the node/);
    } finally {
      client.close();
    }
    await fleetStillServed();
  });

  test('xDS: undecodable protobuf ends that stream; the server lives', async () => {
    const client = new Client(cp.xdsAddress, credentials.createInsecure());
    try {
      const call = rawAdsCall(client);
      const ended = callStatus(call);
      // Field 1 with wire type 7, which does not exist.
      call.write(Buffer.from([0x0f, 0xff, 0xff, 0xff]));
      // A call whose message cannot be decoded ends with INTERNAL, saying why.
      const { code, details } = await ended;
      assert.equal(code, status.INTERNAL, details);
      assert.match(details, /could not parse the request message: /);
    } finally {
      client.close();
    }
    await fleetStillServed();
  });

  test('xDS: 100,000 resource names are refused naming the limit; 20,000 are served', async () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `route-${i}`);
    const client = new GrpcClient(ADS, cp.xdsAddress, credentials.createInsecure());
    try {
      const call = client.stream<DiscoveryRequest, DiscoveryResponse>('StreamAggregatedResources');
      const ended = callStatus(call);
      call.write({
        node: { id: 'many-names', cluster: 'other' },
        type_url: RDS,
        resource_names: many,
      });
      const { code, details } = await ended;
      assert.equal(code, status.INVALID_ARGUMENT, details);
      assert.match(
        details,
        /100000 resource names .* over the limit of 20000 \(--xds-max-resource-names\)/,
      );
    } finally {
      client.close();
    }
    const within = new RawAdsClient(cp.xdsAddress, 'many-names-ok', 'other');
    try {
      within.request(RDS, many.slice(0, 20_000));
      const response = await within.next(30_000);
      assert.equal(response.type_url, RDS);
    } finally {
      within.close();
    }
    await fleetStillServed();
  });

  test('xDS: request floods and NACK storms are throttled; the fleet is still pushed to', async () => {
    const flooder = new RawAdsClient(cp.xdsAddress, 'flooder', 'fleet-floods');
    const nacker = new RawAdsClient(cp.xdsAddress, 'nacker', 'fleet-floods');
    try {
      flooder.request(CDS, []);
      nacker.request(CDS, []);
      const [first, rejected] = await Promise.all([flooder.next(), nacker.next()]);
      for (let i = 0; i < 3000; i++) {
        flooder.request(CDS, [], first);
        nacker.request(CDS, [], rejected, 'storm: rejected again');
      }
      await fleetStillServed();
      await eventually(
        async () =>
          ((await scrape(cp)).get('ferry_xds_streams_throttled_total') ?? 0) > 0 || undefined,
        'the flooding streams are throttled',
      );
      // The storm is counted, not logged 3,000 times.
      const logged = cp.logs.filter((l) => l.includes('"nacker"') && l.includes('config rejected'));
      assert.ok(logged.length <= 1, `NACK logged ${logged.length} times`);
      const nacks = (await scrape(cp)).get('ferry_xds_nacks_total{type="cds"}') ?? 0;
      assert.ok(nacks >= 1, `NACKs counted: ${nacks}`);
    } finally {
      flooder.close();
      nacker.close();
    }
  });

  test('xDS: a client that never reads is cut off past the unread limit', async () => {
    // A raw HTTP/2 client that sends one ADS request and never reads its stream: its receive
    // window fills and the server's sends pile up.
    const { session, stream } = rawAdsStream(cp.xdsAddress);
    const closed = new Promise<number>((resolve) =>
      stream.on('close', () => resolve(stream.rstCode ?? 0)),
    );
    try {
      stream.write(adsFrame({ node: { id: 'never-reads', cluster: 'slow' }, type_url: CDS }));
      const big = 'x'.repeat(200 * 1024);
      let pushes = 0;
      await eventually(
        async () => {
          pushes += 1;
          await apiApply(
            cp.apiUrl,
            [cluster('big', { metadata: { filter_metadata: { pad: { v: `${pushes}${big}` } } } })],
            'slow',
          );
          const m = await scrape(cp);
          return (
            (m.get('ferry_xds_streams_refused_total{reason="slow_reader"}') ?? 0) >= 1 || undefined
          );
        },
        'the client that never reads is cut off',
        60_000,
      );
      // Cut off only once more than the limit was unread (each push carries `big`).
      assert.ok(pushes * big.length > MAX_PENDING, `cut off after ${pushes} pushes`);
      assert.ok(cp.logs.some((l) => l.includes('never-reads') && l.includes('cut off')));
      // Its stream was reset with ENHANCE_YOUR_CALM (gRPC clients: RESOURCE_EXHAUSTED).
      assert.equal(await closed, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      await fleetStillServed();
    } finally {
      stream.destroy();
      session.destroy();
    }
  });

  test('xDS: 3,000 connect/disconnect cycles leave no streams and no heap behind', async () => {
    const streamsBefore = (await scrape(cp)).get('ferry_xds_connected_streams') ?? 0;
    const heapBefore = (await scrape(cp)).get('nodejs_heap_used_bytes') ?? 0;
    const cycles = 3000;
    const parallel = 30;
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async (_, lane) => {
        while (next < cycles) {
          next += 1;
          // A raw HTTP/2 connection of its own per cycle: connect, ask, get the answer, leave.
          const { session, stream } = rawAdsStream(cp.xdsAddress);
          try {
            const answered = new Promise<void>((resolve, reject) => {
              stream.once('data', () => resolve());
              stream.once('close', () => reject(new Error('stream closed before an answer')));
            });
            stream.write(
              adsFrame({ node: { id: `churn-${lane}`, cluster: 'churn' }, type_url: CDS }),
            );
            await answered;
          } finally {
            session.destroy();
          }
        }
      }),
    );
    await eventually(
      async () =>
        (await scrape(cp)).get('ferry_xds_connected_streams') === streamsBefore || undefined,
      'every churned stream is gone',
      30_000,
    );
    // The control plane runs with --debug-gc-on-metrics: heapUsed is live memory. A stream
    // with its call takes several KiB, so a per-connection leak exceeds the bound 3,000 times
    // over; the bound leaves room for caches that grow once (selections, compiled code).
    const heapAfter = (await scrape(cp)).get('nodejs_heap_used_bytes') ?? 0;
    const grown = heapAfter - heapBefore;
    assert.ok(
      grown < 4 * 1024 * 1024,
      `heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB after ${cycles} cycles`,
    );
    await fleetStillServed();
  });
});
