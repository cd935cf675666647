/**
 * The ClientHello reader against real ClientHellos: each test captures what node's tls.connect
 * sends (the first TLS record, read by a plain TCP server that never answers) and checks what
 * the reader makes of it, whole, byte by byte, fragmented over records and corrupted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.js';

let server: net.Server;
let port: number;
const captures = new Map<number, (hello: Buffer) => void>();

/** The first TLS record a client sends: 5-byte header plus its announced length. */
before(async () => {
  server = net.createServer((socket) => {
    let seen = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (seen.length < 5 || seen.length < 5 + seen.readUInt16BE(3)) return;
      captures.get(socket.remotePort!)?.(seen.subarray(0, 5 + seen.readUInt16BE(3)));
      socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    client.on('error', () => undefined);
    client.once('connect', () => captures.set(client.localPort!, resolve));
    client.once('close', () => reject(new Error('closed before the ClientHello was captured')));
    // The capture resolves first when it happens; this only bounds a broken run.
    client.setTimeout(5000, () => client.destroy());
  });
}

/** The same handshake message re-wrapped in records of at most `size` payload bytes. */
function refragment(hello: Buffer, size: number): Buffer {
  const message = hello.subarray(5);
  const records: Buffer[] = [];
  for (let offset = 0; offset < message.length; offset += size) {
    const fragment = message.subarray(offset, offset + size);
    const header = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    header.writeUInt16BE(fragment.length, 3);
    records.push(header, fragment);
  }
  return Buffer.concat(records);
}

describe('parseClientHello on ClientHellos from node:tls', () => {
  test('SNI (lower-cased) and ALPN in the client’s order, TLS 1.3', async () => {
    const hello = await captureHello({
      servername: 'Shop.Example.COM',
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    assert.deepEqual(parseClientHello(hello), {
      kind: 'client-hello',
      serverName: 'shop.example.com',
      applicationProtocols: ['h2', 'http/1.1'],
    });
  });

  test('no SNI (an IP address as host) and no ALPN', async () => {
    const hello = await captureHello({});
    assert.deepEqual(parseClientHello(hello), {
      kind: 'client-hello',
      serverName: '',
      applicationProtocols: [],
    });
  });

  test('a TLS 1.2-only client', async () => {
    const hello = await captureHello({
      servername: 'legacy.test',
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    });
    assert.deepEqual(parseClientHello(hello), {
      kind: 'client-hello',
      serverName: 'legacy.test',
      applicationProtocols: ['http/1.1'],
    });
  });

  test('every proper prefix needs more bytes; the whole hello decides', async () => {
    const hello = await captureHello({ servername: 'a.test', ALPNProtocols: ['h2'] });
    for (let n = 0; n < hello.length; n++)
      assert.equal(parseClientHello(hello.subarray(0, n)).kind, 'need-more', `prefix ${n}`);
    assert.equal(parseClientHello(hello).kind, 'client-hello');
  });

  test('a hello fragmented over several records is reassembled', async () => {
    const hello = await captureHello({ servername: 'frag.test', ALPNProtocols: ['h2'] });
    const expected = {
      kind: 'client-hello',
      serverName: 'frag.test',
      applicationProtocols: ['h2'],
    };
    for (const size of [1, 3, 50]) {
      const fragmented = refragment(hello, size);
      assert.deepEqual(parseClientHello(fragmented), expected, `records of ${size} bytes`);
      assert.equal(
        parseClientHello(fragmented.subarray(0, fragmented.length - 1)).kind,
        'need-more',
      );
    }
  });

  test('bytes after the hello (early data) are ignored', async () => {
    const hello = await captureHello({ servername: 'b.test' });
    const withMore = Buffer.concat([hello, Buffer.from([0x17, 0x03, 0x03, 0x00, 0x01, 0x00])]);
    assert.equal(parseClientHello(withMore).kind, 'client-hello');
  });

  test('a hello that cannot fit the limit is too large', async () => {
    const hello = await captureHello({ servername: 'c.test' });
    assert.equal(parseClientHello(hello, hello.length - 1).kind, 'too-large');
    assert.equal(parseClientHello(hello.subarray(0, 20), 10).kind, 'too-large');
    // A handshake header announcing more than 64 KiB is refused before the bytes arrive.
    const huge = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00]);
    assert.equal(parseClientHello(huge).kind, 'too-large');
    assert.ok(MAX_CLIENT_HELLO_BYTES === 64 * 1024);
  });

  test('corrupted hellos are not TLS', async () => {
    const hello = await captureHello({ servername: 'd.test', ALPNProtocols: ['h2'] });
    const corrupt = (at: number, value: number): Buffer => {
      const copy = Buffer.from(hello);
      copy[at] = value;
      return copy;
    };
    assert.equal(parseClientHello(corrupt(5, 2)).kind, 'not-tls', 'handshake type ServerHello');
    assert.equal(parseClientHello(corrupt(5 + 4 + 34, 33)).kind, 'not-tls', 'session id > 32');
    // The extensions block claims one byte more than the message has.
    const extensionsAt = extensionsOffset(hello);
    const long = Buffer.from(hello);
    long.writeUInt16BE(long.readUInt16BE(extensionsAt) + 1, extensionsAt);
    assert.equal(parseClientHello(long).kind, 'not-tls', 'extensions overrun');
  });

  test('a duplicated extension is not TLS (RFC 8446 §4.2)', async () => {
    const hello = await captureHello({ servername: 'e.test' });
    const extensionsAt = extensionsOffset(hello);
    const sni = findExtension(hello, extensionsAt, 0)!;
    const body = hello.subarray(5);
    const doubled = Buffer.concat([body, sni]);
    doubled.writeUIntBE(doubled.length - 4, 1, 3);
    const at = extensionsAt - 5;
    doubled.writeUInt16BE(doubled.readUInt16BE(at) + sni.length, at);
    const header = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    header.writeUInt16BE(doubled.length, 3);
    assert.equal(parseClientHello(Buffer.concat([header, doubled])).kind, 'not-tls');
  });
});

describe('parseClientHello on other protocols', () => {
  test('plain HTTP is not TLS from its first byte', () => {
    assert.equal(parseClientHello(Buffer.from('G')).kind, 'not-tls');
    assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'not-tls');
  });

  test('a handshake record with another major version is not TLS', () => {
    assert.equal(parseClientHello(Buffer.from([0x16, 0x02])).kind, 'not-tls');
  });

  test('an empty or oversized record is not TLS', () => {
    assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])).kind, 'not-tls');
    assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])).kind, 'not-tls');
  });

  test('nothing yet needs more', () => {
    assert.equal(parseClientHello(Buffer.alloc(0)).kind, 'need-more');
  });
});

/** Offset of the extensions length in a single-record hello (header, type, length, ...). */
function extensionsOffset(hello: Buffer): number {
  let at = 5 + 4 + 2 + 32;
  at += 1 + hello[at]!;
  at += 2 + hello.readUInt16BE(at);
  at += 1 + hello[at]!;
  return at;
}

function findExtension(hello: Buffer, extensionsAt: number, type: number): Buffer | undefined {
  const end = extensionsAt + 2 + hello.readUInt16BE(extensionsAt);
  for (let at = extensionsAt + 2; at < end;) {
    const length = hello.readUInt16BE(at + 2);
    if (hello.readUInt16BE(at) === type) return hello.subarray(at, at + 4 + length);
    at += 4 + length;
  }
  return undefined;
}
