/**
 * Downstream protocols through a real ferry-proxy configured by `ferryctl apply` on a real control
 * plane: HTTP/1.1, h2c (prior knowledge), TLS with ALPN (h2 and http/1.1) where SNI selects one of
 * two filter chains (each its own certificate and routes), and a WebSocket upgrade with a frame
 * echoed through the proxy. Certificates are made with openssl for the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import {
  edsClusterResource,
  endpointsResource,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  type Backend,
  type ControlPlane,
  type Json,
  type KeyPair,
} from './harness.js';

/** A backend that accepts WebSocket upgrades and echoes each (small, masked) text frame. */
async function startWebSocketBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const accept = crypto
      .createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\nx-backend: ws\r\n\r\n`,
    );
    socket.on('data', (frame: Buffer) => {
      // One frame per chunk is enough here: the client sends one frame of < 126 bytes.
      const length = frame[1]! & 0x7f;
      const mask = frame.subarray(2, 6);
      const payload = Buffer.from(frame.subarray(6, 6 + length).map((b, i) => b ^ mask[i % 4]!));
      socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function tlsContext(pair: KeyPair): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: {
        tls_certificates: [
          {
            certificate_chain: { inline_string: pair.cert },
            private_key: { inline_string: pair.key },
          },
        ],
        alpn_protocols: ['h2', 'http/1.1'],
      },
    },
  };
}

function virtualHost(name: string, cluster: string): Json {
  return {
    name,
    domains: ['*'],
    routes: [
      { match: { prefix: '/ws' }, route: { cluster: 'ws' } },
      { match: { prefix: '/' }, route: { cluster } },
    ],
  };
}

describe('ferry-proxy protocols: HTTP/1.1, h2c, TLS + ALPN + SNI, WebSocket', () => {
  let cp: ControlPlane;
  let a: Backend;
  let b: Backend;
  let ws: Awaited<ReturnType<typeof startWebSocketBackend>>;
  let port: number;
  let certA: KeyPair;
  let certB: KeyPair;

  before(async () => {
    const dir = tempDir('certs');
    certA = selfSigned(dir, 'a.test');
    certB = selfSigned(dir, 'b.test');
    [cp, a, b, ws, port] = await Promise.all([
      startControlPlane(),
      startBackend('a'),
      startBackend('b'),
      startWebSocketBackend(),
      freePort(),
    ]);
    const hcmExtra = { upgrade_configs: [{ upgrade_type: 'websocket' }] };
    const resources: Json[] = [
      {
        ...listenerResource('edge', port, [
          {
            name: 'tls-a',
            filter_chain_match: { server_names: ['a.test'], transport_protocol: 'tls' },
            transport_socket: tlsContext(certA),
            filters: [hcmFilter({ rds: 'routes-a' }, hcmExtra)],
          },
          {
            name: 'tls-b',
            filter_chain_match: { server_names: ['b.test'], transport_protocol: 'tls' },
            transport_socket: tlsContext(certB),
            filters: [hcmFilter({ rds: 'routes-b' }, hcmExtra)],
          },
          {
            name: 'plain',
            filter_chain_match: { transport_protocol: 'raw_buffer' },
            filters: [hcmFilter({ rds: 'routes-a' }, hcmExtra)],
          },
        ]),
        listener_filters: [
          {
            name: 'envoy.filters.listener.tls_inspector',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
            },
          },
        ],
      },
      routeConfigResource('routes-a', [virtualHost('a', 'a')]),
      routeConfigResource('routes-b', [virtualHost('b', 'b')]),
      edsClusterResource('a'),
      edsClusterResource('b'),
      edsClusterResource('ws'),
      endpointsResource('a', [a.port]),
      endpointsResource('b', [b.port]),
      endpointsResource('ws', [ws.port]),
    ];
    const applied = await ferryctl(
      cp.apiUrl,
      ['apply', '-f', '-'],
      resources.map((r) => JSON.stringify(r)).join('\n---\n'),
    );
    assert.equal(applied.code, 0, applied.stderr);
    await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'protocols-1', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${port}/warm`);
      return res.status === 200 ? true : undefined;
    }, 'the proxy to route');
  });
  after(async () => {
    await stopAll();
    await Promise.all([a?.close(), b?.close(), ws?.close()]);
  });

  test('HTTP/1.1 cleartext', async () => {
    const res = await httpRequest(`http://127.0.0.1:${port}/one?q=1`, { host: 'example.test' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'a /one?q=1');
    assert.equal(res.headers['x-backend'], 'a');
  });

  test('h2c with prior knowledge (HTTP/2 downstream, HTTP/1.1 upstream)', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (let i = 0; i < 3; i++) {
        const { status, body, backend } = await h2Get(session, `/h2c/${i}`);
        assert.equal(status, 200);
        assert.equal(body, `a /h2c/${i}`);
        assert.equal(backend, 'a');
      }
    } finally {
      session.close();
    }
  });

  test('TLS with ALPN h2: SNI a.test selects chain tls-a (its certificate and routes)', async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      servername: 'a.test',
      ca: certA.cert,
    });
    try {
      const { status, body } = await h2Get(session, '/secure-h2');
      assert.equal(status, 200);
      assert.equal(body, 'a /secure-h2');
      const socket = session.socket as tls.TLSSocket;
      assert.equal(socket.alpnProtocol, 'h2');
      assert.equal(socket.getPeerCertificate().subject.CN, 'a.test');
    } finally {
      session.close();
    }
  });

  test('TLS with ALPN http/1.1: SNI b.test selects chain tls-b', async () => {
    const res = await new Promise<{
      status: number;
      body: string;
      alpn: string | false | null;
      cn: string;
    }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path: '/secure-h1',
          servername: 'b.test',
          headers: { host: 'b.test' },
          ca: certB.cert,
          ALPNProtocols: ['http/1.1'],
          agent: false,
        } as https.RequestOptions & tls.ConnectionOptions,
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (d: string) => (body += d));
          response.on('end', () => {
            const socket = response.socket as tls.TLSSocket;
            resolve({
              status: response.statusCode ?? 0,
              body,
              alpn: socket.alpnProtocol,
              cn: String(socket.getPeerCertificate().subject.CN),
            });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'b /secure-h1');
    assert.equal(res.alpn, 'http/1.1');
    assert.equal(res.cn, 'b.test');
  });

  test('TLS without ALPN falls back to HTTP/1.1', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ca: certA.cert });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      assert.equal(socket.alpnProtocol, false);
      socket.write('GET /no-alpn HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
      let response = '';
      socket.setEncoding('utf8');
      for await (const chunk of socket) response += chunk as string;
      assert.match(response, /^HTTP\/1\.1 200 /);
      assert.ok(response.includes('\r\n\r\n') && response.includes('a /no-alpn'), response);
    } finally {
      socket.destroy();
    }
  });

  test('a WebSocket upgrade passes through and a frame is echoed', async () => {
    const socket = net.connect(port, '127.0.0.1');
    try {
      const key = crypto.randomBytes(16).toString('base64');
      socket.write(
        'GET /ws/chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      let received = Buffer.alloc(0);
      const waitFor = (done: (data: Buffer) => boolean): Promise<Buffer> =>
        new Promise((resolve, reject) => {
          const check = (): void => {
            if (!done(received)) return;
            socket.off('data', onData);
            resolve(received);
          };
          const onData = (chunk: Buffer): void => {
            received = Buffer.concat([received, chunk]);
            check();
          };
          socket.on('data', onData);
          socket.once('error', reject);
          socket.once('close', () => reject(new Error(`closed: ${received.toString('latin1')}`)));
          check();
        });
      const head = await waitFor((d) => d.includes('\r\n\r\n'));
      const headEnd = head.indexOf('\r\n\r\n') + 4;
      const text = head.subarray(0, headEnd).toString('latin1');
      assert.match(text, /^HTTP\/1\.1 101 /);
      const expectedAccept = crypto
        .createHash('sha1')
        .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      assert.match(
        text,
        new RegExp(
          `\\r\\nsec-websocket-accept: ${expectedAccept.replace(/[+/]/g, '\\$&')}\\r\\n`,
          'i',
        ),
      );
      received = received.subarray(headEnd);

      const payload = Buffer.from('hello through ferry');
      const mask = crypto.randomBytes(4);
      const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
      socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
      const frame = await waitFor((d) => d.length >= 2 + payload.length);
      assert.equal(frame[0], 0x81);
      assert.equal(frame[1], payload.length);
      assert.equal(frame.subarray(2, 2 + payload.length).toString(), 'hello through ferry');
    } finally {
      socket.destroy();
    }
  });
});

function h2Get(
  session: http2.ClientHttp2Session,
  pathname: string,
): Promise<{ status: number; body: string; backend: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': pathname, ':authority': 'example.test' });
    let status = 0;
    let backend = '';
    let body = '';
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      backend = String(headers['x-backend']);
    });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => resolve({ status, body, backend }));
    stream.on('error', reject);
    stream.end();
  });
}
