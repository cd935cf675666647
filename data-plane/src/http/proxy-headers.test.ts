/**
 * Engine tests for request headers on the way upstream: Envoy's client identity handling
 * (X-Forwarded-For, X-Forwarded-Proto, x-envoy-internal / -external-address, header
 * sanitizing of external requests, x-request-id) and repeated headers.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../config/translate.js';
import { ProxyRuntime } from './proxy-runtime.js';
import {
  anyHost,
  backend,
  cluster,
  listener,
  local,
  prefixRoute,
  proxyConfig,
  request,
  silentLogger,
  type Backend,
  type SeenRequest,
} from './proxy-test-fixtures.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The x-envoy-* request headers Envoy removes from external requests
 * (ConnectionManagerUtility::cleanInternalHeaders; docs: "HTTP header sanitizing"), the first
 * three only on edge requests.
 */
const SANITIZED_ON_EDGE = [
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-max-retries',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-hedge-on-per-try-timeout',
];

describe('client identity headers', () => {
  let upstream: Backend;
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0 });
  const ports: Record<string, number> = {};

  async function seenVia(
    listenerName: string,
    headers: Record<string, string> = {},
  ): Promise<SeenRequest> {
    const res = await request(ports[listenerName]!, { path: `/${listenerName}`, headers });
    assert.equal(res.status, 200);
    return upstream.seen.at(-1)!;
  }

  before(async () => {
    upstream = await backend('a');
    const routes = [anyHost([prefixRoute('/', { cluster: 'a' })])];
    const listeners: [string, JsonObject][] = [
      ['edge', { use_remote_address: true }],
      ['edge-preserve', { use_remote_address: true, preserve_external_request_id: true }],
      ['trusted-hop', { use_remote_address: true, xff_num_trusted_hops: 1 }],
    ];
    await runtime.apply(
      proxyConfig([
        ...listeners.map(([name, extra]) => listener(name, 0, routes, extra)),
        cluster('a', local(upstream.port)),
      ]),
    );
    for (const [name] of listeners) ports[name] = runtime.listenerPort(name)!;
  });

  after(async () => {
    runtime.destroy();
    await upstream.close();
  });

  test('internal request (loopback peer, no XFF): XFF set, x-envoy-internal, request id kept', async () => {
    const generated = await seenVia('edge');
    // For a loopback peer Envoy appends its own local address.
    assert.equal(generated.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(generated.headers['x-forwarded-proto'], 'http');
    assert.equal(generated.headers['x-envoy-internal'], 'true');
    assert.equal(generated.headers['x-envoy-external-address'], undefined);
    assert.match(String(generated.headers['x-request-id']), UUID);

    const kept = await seenVia('edge', {
      'x-request-id': 'internal-id',
      'x-envoy-retry-on': '5xx',
      'x-envoy-app': 'kept',
    });
    assert.equal(kept.headers['x-request-id'], 'internal-id');
    assert.equal(kept.headers['x-envoy-app'], 'kept');
  });

  test('edge request: XFF appended, x-envoy-external-address set, Envoy-only headers stripped', async () => {
    const headers: Record<string, string> = {
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-envoy-internal': 'true',
      'x-envoy-external-address': '10.9.9.9',
      'x-envoy-app-tag': 'blue',
      'x-request-id': 'client-chosen-id',
    };
    for (const name of SANITIZED_ON_EDGE) headers[name] = '1';
    const seen = await seenVia('edge', headers);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    // No trusted hops: the client's x-forwarded-proto is not trusted and is overwritten.
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-envoy-internal'], undefined);
    assert.equal(seen.headers['x-envoy-external-address'], '127.0.0.1');
    for (const name of SANITIZED_ON_EDGE) assert.equal(seen.headers[name], undefined, name);
    // Only the listed headers are sanitized; other x-envoy-* names pass.
    assert.equal(seen.headers['x-envoy-app-tag'], 'blue');
    // An edge request's id is not trusted: a new one replaces it.
    assert.match(String(seen.headers['x-request-id']), UUID);
  });

  test('preserve_external_request_id keeps an edge request id; one is generated when absent', async () => {
    const kept = await seenVia('edge-preserve', {
      'x-forwarded-for': '203.0.113.7',
      'x-request-id': 'client-chosen-id',
    });
    assert.equal(kept.headers['x-request-id'], 'client-chosen-id');
    const generated = await seenVia('edge-preserve', { 'x-forwarded-for': '203.0.113.7' });
    assert.match(String(generated.headers['x-request-id']), UUID);
  });

  test('xff_num_trusted_hops: the client address comes from XFF, x-forwarded-proto is trusted', async () => {
    const seen = await seenVia('trusted-hop', {
      'x-forwarded-for': '198.51.100.9, 203.0.113.7',
      'x-forwarded-proto': 'https',
    });
    assert.equal(seen.headers['x-forwarded-for'], '198.51.100.9, 203.0.113.7, 127.0.0.1');
    assert.equal(seen.headers['x-envoy-external-address'], '203.0.113.7');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
  });
});

describe('repeated request headers', () => {
  let upstream: Backend;
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0 });
  let port: number;

  before(async () => {
    upstream = await backend('a');
    await runtime.apply(
      proxyConfig([
        listener('main', 0, [
          anyHost([
            {
              match: {
                prefix: '/',
                headers: [{ name: 'x-tag', string_match: { exact: 'a,b' } }],
              },
              route: { cluster: 'a' },
            },
            { match: { prefix: '/' }, direct_response: { status: 404 } },
          ]),
        ]),
        cluster('a', local(upstream.port)),
      ]),
    );
    port = runtime.listenerPort('main')!;
  });

  after(async () => {
    runtime.destroy();
    await upstream.close();
  });

  test('header matchers see repeated headers joined with ","', async () => {
    const repeated = await request(port, { headers: ['x-tag', 'a', 'x-tag', 'b'] });
    assert.equal(repeated.status, 200);
    const single = await request(port, { headers: ['x-tag', 'a'] });
    assert.equal(single.status, 404);
  });

  test('repeated headers are forwarded as received, one line each, in order', async () => {
    await request(port, { headers: ['x-tag', 'a', 'x-other', '1', 'x-tag', 'b'] });
    const raw = upstream.seen.at(-1)!.rawHeaders;
    const tags: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i] === 'x-tag') tags.push(raw[i + 1]!);
    assert.deepEqual(tags, ['a', 'b']);
  });
});
