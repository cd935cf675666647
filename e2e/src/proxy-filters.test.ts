/**
 * ferry-proxy's HTTP filters end to end, with real processes on loopback: control plane ←
 * ferryctl apply → ADS → ferry-proxy → an echo backend. One HCM chains fault, cors,
 * header_mutation, buffer (disabled by default, enabled on /buffer by typed_per_filter_config),
 * two compressors (gzip, br), decompressor and the router; per-route configs are set on the
 * virtual host and routes. Each test checks one filter through real HTTP/1.1 requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import zlib from 'node:zlib';
import {
  eventually,
  ferryctl,
  freePort,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
  type ControlPlane,
  type Json,
} from './harness.js';

const T = 'type.googleapis.com/';

/**
 * The text the backend serves on /text: compressible (a few times, well under the decompressor's
 * max_inflate_ratio of 100) and well over min_content_length.
 */
const TEXT = Array.from(
  { length: 400 },
  (_, i) => `${i}: ferry carries requests across the river ${randomBytes(6).toString('hex')}\n`,
).join('');

interface EchoBackend {
  readonly port: number;
  /** Requests seen, with their headers and body. */
  readonly seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[];
  close(): Promise<void>;
}

/**
 * /text: TEXT as text/plain; /gzipped: TEXT gzip-encoded (Content-Encoding: gzip); anything
 * else: the request echoed as JSON (method, url, headers, body).
 */
async function startEchoBackend(): Promise<EchoBackend> {
  const seen: EchoBackend['seen'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', etag: '"v1"' });
        res.end(TEXT);
        return;
      }
      if (req.url === '/gzipped') {
        const gzipped = zlib.gzipSync(TEXT);
        res.writeHead(200, {
          'content-type': 'text/plain',
          'content-encoding': 'gzip',
          'content-length': String(gzipped.length),
        });
        res.end(gzipped);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: body.toString('utf8'),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface RawResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP/1.1 request (own connection) whose body comes back as bytes. */
function request(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        agent: false,
        headers: options.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function typed(type: string, fields: Json = {}): Json {
  return { '@type': `${T}${type}`, ...fields };
}

function resources(listenerPort: number, backendPort: number): Json[] {
  const httpFilters: Json[] = [
    {
      name: 'envoy.filters.http.fault',
      typed_config: typed('envoy.extensions.filters.http.fault.v3.HTTPFault', {
        abort: { header_abort: {}, percentage: { numerator: 100 } },
        delay: { header_delay: {}, percentage: { numerator: 100 } },
        max_active_faults: 100,
      }),
    },
    {
      name: 'envoy.filters.http.cors',
      typed_config: typed('envoy.extensions.filters.http.cors.v3.Cors'),
    },
    {
      name: 'envoy.filters.http.header_mutation',
      typed_config: typed('envoy.extensions.filters.http.header_mutation.v3.HeaderMutation', {
        mutations: {
          request_mutations: [
            { remove: 'x-secret' },
            {
              append: {
                header: { key: 'x-client-ip', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' },
                append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
              },
            },
            { append: { header: { key: 'x-original-path', value: '%REQ(:path)%' } } },
            { append: { header: { key: 'x-start', value: '%START_TIME(%s)%' } } },
            { append: { header: { key: 'x-percent', value: '100%%' } } },
          ],
          response_mutations: [{ append: { header: { key: 'x-filtered', value: '%PROTOCOL%' } } }],
        },
      }),
    },
    {
      name: 'envoy.filters.http.buffer',
      disabled: true,
      typed_config: typed('envoy.extensions.filters.http.buffer.v3.Buffer', {
        max_request_bytes: 1048576,
      }),
    },
    {
      name: 'gzip',
      typed_config: typed('envoy.extensions.filters.http.compressor.v3.Compressor', {
        compressor_library: {
          name: 'gzip',
          typed_config: typed('envoy.extensions.compression.gzip.compressor.v3.Gzip'),
        },
      }),
    },
    {
      name: 'brotli',
      typed_config: typed('envoy.extensions.filters.http.compressor.v3.Compressor', {
        compressor_library: {
          name: 'brotli',
          typed_config: typed('envoy.extensions.compression.brotli.compressor.v3.Brotli'),
        },
      }),
    },
    {
      name: 'envoy.filters.http.decompressor',
      typed_config: typed('envoy.extensions.filters.http.decompressor.v3.Decompressor', {
        decompressor_library: {
          name: 'gzip',
          typed_config: typed('envoy.extensions.compression.gzip.decompressor.v3.Gzip'),
        },
      }),
    },
    {
      name: 'envoy.filters.http.router',
      typed_config: typed('envoy.extensions.filters.http.router.v3.Router'),
    },
  ];
  return [
    {
      '@type': `${T}envoy.config.listener.v3.Listener`,
      name: 'filters',
      address: { socket_address: { address: '127.0.0.1', port_value: listenerPort } },
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: typed(
                'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                {
                  stat_prefix: 'filters',
                  rds: {
                    route_config_name: 'filters',
                    config_source: { ads: {}, resource_api_version: 'V3' },
                  },
                  http_filters: httpFilters,
                },
              ),
            },
          ],
        },
      ],
    },
    {
      '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
      name: 'filters',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          typed_per_filter_config: {
            'envoy.filters.http.cors': typed('envoy.extensions.filters.http.cors.v3.CorsPolicy', {
              allow_origin_string_match: [{ exact: 'https://app.example' }],
              allow_methods: 'GET,PUT',
              allow_headers: 'x-custom',
              expose_headers: 'x-exposed',
              max_age: '600',
              allow_credentials: true,
            }),
          },
          routes: [
            {
              match: { prefix: '/buffer' },
              route: { cluster: 'echo' },
              typed_per_filter_config: {
                'envoy.filters.http.buffer': typed(
                  'envoy.extensions.filters.http.buffer.v3.BufferPerRoute',
                  {
                    buffer: { max_request_bytes: 1024 },
                  },
                ),
              },
            },
            {
              match: { prefix: '/teapot' },
              route: { cluster: 'echo' },
              typed_per_filter_config: {
                'envoy.filters.http.fault': typed(
                  'envoy.extensions.filters.http.fault.v3.HTTPFault',
                  {
                    abort: { http_status: 418, percentage: { numerator: 100 } },
                  },
                ),
              },
            },
            {
              match: { prefix: '/' },
              route: { cluster: 'echo' },
              request_headers_to_add: [
                { header: { key: 'x-route-protocol', value: '%PROTOCOL%' } },
                { header: { key: 'x-route-agent', value: '%REQ(user-agent?x-missing)%' } },
              ],
            },
          ],
        },
      ],
    },
    {
      '@type': `${T}envoy.config.cluster.v3.Cluster`,
      name: 'echo',
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: {
        cluster_name: 'echo',
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

describe('ferry-proxy HTTP filters', () => {
  let cp: ControlPlane;
  let backend: EchoBackend;
  let port: number;

  before(async () => {
    cp = await startControlPlane();
    backend = await startEchoBackend();
    port = await freePort();
    const yaml = resources(port, backend.port)
      .map((doc) => JSON.stringify(doc))
      .join('\n---\n');
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], yaml);
    assert.equal(applied.code, 0, applied.stderr);
    await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'filters-e2e', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    await eventually(
      async () => ((await request(port, '/ready-check')).status === 200 ? true : undefined),
      'the proxy to serve the filter chain',
    );
  });

  after(async () => {
    await stopAll();
    await backend?.close();
  });

  const echoed = (
    result: RawResult,
  ): { headers: Record<string, string>; body: string; url: string } =>
    JSON.parse(result.body.toString('utf8')) as {
      headers: Record<string, string>;
      body: string;
      url: string;
    };

  test('compressor: gzip and br responses decode to what the backend sent', async () => {
    const gzip = await request(port, '/text', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gzip.status, 200);
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.equal(gzip.headers['content-length'], undefined);
    assert.equal(gzip.headers.vary, 'Accept-Encoding');
    assert.equal(gzip.headers.etag, undefined, 'a strong ETag does not survive compression');
    assert.equal(zlib.gunzipSync(gzip.body).toString('utf8'), TEXT);
    assert.ok(gzip.body.length < TEXT.length / 2, 'compressed');

    const br = await request(port, '/text', { headers: { 'accept-encoding': 'gzip;q=0.5, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(zlib.brotliDecompressSync(br.body).toString('utf8'), TEXT);

    const plain = await request(port, '/text', { headers: { 'accept-encoding': 'identity' } });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.body.toString('utf8'), TEXT);
  });

  test('decompressor: gzip request bodies reach the backend decoded, bombs get 413; gzip responses are decoded', async () => {
    const gzipped = zlib.gzipSync('{"hello":"world"}');
    const echo = await request(port, '/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipped,
    });
    assert.equal(echo.status, 200);
    const seen = echoed(echo);
    assert.equal(seen.body, '{"hello":"world"}');
    assert.equal(seen.headers['content-encoding'], undefined);
    assert.match(
      seen.headers['accept-encoding'] ?? '',
      /gzip/,
      'the decompressor advertises gzip upstream',
    );

    // A decompression bomb: 8 MiB of zeros in a few KiB, far over max_inflate_ratio (100).
    const bomb = await request(port, '/echo/bomb', {
      method: 'POST',
      headers: { 'content-encoding': 'gzip' },
      body: zlib.gzipSync(Buffer.alloc(8 * 1024 * 1024)),
    });
    assert.equal(bomb.status, 413);
    assert.equal(bomb.body.toString('utf8'), 'Payload Too Large');

    const response = await request(port, '/gzipped');
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-encoding'], undefined);
    assert.equal(response.body.toString('utf8'), TEXT);
  });

  test('buffer: enabled on /buffer by typed_per_filter_config, 413 above max_request_bytes', async () => {
    const small = await request(port, '/buffer/small', {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      body: 'x'.repeat(500),
    });
    assert.equal(small.status, 200);
    assert.equal(
      echoed(small).headers['content-length'],
      '500',
      'the buffer filter sets Content-Length',
    );
    const large = await request(port, '/buffer/large', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(4096),
    });
    assert.equal(large.status, 413);
    assert.equal(large.body.toString('utf8'), 'Payload Too Large');
    assert.ok(
      !backend.seen.some((r) => r.url === '/buffer/large'),
      'the large request was not forwarded',
    );
    const elsewhere = await request(port, '/echo', { method: 'POST', body: 'x'.repeat(4096) });
    assert.equal(elsewhere.status, 200, 'the buffer filter is off on other routes');
  });

  test('cors: preflights are answered by the proxy; actual requests get CORS headers', async () => {
    const before = backend.seen.length;
    const preflight = await request(port, '/api', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'x-custom',
      },
    });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(preflight.headers['access-control-allow-methods'], 'GET,PUT');
    assert.equal(preflight.headers['access-control-allow-headers'], 'x-custom');
    assert.equal(preflight.headers['access-control-max-age'], '600');
    assert.equal(preflight.headers['access-control-allow-credentials'], 'true');
    assert.equal(backend.seen.length, before, 'the preflight did not reach the backend');

    const actual = await request(port, '/api', { headers: { origin: 'https://app.example' } });
    assert.equal(actual.status, 200);
    assert.equal(actual.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(actual.headers['access-control-expose-headers'], 'x-exposed');
    assert.equal(actual.headers['access-control-allow-credentials'], 'true');

    const stranger = await request(port, '/api', { headers: { origin: 'https://evil.example' } });
    assert.equal(stranger.status, 200);
    assert.equal(stranger.headers['access-control-allow-origin'], undefined);
  });

  test('fault: header-controlled abort and delay; a per-route HTTPFault', async () => {
    const aborted = await request(port, '/echo', {
      headers: { 'x-envoy-fault-abort-request': '503' },
    });
    assert.equal(aborted.status, 503);
    assert.equal(aborted.body.toString('utf8'), 'fault filter abort');

    const delayed = await request(port, '/echo?delayed', {
      headers: { 'x-envoy-fault-delay-request': '200' },
    });
    assert.equal(delayed.status, 200, 'the delayed request arrives');
    assert.equal(echoed(delayed).url, '/echo?delayed');

    const teapot = await request(port, '/teapot');
    assert.equal(teapot.status, 418);
    assert.equal(teapot.body.toString('utf8'), 'fault filter abort');
    assert.ok(!backend.seen.some((r) => r.url === '/teapot'));
  });

  test('header_mutation and %VARIABLE% values reach the backend', async () => {
    const before = Math.floor(Date.now() / 1000);
    const result = await request(port, '/echo/path?q=1', {
      headers: { 'x-secret': 'hidden', 'x-client-ip': 'spoofed', 'user-agent': 'ferry-e2e' },
    });
    const after = Math.floor(Date.now() / 1000);
    assert.equal(result.status, 200);
    assert.equal(result.headers['x-filtered'], 'HTTP/1.1');
    const headers = echoed(result).headers;
    assert.equal(headers['x-secret'], undefined);
    assert.equal(headers['x-client-ip'], '127.0.0.1');
    assert.equal(headers['x-original-path'], '/echo/path?q=1');
    assert.equal(headers['x-percent'], '100%');
    const start = Number(headers['x-start']);
    assert.ok(start >= before && start <= after, `START_TIME ${start} in [${before}, ${after}]`);
    assert.equal(headers['x-route-protocol'], 'HTTP/1.1');
    assert.equal(headers['x-route-agent'], 'ferry-e2e');
  });
});
