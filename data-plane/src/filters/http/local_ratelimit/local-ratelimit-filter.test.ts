import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { translateRouteConfig } from '../../../config/translate-route.js';
import { compileRouteConfig } from '../../../router/route-table.js';
import { SharedBuckets } from '../../../rate-limit/shared-bucket.js';
import { TokenBucketServer } from '../../../rate-limit/bucket-server.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import { FakeFilterCallbacks, requestHeaders, responseHeaders } from '../filter-test-fixtures.js';
import { localRateLimitFilter, LOCAL_RATE_LIMIT_TYPE_URL } from './config.js';
import type { LocalRateLimitModel } from './model.js';
import { LocalRateLimitFilter } from './local-ratelimit-filter.js';

const NAME = 'envoy.filters.http.local_ratelimit';
const ALWAYS = { default_value: { numerator: 100 } };
const HOUR = '3600s';

function validate(
  config: JsonObject,
  perRoute = false,
): { model: LocalRateLimitModel; errors: string[] } {
  const issues = new Issues('Listener "l"');
  const model = perRoute
    ? localRateLimitFilter.validatePerRoute!(LOCAL_RATE_LIMIT_TYPE_URL, config, 'p', issues)
    : localRateLimitFilter.validate(config, 'f', issues);
  return { model, errors: issues.errors };
}

function valid(config: JsonObject): LocalRateLimitModel {
  const { model, errors } = validate(config);
  assert.deepEqual(errors, []);
  return model;
}

/** A route table whose only route has `routeAction` extras and `perFilter` config. */
function routeTable(routeAction: JsonObject = {}, perFilter?: JsonObject) {
  const issues = new Issues('RouteConfiguration "rc"');
  const model = translateRouteConfig(
    {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/' },
              route: { cluster: 'web', ...routeAction },
              ...(perFilter
                ? {
                    typed_per_filter_config: {
                      [NAME]: { '@type': LOCAL_RATE_LIMIT_TYPE_URL, ...perFilter },
                    },
                  }
                : {}),
            },
          ],
        },
      ],
    },
    '',
    issues,
    { validateClustersDefault: false },
  );
  assert.deepEqual(issues.errors, []);
  return compileRouteConfig(model);
}

class Harness {
  readonly stats = new MemoryStatsSink();
  readonly filter: LocalRateLimitFilter;
  constructor(
    model: LocalRateLimitModel,
    readonly table = routeTable(),
    random: () => number = Math.random,
    readonly buckets = new SharedBuckets(),
  ) {
    this.filter = new LocalRateLimitFilter(
      model,
      { stats: this.stats, listenerName: 'l', localServiceCluster: 'edge' },
      { buckets: this.buckets, random },
    );
  }

  /** One request: what decodeHeaders returned, the reply (if any) and the response headers. */
  request(init: { ip?: string; headers?: Record<string, string>; socket?: object } = {}) {
    const callbacks = new FakeFilterCallbacks({
      name: NAME,
      downstreamRemoteIp: init.ip ?? '192.0.2.1',
    });
    if (init.socket) (callbacks.streamInfo.connection as { socket: object }).socket = init.socket;
    const headers = requestHeaders('GET', '/x', init.headers ?? {});
    callbacks.routeResult = this.table.match({
      authority: 'example.com',
      path: '/x',
      method: 'GET',
      headers,
    });
    const stream = this.filter.create(callbacks);
    const status = stream.decodeHeaders(headers);
    const reply = callbacks.localReplies[0];
    const response = responseHeaders(reply?.status ?? 200);
    reply?.options?.modifyHeaders?.(response);
    stream.encodeHeaders(response);
    return { status, reply, request: headers, response, callbacks };
  }

  counter(name: string, prefix = 'local'): number {
    return this.stats.counterValue(`http_local_rate_limit_${name}`, {
      listener: 'l',
      stat_prefix: prefix,
    });
  }
}

const BASE = { stat_prefix: 'local', filter_enabled: ALWAYS, filter_enforced: ALWAYS };

describe('local_ratelimit config', () => {
  test("Envoy's defaults", () => {
    const model = valid({ stat_prefix: 'x' });
    assert.equal(model.status, 429);
    assert.deepEqual(model.filterEnabled, { numerator: 0, denominator: 100 });
    assert.deepEqual(model.filterEnforced, { numerator: 0, denominator: 100 });
    assert.equal(model.tokenBucket, undefined);
    assert.equal(model.alwaysConsumeDefaultTokenBucket, true);
    assert.equal(model.vhRateLimits, 'OVERRIDE');
    assert.equal(model.xRateLimitHeaders, false);
  });

  test('status: names and numbers; below 400 becomes 429', () => {
    assert.equal(valid({ stat_prefix: 'x', status: { code: 'ServiceUnavailable' } }).status, 503);
    assert.equal(valid({ stat_prefix: 'x', status: { code: 'OK' } }).status, 429);
  });

  test('NACKs with field paths', () => {
    const cases: [JsonObject, boolean, string][] = [
      [{ stat_prefix: 'x' }, true, 'p.token_bucket: is required in a per-route config'],
      [
        { stat_prefix: 'x', token_bucket: { max_tokens: 1, fill_interval: '0.01s' } },
        false,
        'f.token_bucket.fill_interval: 10ms is too short',
      ],
      [
        { stat_prefix: 'x', token_bucket: { fill_interval: '1s' } },
        false,
        'f.token_bucket.max_tokens: must be greater than 0',
      ],
      [
        {
          stat_prefix: 'x',
          descriptors: [
            {
              entries: [{ key: 'k', value: 'v' }],
              token_bucket: { max_tokens: 1, fill_interval: '1s' },
            },
            {
              entries: [{ key: 'k', value: 'v' }],
              token_bucket: { max_tokens: 2, fill_interval: '1s' },
            },
          ],
        },
        false,
        'f.descriptors[1]: duplicate descriptor',
      ],
      [
        { stat_prefix: 'x', local_cluster_rate_limit: {} },
        false,
        'f.local_cluster_rate_limit: not supported',
      ],
      [{ stat_prefix: 'x', stage: 11 }, false, 'f.stage: 11 is out of range'],
    ];
    for (const [config, perRoute, expected] of cases) {
      const { errors } = validate(config, perRoute);
      assert.equal(errors.length, 1, `${expected}: ${errors.join('\n')}`);
      assert.ok(errors[0]!.includes(expected), errors[0]);
    }
  });

  test('the bucket identity follows the place and the content', () => {
    const config = { ...BASE, token_bucket: { max_tokens: 1, fill_interval: '1s' } };
    const a = validate(config).model.bucketId;
    assert.equal(validate({ ...config }).model.bucketId, a);
    assert.notEqual(
      validate({ ...config, token_bucket: { max_tokens: 2, fill_interval: '1s' } }).model.bucketId,
      a,
    );
    assert.notEqual(validate(config, true).model.bucketId, a);
  });
});

describe('local_ratelimit filter', () => {
  test('filter_enabled absent (0%): nothing is limited or counted', () => {
    const h = new Harness(
      valid({ stat_prefix: 'local', token_bucket: { max_tokens: 1, fill_interval: HOUR } }),
    );
    for (let i = 0; i < 3; i++) assert.equal(h.request().status, 'continue');
    assert.equal(h.counter('enabled'), 0);
  });

  test('over the bucket: 429 local_rate_limited, flag RL, stats', () => {
    const h = new Harness(valid({ ...BASE, token_bucket: { max_tokens: 2, fill_interval: HOUR } }));
    assert.equal(h.request().status, 'continue');
    assert.equal(h.request().status, 'continue');
    const limited = h.request();
    assert.equal(limited.status, 'stop');
    assert.equal(limited.reply?.status, 429);
    assert.equal(limited.reply?.body, 'local_rate_limited');
    assert.deepEqual(limited.reply?.options, {
      headers: { 'x-envoy-ratelimited': 'true' },
      flag: 'RL',
      details: 'local_rate_limited',
    });
    assert.deepEqual(
      ['enabled', 'ok', 'rate_limited', 'enforced'].map((n) => h.counter(n)),
      [3, 2, 1, 1],
    );
  });

  test('filter_enforced 0%: counted, passed on with request_headers_to_add_when_not_enforced', () => {
    const h = new Harness(
      valid({
        stat_prefix: 'local',
        filter_enabled: ALWAYS,
        token_bucket: { max_tokens: 1, fill_interval: HOUR },
        request_headers_to_add_when_not_enforced: [
          { header: { key: 'x-shadow-limited', value: 'true' } },
        ],
      }),
    );
    assert.equal(h.request().request.get('x-shadow-limited'), undefined);
    const over = h.request();
    assert.equal(over.status, 'continue');
    assert.equal(over.reply, undefined);
    assert.equal(over.request.get('x-shadow-limited'), 'true');
    assert.deepEqual(
      ['ok', 'rate_limited', 'enforced'].map((n) => h.counter(n)),
      [1, 1, 0],
    );
  });

  test('status, response_headers_to_add and rate_limited_as_resource_exhausted', () => {
    const h = new Harness(
      valid({
        ...BASE,
        status: { code: 'ServiceUnavailable' },
        token_bucket: { max_tokens: 1, fill_interval: HOUR },
        response_headers_to_add: [
          { header: { key: 'x-limited-by', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } },
        ],
        rate_limited_as_resource_exhausted: true,
      }),
    );
    h.request();
    const limited = h.request({ ip: '198.51.100.7' });
    assert.equal(limited.reply?.status, 503);
    assert.equal(limited.reply?.options?.grpcStatus, 8);
    assert.equal(limited.response.get('x-limited-by'), '198.51.100.7');
  });

  test('x-ratelimit headers (DRAFT_VERSION_03) on passed and limited responses', () => {
    const h = new Harness(
      valid({
        ...BASE,
        token_bucket: { max_tokens: 2, fill_interval: HOUR },
        enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      }),
    );
    const first = h.request().response;
    assert.equal(first.get('x-ratelimit-limit'), '2');
    assert.equal(first.get('x-ratelimit-remaining'), '1');
    assert.equal(first.get('x-ratelimit-reset'), '0');
    assert.equal(h.request().response.get('x-ratelimit-remaining'), '0');
    const limited = h.request().response;
    assert.equal(limited.get('x-ratelimit-remaining'), '0');
    // One token per hour: the next one is about an hour away.
    const reset = Number(limited.get('x-ratelimit-reset'));
    assert.ok(reset > 3500 && reset <= 3600, String(reset));
  });

  test('descriptors: one bucket per client IP from the route rate_limits', () => {
    const table = routeTable({ rate_limits: [{ actions: [{ remote_address: {} }] }] });
    const h = new Harness(
      valid({
        ...BASE,
        token_bucket: { max_tokens: 100, fill_interval: HOUR },
        always_consume_default_token_bucket: false,
        descriptors: [
          {
            entries: [{ key: 'remote_address', value: '192.0.2.1' }],
            token_bucket: { max_tokens: 1, fill_interval: HOUR },
          },
          {
            entries: [{ key: 'remote_address', value: '192.0.2.2' }],
            token_bucket: { max_tokens: 2, fill_interval: HOUR },
          },
        ],
      }),
      table,
    );
    assert.equal(h.request({ ip: '192.0.2.1' }).status, 'continue');
    assert.equal(h.request({ ip: '192.0.2.1' }).status, 'stop');
    assert.equal(h.request({ ip: '192.0.2.2' }).status, 'continue');
    assert.equal(h.request({ ip: '192.0.2.2' }).status, 'continue');
    assert.equal(h.request({ ip: '192.0.2.2' }).status, 'stop');
    // No descriptor matches another address: the default bucket decides.
    for (let i = 0; i < 5; i++) assert.equal(h.request({ ip: '192.0.2.3' }).status, 'continue');
  });

  test('always_consume_default_token_bucket (default): a matched request spends the default bucket too', () => {
    const table = routeTable({
      rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'k' } }] }],
    });
    const h = new Harness(
      valid({
        ...BASE,
        token_bucket: { max_tokens: 1, fill_interval: HOUR },
        descriptors: [
          {
            entries: [{ key: 'generic_key', value: 'k' }],
            token_bucket: { max_tokens: 10, fill_interval: HOUR },
          },
        ],
      }),
      table,
    );
    assert.equal(h.request().status, 'continue');
    assert.equal(h.request().status, 'stop');
  });

  test('a per-route LocalRateLimit replaces the filter config (its own bucket and stats)', () => {
    const table = routeTable(
      {},
      {
        stat_prefix: 'route',
        filter_enabled: ALWAYS,
        filter_enforced: ALWAYS,
        token_bucket: { max_tokens: 1, fill_interval: HOUR },
      },
    );
    // The filter itself has no bucket and is disabled: the common "enable per route" pattern.
    const h = new Harness(valid({ stat_prefix: 'local' }), table);
    assert.equal(h.request().status, 'continue');
    assert.equal(h.request().status, 'stop');
    assert.equal(h.counter('enforced', 'route'), 1);
    assert.equal(h.counter('enabled', 'local'), 0);
  });

  test('local_rate_limit_per_downstream_connection: one bucket per connection', () => {
    const h = new Harness(
      valid({
        ...BASE,
        token_bucket: { max_tokens: 1, fill_interval: HOUR },
        local_rate_limit_per_downstream_connection: true,
      }),
    );
    const a = { remoteAddress: '192.0.2.1' };
    const b = { remoteAddress: '192.0.2.1' };
    assert.equal(h.request({ socket: a }).status, 'continue');
    assert.equal(h.request({ socket: a }).status, 'stop');
    assert.equal(h.request({ socket: b }).status, 'continue');
  });

  test('filter_enforced as a fraction rolls per limited request', () => {
    const rolls = [0.9, 0.1];
    let i = 0;
    const h = new Harness(
      valid({
        stat_prefix: 'local',
        filter_enabled: ALWAYS,
        filter_enforced: { default_value: { numerator: 50 } },
        token_bucket: { max_tokens: 1, fill_interval: HOUR },
      }),
      routeTable(),
      () => rolls[i++ % rolls.length]!,
    );
    h.request();
    assert.equal(h.request().status, 'continue');
    assert.equal(h.request().status, 'stop');
  });

  test('a worker without stock holds the request for its lease, then decides it', () => {
    // Leases answered when the test says so, as the primary does over IPC.
    const server = new TokenBucketServer(() => 2);
    const inFlight: (() => void)[] = [];
    const buckets: SharedBuckets = new SharedBuckets({
      send: (request) =>
        inFlight.push(() => {
          const grant = server.lease(request);
          if (grant !== undefined) buckets.onGrant(grant);
        }),
    });
    const h = new Harness(
      valid({ ...BASE, token_bucket: { max_tokens: 1, fill_interval: HOUR } }),
      routeTable(),
      Math.random,
      buckets,
    );
    const first = h.request();
    const second = h.request();
    assert.deepEqual([first.status, second.status], ['stop', 'stop']);
    assert.equal(inFlight.length, 1, 'one lease for both');
    inFlight.shift()!();
    assert.equal(first.callbacks.continueDecodingCalls, 1, 'the first got the token');
    assert.equal(second.callbacks.localReplies.length, 0, 'the second asks again');
    while (inFlight.length > 0) inFlight.shift()!();
    assert.equal(second.callbacks.localReplies[0]?.status, 429);
    assert.equal(second.callbacks.continueDecodingCalls, 0);
    // The bucket is known to be empty now: the next request is refused without a lease.
    assert.equal(h.request().reply?.status, 429);
    assert.equal(inFlight.length, 0);
    server.close();
  });
});
