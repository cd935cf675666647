/**
 * envoy.filters.http.ratelimit against a RateLimitService on loopback (node:http2 speaking gRPC):
 * what is sent (domain, descriptors, x-ferry-group), and Envoy's handling of OK, OVER_LIMIT and
 * errors, with the filter callbacks faked.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@ferry/shared';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import { ClusterRuntime } from '../../../upstream/cluster-runtime.js';
import { loopbackClusterRuntime } from '../../../upstream/cluster-runtime-fixtures.js';
import { GrpcMessageCodec, frameGrpcMessage } from '../../../upstream/async-grpc-client.js';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { RateLimitPolicy, RouteRateLimits } from '../../../router/rate-limit-descriptors.js';
import {
  FakeFilterCallbacks,
  requestHeaders,
  responseHeaders,
  until,
} from '../filter-test-fixtures.js';
import { validateRateLimit } from './config.js';
import type { RateLimitPerRouteModel } from './model.js';
import { RateLimitFilterFactory } from './ratelimit-filter.js';

const logger = createLogger('ratelimit-test', 'silent');
const runtimes: ClusterRuntime[] = [];
after(() => {
  for (const r of runtimes) r.destroy();
});

function runtime(name: string, port: number): ClusterRuntime {
  const r = loopbackClusterRuntime(name, port, { upstreamProtocol: 'HTTP2' });
  runtimes.push(r);
  return r;
}

/** The service's side: decodes RateLimitRequests, encodes RateLimitResponses. */
const serviceCodec = new GrpcMessageCodec(
  'envoy.service.ratelimit.v3.RateLimitResponse',
  'envoy.service.ratelimit.v3.RateLimitRequest',
);

interface Seen {
  readonly request: {
    domain: string;
    descriptors: { entries: { key: string; value: string }[] }[];
  };
  readonly group: string | undefined;
  readonly node: string | undefined;
}

async function rls(answer: () => Record<string, unknown>): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const request = serviceCodec.decode(
        Buffer.concat(chunks).subarray(5),
      ) as unknown as Seen['request'];
      seen.push({
        request,
        group: headers['x-ferry-group'] as string | undefined,
        node: headers['x-ferry-node'] as string | undefined,
      });
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frameGrpcMessage(serviceCodec.encode(answer())));
    });
  });
  server.on('session', (s) => after(() => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  return { port: (server.address() as AddressInfo).port, seen };
}

function setup(configJson: JsonObject, rlsPort: number) {
  const issues = new Issues('');
  const config = validateRateLimit(
    {
      domain: 'edge',
      rate_limit_service: {
        grpc_service: { envoy_grpc: { cluster_name: 'rls' } },
        transport_api_version: 'V3',
      },
      timeout: '2s',
      ...configJson,
    },
    'typed_config',
    issues,
  );
  assert.deepEqual(issues.errors, []);
  const stats = new MemoryStatsSink();
  const factory = new RateLimitFilterFactory(config, {
    stats,
    statPrefix: 'http',
    listenerName: 'l',
    logger,
    serverHealth: { failing: false },
    localServiceCluster: 'edge-group',
    localNodeId: 'edge-7',
  });
  const rlsCluster = runtime('rls', rlsPort);
  const make = (perRoute?: RateLimitPerRouteModel) => {
    const callbacks = new FakeFilterCallbacks({
      route: {
        clusterName: 'web',
        perFilter: perRoute ? [{ config: perRoute, disabled: false }] : [],
      },
      downstreamRemoteIp: '198.51.100.7',
    });
    const route = callbacks.routeResult!;
    callbacks.routeResult = {
      ...route,
      rateLimits: new RouteRateLimits(
        RateLimitPolicy.compile([
          {
            stage: 0,
            disableKey: '',
            actions: [
              { kind: 'generic_key', descriptorKey: 'path', descriptorValue: 'login' },
              { kind: 'remote_address' },
            ],
          },
        ]),
        RateLimitPolicy.EMPTY,
        false,
      ),
    };
    const clusters = callbacks.clusters as Map<string, ClusterRuntime>;
    clusters.set('rls', rlsCluster);
    clusters.set('web', rlsCluster);
    return { callbacks, stream: factory.create(callbacks) };
  };
  const counter = (name: string) => stats.counterValue(name, { cluster: 'web' });
  return { make, counter };
}

const LIMIT = { requestsPerUnit: 10, unit: 2, name: 'per-ip' };

void describe('ratelimit filter', () => {
  void test('OK: sends the descriptors and the group, adds the service headers, continues', async () => {
    const service = await rls(() => ({
      overallCode: 1,
      statuses: [
        { code: 1, currentLimit: LIMIT, limitRemaining: 7, durationUntilReset: { seconds: 42n } },
      ],
      requestHeadersToAdd: [{ key: 'x-quota', value: 'fine' }],
      responseHeadersToAdd: [{ key: 'x-from-rls', value: '1' }],
    }));
    const { make, counter } = setup(
      { enable_x_ratelimit_headers: 'DRAFT_VERSION_03' },
      service.port,
    );
    const { callbacks, stream } = make();
    const headers = requestHeaders('GET', '/login');
    assert.equal(stream.decodeHeaders(headers), 'stop');
    await until(
      () => callbacks.continueDecodingCalls === 1,
      'callbacks.continueDecodingCalls === 1',
    );
    assert.deepEqual(service.seen[0]!.request.domain, 'edge');
    assert.deepEqual(
      service.seen[0]!.request.descriptors.map((d) => d.entries.map((e) => [e.key, e.value])),
      [
        [
          ['path', 'login'],
          ['remote_address', '198.51.100.7'],
        ],
      ],
    );
    assert.equal(service.seen[0]!.group, 'edge-group');
    assert.equal(service.seen[0]!.node, 'edge-7');
    assert.equal(headers.get('x-quota'), 'fine');
    const response = responseHeaders(200);
    stream.encodeHeaders(response);
    assert.equal(response.get('x-from-rls'), '1');
    assert.equal(response.get('x-ratelimit-limit'), '10, 10;w=60;name="per-ip"');
    assert.equal(response.get('x-ratelimit-remaining'), '7');
    assert.equal(response.get('x-ratelimit-reset'), '42');
    assert.equal(counter('ratelimit_ok'), 1);
  });

  void test('OVER_LIMIT: 429 (or the configured status), x-envoy-ratelimited, RL, raw_body', async () => {
    const service = await rls(() => ({
      overallCode: 2,
      statuses: [{ code: 2, currentLimit: LIMIT, limitRemaining: 0 }],
      rawBody: Buffer.from('slow down'),
    }));
    const { make, counter } = setup({ rate_limited_as_resource_exhausted: true }, service.port);
    const { callbacks, stream } = make();
    stream.decodeHeaders(requestHeaders('GET', '/login'));
    await until(() => callbacks.localReplies.length === 1, 'callbacks.localReplies.length === 1');
    const reply = callbacks.localReplies[0]!;
    assert.equal(reply.status, 429);
    assert.equal(reply.body, 'slow down');
    assert.equal(reply.options?.details, 'request_rate_limited');
    assert.equal(reply.options?.grpcStatus, 8);
    const headers = responseHeaders(429);
    reply.options?.modifyHeaders?.(headers);
    assert.equal(headers.get('x-envoy-ratelimited'), 'true');
    assert.equal(callbacks.streamInfo.responseFlags, 'RL');
    assert.equal(callbacks.continueDecodingCalls, 0);
    assert.equal(counter('ratelimit_over_limit'), 1);

    const quiet = setup(
      {
        disable_x_envoy_ratelimited_header: true,
        rate_limited_status: { code: 'ServiceUnavailable' },
      },
      service.port,
    ).make();
    quiet.stream.decodeHeaders(requestHeaders('GET', '/login'));
    await until(
      () => quiet.callbacks.localReplies.length === 1,
      'quiet.callbacks.localReplies.length === 1',
    );
    assert.equal(quiet.callbacks.localReplies[0]!.status, 503);
    const h = responseHeaders(503);
    quiet.callbacks.localReplies[0]!.options?.modifyHeaders?.(h);
    assert.equal(h.get('x-envoy-ratelimited'), undefined);
  });

  void test('errors: allowed and counted, or 500 RLSE with failure_mode_deny', async () => {
    const closed = await refusedPort();
    const allow = setup({}, closed);
    const a = allow.make();
    assert.equal(a.stream.decodeHeaders(requestHeaders('GET', '/login')), 'stop');
    await until(
      () => a.callbacks.continueDecodingCalls === 1,
      'a.callbacks.continueDecodingCalls === 1',
    );
    assert.equal(a.callbacks.localReplies.length, 0);
    assert.equal(allow.counter('ratelimit_error'), 1);
    assert.equal(allow.counter('ratelimit_failure_mode_allowed'), 1);

    const deny = setup({ failure_mode_deny: true }, closed);
    const d = deny.make();
    d.stream.decodeHeaders(requestHeaders('GET', '/login'));
    await until(
      () => d.callbacks.localReplies.length === 1,
      'd.callbacks.localReplies.length === 1',
    );
    assert.equal(d.callbacks.localReplies[0]!.status, 500);
    assert.equal(d.callbacks.localReplies[0]!.options?.details, 'rate_limiter_error');
    assert.equal(d.callbacks.streamInfo.responseFlags, 'RLSE');
    assert.equal(deny.counter('ratelimit_failure_mode_allowed'), 0);

    // UNKNOWN overall code is an error too.
    const unknown = await rls(() => ({ overallCode: 0 }));
    const u = setup({ failure_mode_deny: true }, unknown.port).make();
    u.stream.decodeHeaders(requestHeaders('GET', '/login'));
    await until(
      () => u.callbacks.localReplies.length === 1,
      'u.callbacks.localReplies.length === 1',
    );
    assert.equal(u.callbacks.localReplies[0]!.status, 500);
  });

  void test('request_type and the per-route domain; no descriptors, no call', async () => {
    const service = await rls(() => ({ overallCode: 1 }));
    const internalOnly = setup({ request_type: 'internal' }, service.port).make();
    assert.equal(internalOnly.stream.decodeHeaders(requestHeaders('GET', '/login')), 'continue');
    assert.equal(service.seen.length, 0);
    const internal = setup({ request_type: 'internal' }, service.port).make({
      vhRateLimits: 'OVERRIDE',
      domain: 'other',
    });
    assert.equal(
      internal.stream.decodeHeaders(
        requestHeaders('GET', '/login', { 'x-envoy-internal': 'true' }),
      ),
      'stop',
    );
    await until(
      () => internal.callbacks.continueDecodingCalls === 1,
      'internal.callbacks.continueDecodingCalls === 1',
    );
    assert.equal(service.seen[0]!.request.domain, 'other');
    // initial_metadata naming the group speaks for the caller: nothing is added.
    const stated = setup(
      {
        rate_limit_service: {
          grpc_service: {
            envoy_grpc: { cluster_name: 'rls' },
            initial_metadata: [{ key: 'x-ferry-group', value: 'stated' }],
          },
          transport_api_version: 'V3',
        },
      },
      service.port,
    ).make();
    stated.stream.decodeHeaders(requestHeaders('GET', '/login'));
    await until(() => stated.callbacks.continueDecodingCalls === 1, 'stated call answered');
    assert.deepEqual([service.seen[1]!.group, service.seen[1]!.node], ['stated', undefined]);
    // A route whose cluster does not exist is not limited (Envoy: no cluster info).
    const { callbacks, stream } = setup({}, service.port).make();
    callbacks.routeResult = {
      ...callbacks.routeResult!,
      clusterName: 'nowhere',
    };
    assert.equal(stream.decodeHeaders(requestHeaders('GET', '/login')), 'continue');
  });
});
