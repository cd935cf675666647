import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createLogger, type Logger } from '@ferry/shared';
import { startTcpRelay, type TcpRelay } from '@ferry/shared/testing/tcp-relay';
import { AdsClient } from './ads-client.js';
import { FakeAdsServer, nackingBuild } from './ads-test-fixtures.js';
import { ConfigSource } from './config-source.js';
import { XdsEndpointPicker } from './xds-endpoints.js';
import {
  keepaliveChannelOptions,
  keepaliveDetectionBoundMs,
  keepaliveNotice,
  streamEndReason,
  type XdsKeepalive,
} from './xds-keepalive.js';
import { xdsChannel } from './xds-transport.js';
import { CDS } from './resource-set.js';

/**
 * Short enough for a unit test. The timeout is generous: client, relay and fake servers share one
 * event loop, and a reply must not be late because the machine is busy. The bounds below are
 * liveness bounds, not timings.
 */
const FAST: XdsKeepalive = { intervalMs: 100, timeoutMs: 1500, jitter: 0 };
const BOUND_MS = 10_000;

/** A logger whose JSON lines land in `lines`. */
function capturingLogger(lines: Record<string, unknown>[]): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: 'warn' }, sink);
}

function source(): ConfigSource {
  return new ConfigSource({
    staticListeners: [],
    staticClusters: [],
    build: nackingBuild,
    onConfig: () => undefined,
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * An HTTP/2 server that completes the connection preface (its SETTINGS, and the ACK of the
 * client's) and then never sends another byte: streams get no response and PINGs no reply, while
 * the TCP connection stays open. `closed` resolves when the client closes the connection.
 */
async function silentHttp2Server(): Promise<{
  target: string;
  closed: Promise<void>;
  close(): void;
}> {
  let closedBy: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (closedBy = resolve));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => closedBy());
    // SETTINGS (empty): length 0, type 4, flags 0, stream 0.
    socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    // The client's preface carries its SETTINGS: acknowledge them (flags 1), then stay silent.
    socket.once('data', () => socket.write(Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0])));
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
  return {
    target: `127.0.0.1:${port}`,
    closed,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * Counts the PING frames (type 6, not ACKs) a client sends on one HTTP/2 connection, from the
 * bytes a relay forwards towards the server: the 24-byte preface, then 9-byte frame headers.
 */
function pingCounter(): {
  observe(fromClient: boolean, chunk: Buffer): void;
  readonly pings: number;
} {
  let buffered = Buffer.alloc(0);
  let prefaceLeft = 24;
  let pings = 0;
  return {
    observe(fromClient, chunk) {
      if (!fromClient) return;
      buffered = Buffer.concat([buffered, chunk]);
      const skip = Math.min(prefaceLeft, buffered.length);
      buffered = buffered.subarray(skip);
      prefaceLeft -= skip;
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        if (buffered[3] === 6 && (buffered[4]! & 1) === 0) pings += 1;
        buffered = buffered.subarray(9 + length);
      }
    },
    get pings() {
      return pings;
    },
  };
}

describe('xDS connection keepalive: options', () => {
  test('the PING interval carries the jitter drawn once, the timeout and PINGs without calls', () => {
    const keepalive: XdsKeepalive = { intervalMs: 10_000, timeoutMs: 3000, jitter: 0.15 };
    assert.deepEqual(
      keepaliveChannelOptions(keepalive, () => 0),
      {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 3000,
        'grpc.keepalive_permit_without_calls': 1,
      },
    );
    assert.equal(keepaliveChannelOptions(keepalive, () => 0.5)['grpc.keepalive_time_ms'], 10_750);
    assert.equal(
      keepaliveChannelOptions({ ...keepalive, jitter: 0 }, () => 0.99)['grpc.keepalive_time_ms'],
      10_000,
      'interval_jitter 0: no jitter',
    );
    assert.equal(keepaliveDetectionBoundMs(keepalive), 11_500 + 3000);
  });

  test('the channel of ADS, HDS and LRS carries them, with TLS options or without', () => {
    const plain = xdsChannel(undefined, FAST, () => 0);
    assert.equal(plain.options['grpc.keepalive_time_ms'], 100);
    assert.equal(plain.options['grpc.keepalive_timeout_ms'], 1500);
    assert.deepEqual(plain.keepalive, FAST);
    const none = xdsChannel(undefined);
    assert.deepEqual(none.options, {}, 'no keepalive: no PINGs (Envoy default)');
    assert.equal(none.keepalive, undefined);
  });

  test('at start: the keepalive in use, or a warning when several control planes have none', () => {
    const on = keepaliveNotice(FAST, ['a:1', 'b:1']);
    assert.equal(on?.level, 'info');
    assert.deepEqual(on?.fields, { interval_ms: 100, timeout_ms: 1500, detection_bound_ms: 1600 });
    const off = keepaliveNotice(undefined, ['a:1', 'b:1']);
    assert.equal(off?.level, 'warn');
    assert.match(off?.msg ?? '', /sets no connection_keepalive: one that hangs .* is never left/);
    assert.equal(
      keepaliveNotice(undefined, ['a:1']),
      undefined,
      'one control plane: nothing to say',
    );
  });

  test("a dropped connection's reason names the keepalive only when it is on", () => {
    assert.equal(
      streamEndReason('14 UNAVAILABLE: Connection dropped', undefined),
      '14 UNAVAILABLE: Connection dropped',
    );
    assert.match(
      streamEndReason('Connection dropped', FAST),
      /^Connection dropped: the control plane closed the connection, or left a keepalive PING unanswered for 1500 ms$/,
    );
    assert.equal(streamEndReason('stream ended by the server', FAST), 'stream ended by the server');
  });
});

describe('xDS connection keepalive: a control plane that stops answering', () => {
  let client: AdsClient | undefined;
  const cleanups: (() => unknown)[] = [];

  afterEach(async () => {
    client?.close();
    client = undefined;
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  test('a server that never answers PINGs: the proxy drops the connection and says why', async () => {
    const silent = await silentHttp2Server();
    cleanups.push(() => silent.close());
    const states: { connected: boolean; reason?: string }[] = [];
    client = new AdsClient({
      target: silent.target,
      node: { id: 'n-silent', cluster: 'g1' },
      handler: {
        onResponse: () => ({ errors: [], rejected: [] }),
        subscribedNames: () => [],
        onConnectionState: (connected: boolean, reason?: string) =>
          states.push({ connected, ...(reason !== undefined ? { reason } : {}) }),
      },
      channel: xdsChannel(undefined, FAST),
      logger: createLogger('test', 'silent'),
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    client.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      silent.closed,
      new Promise((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error('the proxy kept the silent connection open')),
          BOUND_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    await until(() => states.some((s) => !s.connected), 'the stream reported down');
    const down = states.find((s) => !s.connected)!;
    assert.match(down.reason ?? '', /keepalive PING unanswered for 1500 ms/);
  });

  test('the proxy fails over to the next control plane and resumes there with what it holds', async () => {
    const a = new FakeAdsServer('sotw');
    const b = new FakeAdsServer('sotw');
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const counter = pingCounter();
    const relay: TcpRelay = await startTcpRelay(Number((await a.listen()).split(':')[1]), {
      observe: (fromClient, chunk) => counter.observe(fromClient, chunk),
    });
    cleanups.push(() => relay.close());
    const bTarget = await b.listen();
    const lines: Record<string, unknown>[] = [];
    const endpoints = new XdsEndpointPicker(
      [
        { target: relay.address, priority: 0 },
        { target: bTarget, priority: 1 },
      ],
      { random: () => 0 },
    );
    client = new AdsClient({
      endpoints,
      node: { id: 'n-hung', cluster: 'g1' },
      handler: source(),
      channel: xdsChannel(undefined, FAST),
      logger: capturingLogger(lines),
      backoff: { initialMs: 10, maxMs: 50 },
    });
    client.start();
    await a.request((r) => r.type_url === CDS, 'CDS request on A');
    a.write({ type_url: CDS, version_info: 'v1', nonce: 'a-1', resources: [] });
    await a.request((r) => r.type_url === CDS && r.version_info === 'v1', 'ACK of v1 on A');
    // grpc-js sends a PING only after the previous one was answered: three sent means two
    // round trips, and the connection stays while A answers.
    await until(() => counter.pings >= 3, 'three PINGs through A');
    assert.equal(client.target, relay.address, 'still on A while it answers PINGs');
    assert.equal(relay.accepted, 1, 'one connection to A throughout');
    assert.equal(b.streams, 0);

    relay.freeze();
    const resumed = await b.request((r) => r.type_url === CDS, 'CDS request on B');
    assert.equal(resumed.version_info, 'v1', 'resumes on B with the version it holds');
    assert.equal(client.target, bTarget);
    const failover = lines.find((l) => l.target === relay.address && l.next_target === bTarget);
    assert.ok(failover, `a warning names A and B: ${JSON.stringify(lines)}`);
    assert.match(String(failover.reason), /keepalive PING unanswered for 1500 ms/);
    assert.match(String(failover.msg), /failing over to/);
  });
});
