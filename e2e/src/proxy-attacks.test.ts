/**
 * Attacks on ferry-proxy's request path, each run against a real proxy (control plane ←
 * ferryctl apply → ADS → ferry-proxy, one worker → a loopback backend) from raw sockets. Every
 * attack checks what the proxy answers the attacker (Envoy's status codes, connection closes,
 * GOAWAY) and that, while the attack runs, a well-behaved client on its own connections is
 * served. Waits are bounded waits on conditions; nothing asserts on time.
 *
 * Listener `edge` is hardened as docs/architecture.md "Request hardening" recommends;
 * listener `plain` keeps Envoy's defaults and shows the path bypasses normalization closes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import {
  eventually,
  ferryctl,
  freePort,
  httpRequest,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
  type Json,
  type Proxy,
} from './harness.js';
import { http2Frame } from '@ferry/shared/http2-frame';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;

/** Limits of the hardened listener (small, so that the attacks stay cheap). */
const MAX_REQUEST_HEADERS_KB = 16;
const MAX_HEADERS_COUNT = 50;
const BUFFER_MAX_REQUEST_BYTES = 64 * 1024;

function listener(name: string, port: number, hcmExtra: Json): Json {
  return {
    '@type': `${T}envoy.config.listener.v3.Listener`,
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              rds: {
                route_config_name: 'site',
                config_source: { ads: {}, resource_api_version: 'V3' },
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.buffer',
                  typed_config: {
                    '@type': `${T}envoy.extensions.filters.http.buffer.v3.Buffer`,
                    max_request_bytes: BUFFER_MAX_REQUEST_BYTES,
                  },
                },
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
                },
              ],
              ...hcmExtra,
            },
          },
        ],
      },
    ],
  };
}

function resources(edgePort: number, plainPort: number, backendPort: number): Json[] {
  return [
    listener('edge', edgePort, {
      normalize_path: true,
      merge_slashes: true,
      path_with_escaped_slashes_action: 'REJECT_REQUEST',
      request_headers_timeout: '1s',
      request_timeout: '3s',
      stream_idle_timeout: '2s',
      max_request_headers_kb: MAX_REQUEST_HEADERS_KB,
      common_http_protocol_options: {
        max_headers_count: MAX_HEADERS_COUNT,
        headers_with_underscores_action: 'REJECT_REQUEST',
      },
    }),
    listener('plain', plainPort, {}),
    {
      '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
      name: 'site',
      virtual_hosts: [
        {
          name: 'site',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/admin' },
              direct_response: { status: 403, body: { inline_string: 'admins only' } },
            },
            { match: { prefix: '/' }, route: { cluster: 'app' } },
          ],
        },
      ],
    },
    {
      '@type': `${T}envoy.config.cluster.v3.Cluster`,
      name: 'app',
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: {
        cluster_name: 'app',
        endpoints: [
          {
            lb_endpoints: [
              {
                endpoint: {
                  address: { socket_address: { address: '127.0.0.1', port_value: backendPort } },
                },
              },
            ],
          },
        ],
      },
    },
  ];
}

interface Reply {
  readonly status: number;
  readonly body: string;
}

/** One HTTP/1.1 request on its own connection; the path is sent exactly as given. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, agent: false, headers: { host: 'site', ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** What the proxy did to one attacking connection. */
interface Outcome {
  /** Everything it sent (latin1). */
  response: string;
  closed: boolean;
}

/** An attacking connection: its outcome resolves once the proxy closes it (or at the bound). */
function attacker(
  port: number,
  boundMs = 20_000,
): { socket: net.Socket; outcome: Promise<Outcome> } {
  const socket = net.connect(port, '127.0.0.1');
  const outcome = new Promise<Outcome>((resolve) => {
    let response = '';
    const bound = setTimeout(() => {
      socket.destroy();
      resolve({ response, closed: false });
    }, boundMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (response += chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(bound);
      resolve({ response, closed: true });
    });
  });
  return { socket, outcome };
}

function connected(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!socket.connecting) resolve();
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
}

/** The well-behaved client: `count` requests on fresh connections, each must be answered 200. */
async function wellBehaved(port: number, count = 5): Promise<void> {
  for (let i = 0; i < count; i++) {
    const reply = await get(port, `/ok/${i}`);
    assert.equal(reply.status, 200, 'a well-behaved request during the attack');
    assert.equal(reply.body, `app /ok/${i}`);
  }
}

function statusOf(response: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
  return match ? Number(match[1]) : 0;
}

/**
 * `count` slow clients send `head`, then `piece(i)` every 200 ms while a well-behaved client must
 * keep getting 200s; the proxy must answer each slow client 408 and close its connection.
 */
async function slowClientsGet408(
  port: number,
  count: number,
  head: string,
  piece: (i: number) => string,
): Promise<void> {
  const attackers = Array.from({ length: count }, () => attacker(port));
  await Promise.all(attackers.map(({ socket }) => connected(socket)));
  for (const { socket } of attackers) socket.write(head);
  let dribbling = true;
  const dribble = (async () => {
    for (let i = 0; dribbling; i++) {
      for (const { socket } of attackers) if (socket.writable) socket.write(piece(i));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  try {
    await wellBehaved(port);
    const outcomes = await Promise.all(attackers.map(({ outcome }) => outcome));
    for (const outcome of outcomes) {
      assert.ok(outcome.closed, 'the proxy closed the slow connection');
      assert.equal(statusOf(outcome.response), 408);
    }
  } finally {
    dribbling = false;
    await dribble;
  }
}

// ------------------------------------------------------------------ HTTP/2 frames

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_GOAWAY = 0x7;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const NGHTTP2_CANCEL = 0x8;
const NGHTTP2_ENHANCE_YOUR_CALM = 0xb;

const frame = http2Frame;

/** HPACK: GET, http, /, and :authority "site" as a literal without indexing. */
const REQUEST_BLOCK = Buffer.from([0x82, 0x86, 0x84, 0x01, 0x04, ...Buffer.from('site')]);

/** HPACK: a literal field `x-flood: <100 bytes>` without indexing (new name). */
const FLOOD_FIELD = Buffer.concat([
  Buffer.from([0x00, 7]),
  Buffer.from('x-flood'),
  Buffer.from([100]),
  Buffer.alloc(100, 0x61),
]);

/** The server's frames, as far as they have arrived: the GOAWAY error code, if any. */
function goawayCode(received: Buffer): number | undefined {
  let offset = 0;
  while (offset + 9 <= received.length) {
    const length = received.readUIntBE(offset, 3);
    const type = received[offset + 3];
    if (offset + 9 + length > received.length) break;
    if (type === FRAME_GOAWAY) return received.readUInt32BE(offset + 9 + 4);
    offset += 9 + length;
  }
  return undefined;
}

/** A raw HTTP/2 connection (prior knowledge): what it received and whether it was closed. */
function h2Attacker(port: number): {
  socket: net.Socket;
  received: () => Buffer;
  closed: Promise<void>;
} {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.concat([H2_PREFACE, frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0))]));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

/** Writes `bytes` and waits for the socket to take them (false: it is gone). */
function send(socket: net.Socket, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) {
      resolve(false);
      return;
    }
    socket.write(bytes, (err) => resolve(err === undefined || err === null));
  });
}

describe('ferry-proxy under attack', () => {
  let proxy: Proxy;
  let edge: number;
  let plain: number;
  let backendServer: http.Server;

  async function prometheus(): Promise<string> {
    return (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
  }

  before(async () => {
    backendServer = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`app ${req.url}`);
      });
    });
    await new Promise<void>((resolve) => backendServer.listen(0, '127.0.0.1', resolve));
    const backendPort = (backendServer.address() as net.AddressInfo).port;
    const cp = await startControlPlane();
    edge = await freePort();
    plain = await freePort();
    const yaml = resources(edge, plain, backendPort)
      .map((doc) => JSON.stringify(doc))
      .join('\n---\n');
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], yaml);
    assert.equal(applied.code, 0, applied.stderr);
    proxy = await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'attacks-e2e', xdsAddress: cp.xdsAddress }),
      concurrency: 1,
    });
    for (const port of [edge, plain])
      await eventually(
        async () => ((await get(port, '/ready')).status === 200 ? true : undefined),
        'the proxy to serve both listeners',
      );
  });

  after(async () => {
    await stopAll();
    backendServer.closeAllConnections();
    await new Promise((resolve) => backendServer.close(resolve));
  });

  test('path bypasses: reach /admin without normalization, blocked with it', async () => {
    assert.equal((await get(plain, '/admin')).status, 403);
    assert.equal((await get(edge, '/admin')).status, 403);
    for (const path of ['/x/../admin', '//admin', '/%61dmin']) {
      const bypass = await get(plain, path);
      assert.equal(bypass.status, 200, `${path} bypasses /admin on Envoy's defaults`);
      assert.equal(bypass.body, `app ${path}`);
      const blocked = await get(edge, path);
      assert.equal(blocked.status, 403, `${path} is /admin once normalized`);
      assert.equal(blocked.body, 'admins only');
    }
    assert.equal((await get(edge, '/x%2F..%2Fadmin')).status, 400, 'escaped slashes rejected');
    assert.equal((await get(edge, '/x', { x_forwarded_user: 'a' })).status, 400, 'underscores');
    assert.match(
      await prometheus(),
      /^ferry_downstream_rq_failed_path_normalization\{listener="edge",stat_prefix="edge"\} 1$/m,
    );
  });

  test('slowloris: dribbled request heads get 408 at request_headers_timeout', async () => {
    await slowClientsGet408(edge, 60, 'GET / HTTP/1.1\r\nhost: site\r\n', (i) => `x-${i}: y\r\n`);
  });

  test('slow body: a dribbled request body is bounded by request_timeout (408)', async () => {
    await slowClientsGet408(
      edge,
      30,
      'POST /upload HTTP/1.1\r\nhost: site\r\ncontent-length: 100000\r\n\r\n',
      () => 'x',
    );
  });

  test('header flood: too many or too large headers, and oversized URLs, get 431', async () => {
    const tooMany = Array.from({ length: MAX_HEADERS_COUNT + 1 }, (_, i) => `x-h${i}: v\r\n`).join(
      '',
    );
    const tooLarge = `x-big: ${'a'.repeat(MAX_REQUEST_HEADERS_KB * 1024)}\r\n`;
    const longUrl = `/${'u'.repeat(MAX_REQUEST_HEADERS_KB * 1024)}`;
    const floods = [
      `GET / HTTP/1.1\r\nhost: site\r\n${tooMany}\r\n`,
      `GET / HTTP/1.1\r\nhost: site\r\n${tooLarge}\r\n`,
      `GET ${longUrl} HTTP/1.1\r\nhost: site\r\n\r\n`,
    ];
    const attackers = Array.from({ length: 60 }, (_, i) => {
      const a = attacker(edge);
      a.socket.write(floods[i % floods.length]!);
      return a;
    });
    await wellBehaved(edge);
    const outcomes = await Promise.all(attackers.map(({ outcome }) => outcome));
    for (const outcome of outcomes) {
      assert.equal(statusOf(outcome.response), 431, outcome.response.slice(0, 80));
      assert.ok(outcome.closed);
    }
  });

  test('oversized body: the buffer filter answers 413 above max_request_bytes', async () => {
    const body = Buffer.alloc(BUFFER_MAX_REQUEST_BYTES * 4, 0x62);
    const attackers = Array.from({ length: 20 }, () => {
      const a = attacker(edge);
      a.socket.write(
        `POST /upload HTTP/1.1\r\nhost: site\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`,
      );
      a.socket.write(body);
      a.socket.write('\r\n0\r\n\r\n');
      return a;
    });
    await wellBehaved(edge);
    const outcomes = await Promise.all(attackers.map(({ outcome }) => outcome));
    for (const outcome of outcomes) assert.equal(statusOf(outcome.response), 413);
  });

  test('HTTP/2 rapid reset: the connection is closed with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const attack = h2Attacker(edge);
    let sent = 0;
    const MAX_STREAMS = 5000;
    const flood = (async () => {
      for (let batch = 0; sent < MAX_STREAMS; batch++) {
        const frames: Buffer[] = [];
        for (let i = 0; i < 50; i++, sent++) {
          const id = 2 * sent + 1;
          frames.push(frame(FRAME_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, id, REQUEST_BLOCK));
          const code = Buffer.alloc(4);
          code.writeUInt32BE(NGHTTP2_CANCEL);
          frames.push(frame(FRAME_RST_STREAM, 0, id, code));
        }
        if (!(await send(attack.socket, Buffer.concat(frames)))) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all([wellBehaved(edge), flood]);
    await eventually(
      () => (attack.socket.destroyed || attack.socket.readableEnded ? true : undefined),
      'the proxy to close the rapid-reset connection',
    );
    attack.socket.destroy();
    await attack.closed;
    assert.equal(goawayCode(attack.received()), NGHTTP2_ENHANCE_YOUR_CALM);
    assert.match(
      await prometheus(),
      /^ferry_downstream_rq_too_many_premature_resets\{listener="edge",stat_prefix="edge"\} 1$/m,
    );
    await wellBehaved(edge);
  });

  test('HTTP/2 CONTINUATION flood: the connection is closed after a bounded header block', async () => {
    const attack = h2Attacker(edge);
    const MAX_FRAMES = 100_000;
    let sent = 0;
    const flood = (async () => {
      if (!(await send(attack.socket, frame(FRAME_HEADERS, FLAG_END_STREAM, 1, REQUEST_BLOCK))))
        return;
      while (sent < MAX_FRAMES) {
        const frames: Buffer[] = [];
        for (let i = 0; i < 100; i++, sent++)
          frames.push(frame(FRAME_CONTINUATION, 0, 1, FLOOD_FIELD));
        if (!(await send(attack.socket, Buffer.concat(frames)))) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all([wellBehaved(edge), flood]);
    await eventually(
      () => (attack.socket.destroyed || attack.socket.readableEnded ? true : undefined),
      'the proxy to close the CONTINUATION flood',
    );
    attack.socket.destroy();
    await attack.closed;
    assert.ok(sent < MAX_FRAMES, `closed before ${MAX_FRAMES} CONTINUATION frames (${sent})`);
    await wellBehaved(edge);
  });
});
