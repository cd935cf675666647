/**
 * Request smuggling defences of a real ferry-proxy: the shared vector table of malformed and
 * ambiguous HTTP/1.1 requests is sent over raw TCP to a cleartext listener (ferry-proxy's own
 * HTTP/1.1 codec) and over raw TLS to a TLS listener (node:http behind codec-node). Each must get
 * its status and never reach the backend as a complete request (a refused head not even as a
 * head); the vectors the proxy serves must reach the backend exactly as the table says (and
 * nothing after them). Then a bounded mutation fuzz loop against both listeners: the proxy stays up, a valid
 * request still works, and no request the proxy refused ever completes at the backend.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  readResponseHeads,
  responsesMismatch,
  SMUGGLING_VECTORS,
  type ForwardedRequest,
} from '@ferry/shared/testing/http1-smuggling-vectors';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import {
  freePort,
  hcmFilter,
  listenerResource,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  tempDir,
  type Json,
  type KeyPair,
  type Proxy,
} from './harness.js';

/**
 * The backend: records the marker (x-vector) of every head it receives and every complete
 * request, and each complete request as the smuggling table describes a forwarded one.
 */
interface RecordingBackend {
  port: number;
  heads: string[];
  complete: string[];
  /** Complete requests; `absent` holds every field name the request arrived with. */
  requests: ForwardedRequest[];
  close(): Promise<void>;
}

async function startRecordingBackend(): Promise<RecordingBackend> {
  const heads: string[] = [];
  const complete: string[] = [];
  const requests: ForwardedRequest[] = [];
  const server = http.createServer((req, res) => {
    const marker = String(req.headers['x-vector'] ?? '');
    heads.push(marker);
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => {
      complete.push(marker);
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        authority: req.headers.host ?? '',
        body: Buffer.concat(body).toString('latin1'),
        absent: Object.keys(req.headers),
      });
      res.writeHead(200, { 'x-backend': 'rec', 'content-length': '2' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    heads,
    complete,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Exchange {
  text: string;
  /** Status of the first response, 0 when none. */
  status: number;
  fromBackend: boolean;
}

/**
 * Writes `bytes` and reads until the proxy closes (bounded). With `halfClose` the client closes
 * its side after writing (what a proxy does with a response then is its choice; only refusals,
 * which are written before, are relied on).
 */
function exchange(
  socket: net.Socket,
  bytes: Buffer,
  halfClose = false,
  timeoutMs = 5000,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    let text = '';
    const bound = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `the proxy did not close within ${timeoutMs} ms; received ${JSON.stringify(text.slice(0, 300))}`,
        ),
      );
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(bound);
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({
        text,
        status: match ? Number(match[1]) : 0,
        fromBackend: /\r\nx-backend: rec\r\n/i.test(text),
      });
    });
    socket.write(bytes, () => {
      if (halfClose) socket.end();
    });
  });
}

function plainConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function tlsConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        port,
        host: '127.0.0.1',
        servername: 'smuggling.test',
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      },
      () => resolve(socket),
    );
    socket.once('error', reject);
  });
}

/** The vector with a marker field after its request line, to find it at the backend. */
function marked(request: string, marker: string): Buffer {
  const lineEnd = request.indexOf('\r\n');
  const at = lineEnd < 0 ? request.length : lineEnd + 2;
  return Buffer.from(
    `${request.slice(0, at)}X-Vector: ${marker}\r\n${request.slice(at)}`,
    'latin1',
  );
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
        alpn_protocols: ['http/1.1'],
      },
    },
  };
}

/**
 * /abs reaches the backend only through the absolute.example virtual host: an absolute-form
 * request is routed by its target's authority, not by its Host field.
 */
const routeConfig = {
  name: 'local',
  virtual_hosts: [
    {
      name: 'absolute',
      domains: ['absolute.example'],
      routes: [{ match: { prefix: '/' }, route: { cluster: 'rec' } }],
    },
    {
      name: 'all',
      domains: ['*'],
      routes: [
        { match: { prefix: '/abs' }, direct_response: { status: 404 } },
        { match: { prefix: '/' }, route: { cluster: 'rec' } },
      ],
    },
  ],
};

/** Both listeners serve HTTP/1.0, so the HTTP/1.0 vectors meet the codec, not the 426. */
const hcm = hcmFilter({ routeConfig }, { http_protocol_options: { accept_http_10: true } });

/**
 * What the backend received in the table's terms: `absent` becomes the fields of the table's
 * `absent` list that did arrive (none, when the proxy is right).
 */
function asForwarded(
  received: ForwardedRequest,
  expected: ForwardedRequest | undefined,
): ForwardedRequest {
  const arrived = new Set(received.absent);
  return { ...received, absent: (expected?.absent ?? []).filter((name) => arrived.has(name)) };
}

const LISTENERS = [
  { name: 'cleartext (ferry-proxy HTTP/1.1 codec)', connect: plainConnect, tls: false },
  { name: 'TLS (node:http behind codec-node)', connect: tlsConnect, tls: true },
] as const;

/**
 * node:http bounds chunk extensions at 16 KiB, not at the codec's 4 KiB size line, so a 5 KB
 * extension is accepted on the TLS listener.
 */
const NOT_ON_NODE_PATH = new Set(['oversized chunk-size line']);

describe('ferry-proxy against request smuggling', () => {
  let backend: RecordingBackend;
  let proxy: Proxy;
  const ports = { plain: 0, tls: 0 };

  before(async () => {
    const pair = selfSigned(tempDir('smuggling-certs'), 'smuggling.test');
    [backend, ports.plain, ports.tls] = await Promise.all([
      startRecordingBackend(),
      freePort(),
      freePort(),
    ]);
    proxy = await startProxy({
      bootstrap: staticBootstrap({
        nodeId: 'smuggling-1',
        listeners: [
          listenerResource('plain', ports.plain, [{ filters: [hcm] }]),
          listenerResource('tls', ports.tls, [
            { transport_socket: tlsContext(pair), filters: [hcm] },
          ]),
        ],
        clusters: [staticClusterResource('rec', [backend.port])],
      }),
      concurrency: 1,
    });
  });
  after(async () => {
    await stopAll();
    await backend?.close();
  });

  for (const listener of LISTENERS) {
    const port = (): number => (listener.tls ? ports.tls : ports.plain);

    test(`${listener.name}: a valid request reaches the backend (control)`, async () => {
      const ex = await exchange(
        await listener.connect(port()),
        marked(
          'GET /control HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
          `control-${listener.tls}`,
        ),
      );
      assert.equal(ex.status, 200, ex.text);
      assert.equal(ex.fromBackend, true);
      assert.ok(backend.complete.includes(`control-${listener.tls}`));
    });

    for (const [index, vector] of SMUGGLING_VECTORS.entries()) {
      if (vector.name === 'HTTP/1.0 refused (accept_http_10 false)') continue; // needs listener config
      if (listener.tls && NOT_ON_NODE_PATH.has(vector.name)) continue;
      const marker = `${listener.tls ? 'tls' : 'plain'}-${index}`;
      if (vector.forwarded !== undefined) {
        const forwarded = vector.forwarded;
        test(`${listener.name}: ${vector.name} → the backend gets ${forwarded.length}, the client ${vector.responses!.map((r) => r.status).join(', ')}`, async () => {
          const from = backend.requests.length;
          const ex = await exchange(await listener.connect(port()), marked(vector.request, marker));
          assert.equal(
            responsesMismatch(vector, readResponseHeads(ex.text)),
            undefined,
            JSON.stringify(ex.text.slice(0, 600)),
          );
          // A sentinel through the same listener: the backend has seen everything sent before it.
          const sentinel = await exchange(
            await listener.connect(port()),
            marked(
              'GET /sentinel HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
              `sentinel-${marker}`,
            ),
          );
          assert.equal(sentinel.status, 200);
          assert.deepEqual(
            backend.requests
              .slice(from, -1)
              .map((received, i) => asForwarded(received, forwarded[i])),
            forwarded.map((request) => ({ ...request, absent: [] })),
          );
        });
        continue;
      }
      test(`${listener.name}: ${vector.name} → ${vector.status}, never reaches the backend`, async () => {
        const ex = await exchange(await listener.connect(port()), marked(vector.request, marker));
        assert.equal(
          ex.status,
          vector.status,
          `expected ${vector.status}, got ${ex.status}: ${JSON.stringify(ex.text.slice(0, 300))}`,
        );
        assert.equal(ex.fromBackend, false);
        // A sentinel through the same listener: the backend has seen everything sent before it.
        const sentinel = await exchange(
          await listener.connect(port()),
          marked(
            'GET /sentinel HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
            `sentinel-${marker}`,
          ),
        );
        assert.equal(sentinel.status, 200);
        assert.equal(
          backend.complete.includes(marker),
          false,
          'the refused request completed at the backend',
        );
        if (!vector.afterHead)
          assert.equal(
            backend.heads.includes(marker),
            false,
            'the refused head reached the backend',
          );
      });
    }
  }

  test('fuzz: mutated requests never crash the proxy, and refused ones never complete at the backend', async () => {
    const seeds = [
      'GET /f HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n',
      'POST /f HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello',
      'POST /f HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
      'GET /f HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTE: trailers\r\n\r\n',
    ];
    const interesting = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x2c, 0x3b, 0x30, 0x66, 0x7f, 0xff];
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 0xffffffff);
    let state = seed >>> 0 || 1;
    const next = (): number => {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      return state / 0x1_0000_0000;
    };
    const refusedMarkers: string[] = [];
    const refusals = new Map<string, string>();
    const deadline = Date.now() + 60_000;
    let iterations = 0;
    for (; iterations < 300 && Date.now() < deadline; iterations++) {
      const bytes = [...Buffer.from(seeds[Math.floor(next() * seeds.length)]!, 'latin1')];
      for (let m = 1 + Math.floor(next() * 3); m > 0; m--) {
        const at = Math.floor(next() * bytes.length);
        const kind = Math.floor(next() * 3);
        if (kind === 0) bytes[at] = Math.floor(next() * 256);
        else if (kind === 1)
          bytes.splice(at, 0, interesting[Math.floor(next() * interesting.length)]!);
        else bytes.splice(at, 1 + Math.floor(next() * 3));
      }
      const listener = LISTENERS[iterations % 2]!;
      const marker = `fuzz-${iterations}`;
      const request = marked(Buffer.from(bytes).toString('latin1'), marker);
      const socket = await listener.connect(listener.tls ? ports.tls : ports.plain);
      const ex = await exchange(socket, request, true).catch((error: unknown) => {
        throw new Error(`seed ${seed} iteration ${iterations}: ${String(error)}`);
      });
      if (ex.status >= 400 && !ex.fromBackend) {
        refusedMarkers.push(marker);
        refusals.set(
          marker,
          `${listener.name}: ${JSON.stringify(request.toString('latin1'))} → ${ex.text.split('\r\n')[0]}`,
        );
      }
    }
    assert.ok(refusedMarkers.length > 0, 'the mutations produced refusals');
    // The proxy is alive and still proxies; what it refused never completed at the backend.
    for (const listener of LISTENERS) {
      const ex = await exchange(
        await listener.connect(listener.tls ? ports.tls : ports.plain),
        marked(
          'GET /after-fuzz HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
          `after-${listener.tls}`,
        ),
      );
      assert.equal(ex.status, 200, `seed ${seed}: ${ex.text.slice(0, 200)}`);
    }
    assert.equal(proxy.proc.exitCode, null);
    const leaked = refusedMarkers.filter((m) => backend.complete.includes(m));
    assert.deepEqual(
      leaked.map((m) => refusals.get(m)),
      [],
      `seed ${seed}: refused requests completed at the backend`,
    );
  });
});
