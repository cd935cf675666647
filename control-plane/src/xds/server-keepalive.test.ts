import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { startTcpRelay, type TcpRelay } from '@ferry/shared/testing/tcp-relay';
import { CDS, node, SotwClient, startHarness, waitFor, type Harness } from './test-support.js';
import { DEFAULT_XDS_SERVER_KEEPALIVE } from './server-keepalive.js';

describe('xDS server keepalive', () => {
  let harness: Harness | undefined;
  let relay: TcpRelay | undefined;
  let client: SotwClient | undefined;
  let session: http2.ClientHttp2Session | undefined;

  afterEach(async () => {
    client?.close();
    session?.destroy();
    await relay?.close();
    await harness?.close();
    client = undefined;
    session = undefined;
    relay = undefined;
    harness = undefined;
  });

  test('the defaults: a PING every 30 s, a reply within 10 s', () => {
    assert.deepEqual(DEFAULT_XDS_SERVER_KEEPALIVE, { intervalMs: 30_000, timeoutMs: 10_000 });
  });

  test("a proxy's PINGs are answered at any rate, with or without a stream, and never refused", async () => {
    harness = await startHarness();
    session = http2.connect(`http://${harness.address}`);
    const goaways: number[] = [];
    session.on('goaway', (code: number) => goaways.push(code));
    session.on('error', () => undefined);
    await new Promise((resolve) => session!.once('connect', resolve));
    const ping = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const sent = session!.ping((err) => (err ? reject(err) : resolve()));
        if (!sent) reject(new Error('PING not sent'));
      });
    // Far faster than any keepalive interval: no stream is open yet.
    for (let i = 0; i < 200; i++) await ping();
    client = new SotwClient(harness.address);
    client.request(CDS, [], { node: node('pinger') });
    await client.expect(CDS);
    for (let i = 0; i < 200; i++) await ping();
    assert.deepEqual(goaways, [], 'no GOAWAY (too_many_pings or other)');
    assert.equal(session.closed || session.destroyed, false);
  });

  test("a proxy that stops answering the server's PINGs has its stream released", async () => {
    harness = await startHarness({ keepalive: { intervalMs: 100, timeoutMs: 1000 } });
    relay = await startTcpRelay(harness.port);
    client = new SotwClient(relay.address);
    client.request(CDS, [], { node: node('vanishing') });
    await client.expect(CDS);
    const connected = (): boolean | undefined =>
      harness!.fleet.nodes({ nodeId: 'vanishing' })[0]?.connected;
    assert.equal(connected(), true);
    // The proxy's side goes silent (a partition): its connection is never closed from there.
    relay.freeze();
    await waitFor(() => connected() === false, 'the node shown disconnected');
    assert.equal(harness.fleet.nodes({ nodeId: 'vanishing' })[0]?.streams.length, 0);
  });
});
