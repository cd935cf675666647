import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@ferry/shared';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import { ClusterRuntime } from '../../../upstream/cluster-runtime.js';
import { loopbackClusterRuntime } from '../../../upstream/cluster-runtime-fixtures.js';
import { GrpcMessageCodec, frameGrpcMessage } from '../../../upstream/async-grpc-client.js';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import type { ClusterModel } from '../../../config/model.js';
import {
  FakeFilterCallbacks,
  requestHeaders,
  responseHeaders,
  until,
} from '../filter-test-fixtures.js';
import { validateExtAuthz, validatePerRoute } from './config.js';
import { ExtAuthzFilter } from './ext-authz-filter.js';
import type { ExtAuthzPerRouteModel } from './model.js';

const logger = createLogger('ext-authz-test', 'silent');
const runtimes: ClusterRuntime[] = [];
after(() => {
  for (const r of runtimes) r.destroy();
});

function runtime(name: string, port: number, extra: Partial<ClusterModel> = {}): ClusterRuntime {
  const r = loopbackClusterRuntime(name, port, extra);
  runtimes.push(r);
  return r;
}

/** Decodes CheckRequests, encodes CheckResponses (the service's side of the codec). */
const serviceCodec = new GrpcMessageCodec(
  'envoy.service.auth.v3.CheckResponse',
  'envoy.service.auth.v3.CheckRequest',
);

interface SeenCheck {
  attributes: {
    contextExtensions: Record<string, string>;
    source: { address: { address: { value: { address: string } } } };
    request: {
      http: {
        method: string;
        path: string;
        host: string;
        protocol: string;
        headers: Record<string, string>;
        body: string;
        rawBody: Uint8Array;
      };
    };
  };
}

/** A gRPC Authorization service on loopback answering with `answer(check)`. */
async function grpcService(
  answer: (check: SeenCheck) => Record<string, unknown> | 'hang',
): Promise<{ port: number; seen: SeenCheck[]; closed: () => number }> {
  const seen: SeenCheck[] = [];
  let closed = 0;
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('close', () => closed++);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const check = serviceCodec.decode(body.subarray(5)) as unknown as SeenCheck;
      seen.push(check);
      const response = answer(check);
      if (response === 'hang') return;
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frameGrpcMessage(serviceCodec.encode(response)));
    });
  });
  server.on('session', (s) => after(() => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  return { port: (server.address() as AddressInfo).port, seen, closed: () => closed };
}

function setup(configJson: JsonObject, clusters: ClusterRuntime[]) {
  const issues = new Issues('');
  const config = validateExtAuthz(configJson, 'typed_config', issues);
  assert.deepEqual(issues.errors, []);
  const stats = new MemoryStatsSink();
  const filter = new ExtAuthzFilter(config, {
    stats,
    statPrefix: 'http',
    listenerName: 'l',
    logger,
  });
  const make = (perFilter: ExtAuthzPerRouteModel[] = []) => {
    const callbacks = new FakeFilterCallbacks({
      route: { perFilter: perFilter.map((config) => ({ config, disabled: false })) },
      name: 'envoy.filters.http.ext_authz',
    });
    (callbacks.clusters as Map<string, ClusterRuntime>).clear();
    for (const c of clusters) (callbacks.clusters as Map<string, ClusterRuntime>).set(c.name, c);
    return { callbacks, stream: filter.create(callbacks) };
  };
  return { stats, make };
}

const LABELS = { listener: 'l', stat_prefix: 'http', ext_authz_prefix: '' };

function perRoute(json: JsonObject): ExtAuthzPerRouteModel {
  const issues = new Issues('');
  const model = validatePerRoute(json, 'p', issues);
  assert.deepEqual(issues.errors, []);
  return model;
}

const GRPC = (cluster: string, extra: JsonObject = {}): JsonObject => ({
  grpc_service: { envoy_grpc: { cluster_name: cluster }, timeout: '2s' },
  ...extra,
});

describe('ext_authz with a gRPC service', () => {
  test('ok: request attributes and merged context extensions go out; header changes apply; the request resumes', async () => {
    const service = await grpcService(() => ({
      status: { code: 0 },
      dynamicMetadata: { user: 'alice' },
      httpResponse: {
        case: 'okResponse',
        value: {
          headers: [
            { header: { key: 'x-user', value: 'alice' } },
            { header: { key: 'x-tag', value: 'b' }, append: true },
          ],
          headersToRemove: ['authorization', ':path', 'host'],
          responseHeadersToAdd: [{ header: { key: 'x-authz', value: 'yes' } }],
          queryParametersToSet: [{ key: 'k', value: 'v w' }],
        },
      },
    }));
    const { stats, make } = setup(GRPC('authz', { clear_route_cache: true }), [
      runtime('authz', service.port, { upstreamProtocol: 'HTTP2' }),
    ]);
    const { callbacks, stream } = make([
      perRoute({ check_settings: { context_extensions: { level: 'route', route: 'r' } } }),
      perRoute({ check_settings: { context_extensions: { level: 'vhost', vhost: 'v' } } }),
    ]);
    const headers = requestHeaders('POST', '/things?a=1', {
      authorization: 'Bearer t',
      'x-tag': 'a',
      'x-user': 'mallory',
    });
    assert.equal(stream.decodeHeaders(headers, false), 'stop');
    assert.equal(stream.decodeData(Buffer.from('body'), true), 'stop-and-watermark');
    await until(() => callbacks.continueDecodingCalls === 1, 'continueDecoding');
    const check = service.seen[0]!.attributes;
    assert.deepEqual(check.contextExtensions, { level: 'route', route: 'r', vhost: 'v' });
    assert.equal(check.request.http.method, 'POST');
    assert.equal(check.request.http.path, '/things?a=1');
    assert.equal(check.request.http.host, 'example.com');
    assert.equal(check.request.http.protocol, 'HTTP/1.1');
    assert.equal(check.request.http.headers.authorization, 'Bearer t');
    assert.equal(check.request.http.headers[':method'], 'POST');
    assert.equal(check.source.address.address.value.address, '192.0.2.10');
    assert.equal(headers.get('x-user'), 'alice');
    assert.equal(headers.get('x-tag'), 'a,b');
    assert.equal(headers.get('authorization'), undefined);
    assert.equal(headers.path, '/things?a=1&k=v%20w');
    assert.equal(headers.authority, 'example.com');
    assert.equal(callbacks.routeCacheCleared, 1);
    assert.equal(callbacks.localReplies.length, 0);
    const metadata = callbacks.streamInfo.dynamicMetadata.get('envoy.filters.http.ext_authz');
    assert.equal(metadata?.user, 'alice');
    const response = responseHeaders(200);
    stream.encodeHeaders(response);
    assert.equal(response.get('x-authz'), 'yes');
    assert.equal(stats.counterValue('ext_authz_ok', LABELS), 1);
  });

  test('denied: the service’s status, body and headers, UAEX, ext_authz_denied', async () => {
    const service = await grpcService(() => ({
      status: { code: 7 },
      httpResponse: {
        case: 'deniedResponse',
        value: {
          status: { code: 401 },
          body: 'who are you',
          headers: [{ header: { key: 'www-authenticate', value: 'Bearer' } }],
        },
      },
    }));
    const { stats, make } = setup(GRPC('authz'), [
      runtime('authz', service.port, { upstreamProtocol: 'HTTP2' }),
    ]);
    const { callbacks, stream } = make();
    assert.equal(stream.decodeHeaders(requestHeaders('GET', '/'), true), 'stop');
    await until(() => callbacks.localReplies.length === 1, 'local reply');
    const reply = callbacks.localReplies[0]!;
    assert.equal(reply.status, 401);
    assert.equal(reply.body, 'who are you');
    assert.equal(reply.options?.flag, 'UAEX');
    assert.equal(reply.options?.details, 'ext_authz_denied');
    const headers = responseHeaders(401, { 'www-authenticate': 'Basic' });
    reply.options.modifyHeaders!(headers);
    assert.equal(headers.get('www-authenticate'), 'Bearer');
    assert.equal(callbacks.continueDecodingCalls, 0);
    assert.equal(stats.counterValue('ext_authz_denied', LABELS), 1);
  });

  test('a denial without denied_response is 403', async () => {
    const service = await grpcService(() => ({ status: { code: 16 } }));
    const { make } = setup(GRPC('authz'), [
      runtime('authz', service.port, { upstreamProtocol: 'HTTP2' }),
    ]);
    const { callbacks, stream } = make();
    stream.decodeHeaders(requestHeaders('GET', '/'), true);
    await until(() => callbacks.localReplies.length === 1, 'local reply');
    assert.equal(callbacks.localReplies[0]!.status, 403);
  });

  test('service down: status_on_error; failure_mode_allow lets it through, marked', async () => {
    const down = runtime('authz', await refusedPort(), { upstreamProtocol: 'HTTP2' });
    const strict = setup(GRPC('authz', { status_on_error: { code: 'ServiceUnavailable' } }), [
      down,
    ]);
    const a = strict.make();
    a.stream.decodeHeaders(requestHeaders('GET', '/'), true);
    await until(() => a.callbacks.localReplies.length === 1, 'local reply');
    assert.equal(a.callbacks.localReplies[0]!.status, 503);
    assert.equal(a.callbacks.localReplies[0]!.options?.details, 'ext_authz_error');
    assert.equal(a.callbacks.localReplies[0]!.options?.flag, 'UAEX');
    assert.equal(strict.stats.counterValue('ext_authz_error', LABELS), 1);

    const lenient = setup(
      GRPC('authz', { failure_mode_allow: true, failure_mode_allow_header_add: true }),
      [down],
    );
    const b = lenient.make();
    const headers = requestHeaders('GET', '/');
    b.stream.decodeHeaders(headers, true);
    await until(() => b.callbacks.continueDecodingCalls === 1, 'continueDecoding');
    assert.equal(headers.get('x-envoy-auth-failure-mode-allowed'), 'true');
    assert.equal(lenient.stats.counterValue('ext_authz_failure_mode_allowed', LABELS), 1);
    assert.equal(lenient.stats.counterValue('ext_authz_error', LABELS), 1);
  });

  test('a missing cluster is an error (403 by default)', async () => {
    const { make } = setup(GRPC('nowhere'), []);
    const { callbacks, stream } = make();
    stream.decodeHeaders(requestHeaders('GET', '/'), true);
    await until(() => callbacks.localReplies.length === 1, 'local reply');
    assert.equal(callbacks.localReplies[0]!.status, 403);
  });

  test('timeout is an error; onDestroy cancels a pending call', async () => {
    const service = await grpcService(() => 'hang');
    const cluster = runtime('authz', service.port, { upstreamProtocol: 'HTTP2' });
    const { make } = setup(
      { grpc_service: { envoy_grpc: { cluster_name: 'authz' }, timeout: '0.05s' } },
      [cluster],
    );
    const a = make();
    a.stream.decodeHeaders(requestHeaders('GET', '/'), true);
    await until(() => a.callbacks.localReplies.length === 1, 'timeout reply');
    assert.equal(a.callbacks.localReplies[0]!.status, 403);

    // A deadline far enough that only the cancel can end this call.
    const b = setup(
      GRPC('authz', { grpc_service: { envoy_grpc: { cluster_name: 'authz' }, timeout: '60s' } }),
      [cluster],
    ).make();
    b.stream.decodeHeaders(requestHeaders('GET', '/'), true);
    await until(() => service.seen.length === 2, 'second check');
    const closedBefore = service.closed();
    b.stream.onDestroy();
    // The call's stream is reset at the service, and its timeout is gone with it.
    await until(() => service.closed() > closedBefore, 'the cancelled call to close');
    assert.equal(cluster.circuit.activeRequests, 0);
    assert.equal(b.callbacks.localReplies.length, 0);
    assert.equal(b.callbacks.continueDecodingCalls, 0);
  });

  test('with_request_body: held until complete and sent; partial at max with allow_partial_message', async () => {
    const service = await grpcService(() => ({ status: { code: 0 } }));
    const cluster = runtime('authz', service.port, { upstreamProtocol: 'HTTP2' });
    const whole = setup(GRPC('authz', { with_request_body: { max_request_bytes: 8 } }), [cluster]);
    const a = whole.make();
    assert.equal(a.stream.decodeHeaders(requestHeaders('POST', '/'), false), 'stop');
    assert.equal(a.callbacks.decoderBufferLimit, 8);
    assert.equal(a.stream.decodeData(Buffer.from('abc'), false), 'stop-and-buffer');
    a.callbacks.decodeBuffer.push(Buffer.from('abc'));
    assert.equal(service.seen.length, 0);
    assert.equal(a.stream.decodeData(Buffer.from('de'), true), 'stop-and-watermark');
    await until(() => a.callbacks.continueDecodingCalls === 1, 'continueDecoding');
    assert.equal(service.seen[0]!.attributes.request.http.body, 'abcde');
    assert.equal(
      service.seen[0]!.attributes.request.http.headers['x-envoy-auth-partial-body'],
      'false',
    );
    // Above max_request_bytes: the manager's buffer answers 413; no check is made.
    const b = whole.make();
    b.stream.decodeHeaders(requestHeaders('POST', '/'), false);
    assert.equal(b.stream.decodeData(Buffer.from('0123456789'), true), 'stop-and-buffer');
    assert.equal(service.seen.length, 1);

    const partial = setup(
      GRPC('authz', {
        with_request_body: {
          max_request_bytes: 4,
          allow_partial_message: true,
          pack_as_bytes: true,
        },
      }),
      [cluster],
    );
    const c = partial.make();
    c.stream.decodeHeaders(requestHeaders('POST', '/'), false);
    assert.equal(c.callbacks.decoderBufferLimit, undefined);
    assert.equal(c.stream.decodeData(Buffer.from('0123456789'), false), 'stop-and-watermark');
    await until(() => c.callbacks.continueDecodingCalls === 1, 'continueDecoding');
    assert.equal(Buffer.from(service.seen[1]!.attributes.request.http.rawBody).toString(), '0123');
    assert.equal(c.stream.decodeData(Buffer.from('more'), true), 'continue');
  });

  test('per-route: disabled skips; disable_request_body_buffering; no route skips', async () => {
    const service = await grpcService(() => ({ status: { code: 0 } }));
    const { make } = setup(GRPC('authz', { with_request_body: { max_request_bytes: 8 } }), [
      runtime('authz', service.port, { upstreamProtocol: 'HTTP2' }),
    ]);
    const a = make([perRoute({ disabled: true })]);
    assert.equal(a.stream.decodeHeaders(requestHeaders('GET', '/'), true), 'continue');
    const b = make([perRoute({ check_settings: { disable_request_body_buffering: true } })]);
    assert.equal(b.stream.decodeHeaders(requestHeaders('POST', '/'), false), 'stop');
    assert.equal(b.stream.decodeData(Buffer.from('x'), true), 'stop-and-watermark');
    await until(() => b.callbacks.continueDecodingCalls === 1, 'continueDecoding');
    assert.equal(service.seen[0]!.attributes.request.http.body, '');
    const c = make();
    c.callbacks.setRoute(undefined);
    assert.equal(c.stream.decodeHeaders(requestHeaders('GET', '/'), true), 'continue');
  });

  test('validate_mutations: an invalid header from the service answers 500; without it the header is dropped', async () => {
    const service = await grpcService(() => ({
      status: { code: 0 },
      httpResponse: {
        case: 'okResponse',
        value: {
          headers: [
            { header: { key: 'bad header', value: 'x' } },
            { header: { key: 'x-fine', value: 'yes' } },
          ],
        },
      },
    }));
    const cluster = runtime('authz', service.port, { upstreamProtocol: 'HTTP2' });
    const strict = setup(GRPC('authz', { validate_mutations: true }), [cluster]).make();
    strict.stream.decodeHeaders(requestHeaders('GET', '/'), true);
    await until(() => strict.callbacks.localReplies.length === 1, 'local reply');
    assert.equal(strict.callbacks.localReplies[0]!.status, 500);
    assert.equal(strict.callbacks.localReplies[0]!.options?.details, 'ext_authz_invalid');

    const lenient = setup(GRPC('authz'), [cluster]).make();
    const headers = requestHeaders('GET', '/');
    lenient.stream.decodeHeaders(headers, true);
    await until(() => lenient.callbacks.continueDecodingCalls === 1, 'continueDecoding');
    assert.equal(headers.get('x-fine'), 'yes');
    assert.equal(headers.get('bad header'), undefined);
  });

  test('filter_enabled 0% with deny_at_disable answers status_on_error', () => {
    const { stats, make } = setup(
      GRPC('authz', {
        filter_enabled: { default_value: { numerator: 0 } },
        deny_at_disable: { default_value: true },
      }),
      [],
    );
    const { callbacks, stream } = make();
    assert.equal(stream.decodeHeaders(requestHeaders('GET', '/'), true), 'stop');
    assert.equal(callbacks.localReplies[0]!.status, 403);
    assert.equal(stats.counterValue('ext_authz_disabled', LABELS), 1);
  });
});

describe('ext_authz with an HTTP service', () => {
  async function httpService(
    handler: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void,
  ): Promise<number> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handler(req, Buffer.concat(chunks).toString(), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => server.close());
    return (server.address() as AddressInfo).port;
  }

  const HTTP = (extra: JsonObject = {}): JsonObject => ({
    http_service: {
      server_uri: { uri: 'http://authz', cluster: 'authz', timeout: '2s' },
      path_prefix: '/check',
      authorization_request: {
        allowed_headers: { patterns: [{ exact: 'x-allowed' }] },
        headers_to_add: [{ key: 'x-from-proxy', value: '1' }],
      },
      authorization_response: {
        allowed_upstream_headers: { patterns: [{ exact: 'x-user' }] },
        allowed_upstream_headers_to_append: { patterns: [{ prefix: 'x-append' }] },
        allowed_client_headers_on_success: { patterns: [{ exact: 'x-seen' }] },
        dynamic_metadata_from_headers: { patterns: [{ exact: 'x-user' }] },
      },
    },
    ...extra,
  });

  test('200 allows: selected request headers go out; upstream and client headers come back', async () => {
    const seen: {
      url?: string;
      host?: string;
      allowed?: string;
      other?: string;
      added?: string;
      auth?: string;
      method?: string;
    } = {};
    const port = await httpService((req, _body, res) => {
      Object.assign(seen, {
        url: req.url,
        method: req.method,
        host: req.headers.host,
        allowed: req.headers['x-allowed'],
        other: req.headers['x-other'],
        added: req.headers['x-from-proxy'],
        auth: req.headers.authorization,
      });
      res.writeHead(200, {
        'x-user': 'alice',
        'x-append-me': 'z',
        'x-seen': 'true',
        'x-envoy-auth-headers-to-remove': 'authorization',
      });
      res.end();
    });
    const { make } = setup(HTTP(), [runtime('authz', port)]);
    const { callbacks, stream } = make();
    const headers = requestHeaders('DELETE', '/item/1', {
      authorization: 'Basic x',
      'x-allowed': 'a',
      'x-other': 'o',
      'x-user': 'mallory',
    });
    stream.decodeHeaders(headers, true);
    await until(() => callbacks.continueDecodingCalls === 1, 'continueDecoding');
    assert.deepEqual(seen, {
      url: '/check/item/1',
      method: 'DELETE',
      host: 'example.com',
      allowed: 'a',
      other: undefined,
      added: '1',
      auth: 'Basic x',
    });
    assert.equal(headers.get('x-user'), 'alice');
    assert.equal(headers.get('x-append-me'), 'z');
    assert.equal(headers.get('authorization'), undefined);
    const response = responseHeaders(200);
    stream.encodeHeaders(response);
    assert.equal(response.get('x-seen'), 'true');
    assert.equal(
      callbacks.streamInfo.dynamicMetadata.get('envoy.filters.http.ext_authz')?.['x-user'],
      'alice',
    );
  });

  test('another status denies with the service’s status, body and headers; 5xx is an error', async () => {
    const port = await httpService((req, _body, res) => {
      if (req.url === '/check/broken') {
        res.writeHead(502).end('oops');
        return;
      }
      res.writeHead(401, { 'www-authenticate': 'Basic', 'x-reason': 'no' }).end('go away');
    });
    const { make } = setup(HTTP(), [runtime('authz', port)]);
    const a = make();
    a.stream.decodeHeaders(requestHeaders('GET', '/'), true);
    await until(() => a.callbacks.localReplies.length === 1, 'deny');
    const reply = a.callbacks.localReplies[0]!;
    assert.equal(reply.status, 401);
    assert.equal(reply.body, 'go away');
    const replyHeaders = responseHeaders(401);
    reply.options!.modifyHeaders!(replyHeaders);
    assert.equal(replyHeaders.get('www-authenticate'), 'Basic');
    assert.equal(replyHeaders.get('x-reason'), 'no');
    assert.equal(replyHeaders.get('content-length'), undefined);

    const b = make();
    b.stream.decodeHeaders(requestHeaders('GET', '/broken'), true);
    await until(() => b.callbacks.localReplies.length === 1, 'error');
    assert.equal(b.callbacks.localReplies[0]!.status, 403);
    assert.equal(b.callbacks.localReplies[0]!.options?.details, 'ext_authz_error');
  });

  test('with_request_body sends the body with its length', async () => {
    let received = '';
    const port = await httpService((_req, body, res) => {
      received = body;
      res.writeHead(200).end();
    });
    const { make } = setup(HTTP({ with_request_body: { max_request_bytes: 100 } }), [
      runtime('authz', port),
    ]);
    const { callbacks, stream } = make();
    stream.decodeHeaders(requestHeaders('POST', '/'), false);
    assert.equal(stream.decodeData(Buffer.from('hello'), true), 'stop-and-watermark');
    await until(() => callbacks.continueDecodingCalls === 1, 'continueDecoding');
    assert.equal(received, 'hello');
  });
});

describe('ext_authz config', () => {
  test('unsupported fields are NACKed with their paths', () => {
    const issues = new Issues('');
    validateExtAuthz(
      {
        grpc_service: { google_grpc: { target_uri: 'x', stat_prefix: 's' } },
        metadata_context_namespaces: ['a'],
        encode_raw_headers: true,
      },
      'f',
      issues,
    );
    assert.deepEqual(
      issues.errors.map((e) => e.split(':')[0]),
      ['f.metadata_context_namespaces', 'f.encode_raw_headers', 'f.grpc_service.google_grpc'],
    );
  });

  test('defaults: gRPC timeout 200 ms, status_on_error 403', () => {
    const issues = new Issues('');
    const model = validateExtAuthz(
      { grpc_service: { envoy_grpc: { cluster_name: 'a' } } },
      'f',
      issues,
    );
    assert.deepEqual(issues.errors, []);
    assert.equal(model.timeoutMs, 200);
    assert.equal(model.statusOnError, 403);
  });

  test('http_service needs server_uri.timeout; per-route needs disabled or check_settings', () => {
    const issues = new Issues('');
    validateExtAuthz(
      { http_service: { server_uri: { uri: 'http://a', cluster: 'a' } } },
      'f',
      issues,
    );
    assert.deepEqual(issues.errors, [
      'f.http_service.server_uri.timeout: required (a positive duration)',
    ]);
    const perRouteIssues = new Issues('');
    validatePerRoute({}, 'p', perRouteIssues);
    assert.deepEqual(perRouteIssues.errors, [
      'p: one of disabled (true) or check_settings is required',
    ]);
  });
});
