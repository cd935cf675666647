/**
 * gRPC through ferry-proxy to HTTP/2 upstreams (the HTTP/2 upstream pool, docs/architecture.md
 * "Upstream codecs"):
 * - concurrent client-streaming calls are multiplexed upstream: the backend completes none of
 *   N calls before all N have started, so calls carried one after another would never finish
 *   (the calls' deadline then fails the test);
 * - unary calls, a non-OK status and custom trailing metadata pass through (response trailers);
 * - the same over TLS with ALPN h2 to a gRPC backend with a certificate the cluster verifies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createCa } from '@ferry/shared/testing/test-pki';
import {
  eventually,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  tempDir,
  type Json,
  type Proxy,
} from './harness.js';

const T = 'type.googleapis.com/';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Concurrent client-streaming calls the backend holds until all have started. */
const N = 6;
/** A liveness bound on each call: serialized calls never complete and fail with it. */
const DEADLINE_MS = 20_000;

const identity = (b: Buffer): Buffer => b;
const SERVICE: grpc.ServiceDefinition = {
  Collect: {
    path: '/ferry.test.Multiplex/Collect',
    requestStream: true,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Echo: {
    path: '/ferry.test.Multiplex/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const Client = grpc.makeGenericClientConstructor(SERVICE, 'Multiplex');

interface GrpcBackend {
  readonly port: number;
  /** Collect calls whose first message arrived, in total. */
  started(): number;
  close(): Promise<void>;
}

/**
 * Collect answers (with the messages it got, joined, and trailer x-collected) only once N calls
 * of the current round have sent their first message. Echo answers its message, or NOT_FOUND
 * with trailer x-why for "missing".
 */
async function startGrpcBackend(credentials: grpc.ServerCredentials): Promise<GrpcBackend> {
  let started = 0;
  const waiting: (() => void)[] = [];
  const server = new grpc.Server();
  server.addService(SERVICE, {
    Collect(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const got: string[] = [];
      let first = true;
      let allStarted = false;
      let ended = false;
      const answer = (): void => {
        if (!allStarted || !ended) return;
        const trailer = new grpc.Metadata();
        trailer.set('x-collected', String(got.length));
        callback(null, Buffer.from(got.join('+')), trailer);
      };
      call.on('data', (message: Buffer) => {
        got.push(message.toString());
        if (!first) return;
        first = false;
        started++;
        waiting.push(() => {
          allStarted = true;
          answer();
        });
        if (waiting.length === N) for (const release of waiting.splice(0)) release();
      });
      call.on('end', () => {
        ended = true;
        answer();
      });
    },
    Echo(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      if (call.request.toString() === 'missing') {
        const trailer = new grpc.Metadata();
        trailer.set('x-why', 'no such thing');
        callback({ code: grpc.status.NOT_FOUND, details: 'nope', metadata: trailer });
        return;
      }
      callback(null, call.request);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    started: () => started,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

interface CollectResult {
  readonly reply: string;
  readonly collected: string;
}

function collect(client: grpc.Client, id: number): Promise<CollectResult> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const call = client.makeClientStreamRequest<Buffer, Buffer>(
      SERVICE.Collect!.path,
      identity,
      identity,
      new grpc.Metadata(),
      { deadline: Date.now() + DEADLINE_MS },
      (err, value) => {
        if (err) reject(err);
        else reply = value!.toString();
      },
    );
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code !== grpc.status.OK) return;
      resolve({ reply, collected: String(status.metadata.get('x-collected')[0] ?? '') });
    });
    call.write(Buffer.from(`${id}a`));
    call.write(Buffer.from(`${id}b`));
    call.end();
  });
}

function echo(
  client: grpc.Client,
  message: string,
): Promise<{ reply?: string; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    let reply: string | undefined;
    const call = client.makeUnaryRequest<Buffer, Buffer>(
      SERVICE.Echo!.path,
      identity,
      identity,
      Buffer.from(message),
      new grpc.Metadata(),
      { deadline: Date.now() + DEADLINE_MS },
      (_err, value) => {
        if (value !== undefined) reply = value.toString();
      },
    );
    call.on('status', (status: grpc.StatusObject) => resolve({ reply, status }));
  });
}

function http2Options(): Json {
  return {
    typed_extension_protocol_options: {
      [HTTP_OPTIONS]: {
        '@type': `${T}${HTTP_OPTIONS}`,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}

function routeTo(cluster: string): Json {
  return {
    name: 'local',
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster, timeout: '0s' } }],
      },
    ],
  };
}

describe('gRPC through ferry-proxy to HTTP/2 upstreams', () => {
  let proxy: Proxy;
  let cleartext: GrpcBackend;
  let secure: GrpcBackend;
  let h2cPort: number;
  let tlsPort: number;
  const clients: grpc.Client[] = [];

  before(async () => {
    const dir = tempDir('grpc-upstream');
    const ca = createCa(dir, 'ca');
    const leaf = ca.issue('grpc-backend', { sans: ['DNS:grpc.backend.test'] });
    cleartext = await startGrpcBackend(grpc.ServerCredentials.createInsecure());
    secure = await startGrpcBackend(
      grpc.ServerCredentials.createSsl(null, [
        { cert_chain: Buffer.from(leaf.cert), private_key: Buffer.from(leaf.key) },
      ]),
    );
    h2cPort = await freePort();
    tlsPort = await freePort();
    proxy = await startProxy({
      bootstrap: staticBootstrap({
        nodeId: 'grpc-upstream',
        listeners: [
          listenerResource('h2c', h2cPort, [
            { filters: [hcmFilter({ routeConfig: routeTo('grpc-h2c') })] },
          ]),
          listenerResource('tls', tlsPort, [
            { filters: [hcmFilter({ routeConfig: routeTo('grpc-tls') })] },
          ]),
        ],
        clusters: [
          staticClusterResource('grpc-h2c', [cleartext.port], http2Options()),
          staticClusterResource('grpc-tls', [secure.port], {
            ...http2Options(),
            transport_socket: {
              name: 'envoy.transport_sockets.tls',
              typed_config: {
                '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
                sni: 'grpc.backend.test',
                common_tls_context: {
                  validation_context: {
                    trusted_ca: { inline_string: ca.cert },
                    match_typed_subject_alt_names: [
                      { san_type: 'DNS', matcher: { exact: 'grpc.backend.test' } },
                    ],
                  },
                },
              },
            },
          }),
        ],
      }),
    });
  });

  after(async () => {
    for (const client of clients) client.close();
    await stopAll();
    await cleartext?.close();
    await secure?.close();
  });

  function client(port: number): grpc.Client {
    const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  }

  /** upstream_cx_total of `cluster` as the proxy's admin endpoint reports it. */
  async function upstreamConnections(cluster: string): Promise<number | undefined> {
    const stats = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    const line = new RegExp(`upstream_cx_total\\{[^}]*"${cluster}"[^}]*\\} (\\d+)`).exec(stats);
    return line === null || line[1] === '0' ? undefined : Number(line[1]);
  }

  for (const [label, listener, backend, cluster] of [
    ['h2c', () => h2cPort, () => cleartext, 'grpc-h2c'],
    ['TLS with ALPN h2', () => tlsPort, () => secure, 'grpc-tls'],
  ] as const) {
    test(`${label}: ${N} concurrent client-streaming calls are multiplexed upstream`, async () => {
      const c = client(listener());
      const before = backend().started();
      const results = await Promise.all(Array.from({ length: N }, (_, i) => collect(c, i)));
      assert.equal(backend().started() - before, N);
      for (const [i, result] of results.entries()) {
        assert.equal(result.reply, `${i}a+${i}b`);
        assert.equal(result.collected, '2', 'the trailer x-collected passed through');
      }
      // All of them on one upstream connection, as HTTP/2 streams.
      const connections = await eventually(
        () => upstreamConnections(cluster),
        `upstream_cx_total of ${cluster}`,
      );
      assert.equal(connections, 1);
    });

    test(`${label}: unary calls, a non-OK status and its trailers pass through`, async () => {
      const c = client(listener());
      const ok = await echo(c, 'hello');
      assert.equal(ok.status.code, grpc.status.OK);
      assert.equal(ok.reply, 'hello');
      const missing = await echo(c, 'missing');
      assert.equal(missing.status.code, grpc.status.NOT_FOUND, JSON.stringify(missing.status));
      assert.equal(missing.status.details, 'nope');
      assert.equal(String(missing.status.metadata.get('x-why')[0]), 'no such thing');
    });
  }
});
