import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CorsPolicyModel, StringMatcherModel } from '../../../config/model.js';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import type { RouteMatchResult } from '../../../router/route-table.js';
import { FakeFilterCallbacks, requestHeaders, responseHeaders } from '../filter-test-fixtures.js';
import { httpFilterByPerRouteTypeUrl } from '../registry.js';
import { CORS_POLICY_TYPE_URL, corsFilter, inlineCorsPolicy } from './config.js';
import { CorsFilter } from './cors-filter.js';

const exact = (value: string): StringMatcherModel => ({ kind: 'exact', value, ignoreCase: false });

function policy(extra: Partial<CorsPolicyModel> = {}): CorsPolicyModel {
  return {
    allowOriginStringMatch: [exact('https://app.example')],
    allowMethods: 'GET,PUT',
    allowHeaders: 'x-custom',
    exposeHeaders: 'x-exposed',
    maxAge: '600',
    ...extra,
  };
}

function callbacksFor(...policies: CorsPolicyModel[]): FakeFilterCallbacks {
  return new FakeFilterCallbacks({
    route: { perFilter: policies.map((config) => ({ config, disabled: false })) },
  });
}

const PREFLIGHT = {
  origin: 'https://app.example',
  'access-control-request-method': 'PUT',
  'access-control-request-headers': 'x-custom',
};

function headersOf(map: { names: string[]; values: string[] }): Record<string, string> {
  return Object.fromEntries(map.names.map((n, i) => [n, map.values[i]!]));
}

describe('cors config', () => {
  test('CorsPolicy is the per-route type; fields map to the model', () => {
    assert.equal(httpFilterByPerRouteTypeUrl(CORS_POLICY_TYPE_URL), corsFilter);
    const issues = new Issues('');
    const value = corsFilter.validatePerRoute!(
      CORS_POLICY_TYPE_URL,
      {
        allow_origin_string_match: [{ prefix: 'https://', ignore_case: true }],
        allow_methods: 'GET',
        allow_credentials: false,
        filter_enabled: { default_value: { numerator: 50 }, runtime_key: 'cors.on' },
        shadow_enabled: { default_value: {} },
        forward_not_matching_preflights: false,
      },
      'p',
      issues,
    );
    assert.deepEqual(issues.errors, []);
    assert.deepEqual(value, {
      allowOriginStringMatch: [{ kind: 'prefix', value: 'https://', ignoreCase: true }],
      allowMethods: 'GET',
      allowHeaders: '',
      exposeHeaders: '',
      maxAge: '',
      allowCredentials: false,
      filterEnabled: { numerator: 50, denominator: 100 },
      shadowEnabled: { numerator: 0, denominator: 100 },
      forwardNotMatchingPreflights: false,
    });
  });

  test('NACKs with field paths (typed and inline)', () => {
    const issues = new Issues('');
    const bad: JsonObject = { allow_origin_string_match: [{ exact: 'a', bogus: 1 }], nope: 1 };
    corsFilter.validatePerRoute!(CORS_POLICY_TYPE_URL, bad, 'p', issues);
    inlineCorsPolicy(
      { filter_enabled: { default_value: { numerator: 1, x: 1 } } },
      'vh.cors',
      issues,
    );
    assert.deepEqual(issues.errors, [
      'p.nope: not supported by ferry-proxy',
      'p.allow_origin_string_match[0].bogus: not supported by ferry-proxy',
      'vh.cors.filter_enabled.default_value.x: not supported by ferry-proxy',
    ]);
    const filterIssues = new Issues('');
    corsFilter.validate({ anything: true }, 'typed_config', filterIssues);
    assert.deepEqual(filterIssues.errors, ['typed_config.anything: not supported by ferry-proxy']);
  });
});

describe('cors filter', () => {
  const stats = new MemoryStatsSink();
  const context = { stats, statPrefix: 'http', listenerName: 'l' };
  const filter = new CorsFilter(context, () => 0.5);

  test('a preflight from an allowed origin is answered 200 with the policy headers', () => {
    const callbacks = callbacksFor(policy({ allowCredentials: true }));
    const stream = filter.create(callbacks);
    assert.equal(stream.decodeHeaders(requestHeaders('OPTIONS', '/x', PREFLIGHT)), 'stop');
    assert.equal(callbacks.response.ended, true);
    assert.equal(callbacks.response.headers?.status, 200);
    assert.deepEqual(headersOf(callbacks.response.headers), {
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET,PUT',
      'access-control-allow-headers': 'x-custom',
      'access-control-max-age': '600',
    });
    assert.equal(callbacks.streamInfo.responseCodeDetails, 'cors_response');
  });

  test('"*" methods and headers echo the request; private network access', () => {
    const callbacks = callbacksFor(
      policy({ allowMethods: '*', allowHeaders: '*', maxAge: '', allowPrivateNetworkAccess: true }),
    );
    filter.create(callbacks).decodeHeaders(
      requestHeaders('OPTIONS', '/', {
        ...PREFLIGHT,
        'access-control-request-private-network': 'true',
      }),
    );
    assert.deepEqual(headersOf(callbacks.response.headers!), {
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-methods': 'PUT',
      'access-control-allow-headers': 'x-custom',
      'access-control-allow-private-network': 'true',
    });
  });

  test('preflights from other origins go upstream, or get no CORS headers', () => {
    const other = { ...PREFLIGHT, origin: 'https://evil.example' };
    const forwarded = callbacksFor(policy());
    assert.equal(
      filter.create(forwarded).decodeHeaders(requestHeaders('OPTIONS', '/', other)),
      'continue',
    );
    const answered = callbacksFor(policy({ forwardNotMatchingPreflights: false }));
    assert.equal(
      filter.create(answered).decodeHeaders(requestHeaders('OPTIONS', '/', other)),
      'stop',
    );
    assert.equal(answered.response.headers?.get('access-control-allow-origin'), undefined);
    assert.equal(answered.response.headers?.get('access-control-allow-methods'), 'GET,PUT');
  });

  test('actual requests from allowed origins get allow-origin, credentials and expose headers', () => {
    const callbacks = callbacksFor(policy({ allowCredentials: true }));
    const stream = filter.create(callbacks);
    assert.equal(
      stream.decodeHeaders(requestHeaders('GET', '/', { origin: 'https://app.example' })),
      'continue',
    );
    const response = responseHeaders(200, { vary: 'accept-encoding' });
    stream.encodeHeaders(response);
    assert.deepEqual(headersOf(response), {
      vary: 'accept-encoding',
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-exposed',
    });
  });

  test('origins are counted valid or invalid; requests without one are not counted', () => {
    const labels = { listener: 'l', stat_prefix: 'http' };
    const valid = stats.counterValue('cors_origin_valid', labels);
    const invalid = stats.counterValue('cors_origin_invalid', labels);
    for (const headers of [
      { origin: 'https://app.example' },
      { origin: 'https://evil.example' },
      {},
    ] as Record<string, string>[])
      filter.create(callbacksFor(policy())).decodeHeaders(requestHeaders('GET', '/', headers));
    assert.equal(stats.counterValue('cors_origin_valid', labels), valid + 1);
    assert.equal(stats.counterValue('cors_origin_invalid', labels), invalid + 1);
  });

  test('responses to other origins, or without Origin, are left alone', () => {
    for (const headers of [{ origin: 'https://evil.example' }, {}] as Record<string, string>[]) {
      const stream = filter.create(callbacksFor(policy()));
      stream.decodeHeaders(requestHeaders('GET', '/', headers));
      const response = responseHeaders(200);
      stream.encodeHeaders(response);
      assert.equal(response.size, 0);
    }
  });

  test('a matcher that matches "*" allows every origin', () => {
    const stream = filter.create(callbacksFor(policy({ allowOriginStringMatch: [exact('*')] })));
    stream.decodeHeaders(requestHeaders('GET', '/', { origin: 'https://any.example' }));
    const response = responseHeaders(200);
    stream.encodeHeaders(response);
    assert.equal(response.get('access-control-allow-origin'), 'https://any.example');
  });

  test('levels merge field by field, most specific first', () => {
    const route = policy({
      allowOriginStringMatch: [],
      allowMethods: 'POST',
      maxAge: '',
      exposeHeaders: '',
    });
    const vhost = policy({ allowCredentials: false });
    const callbacks = callbacksFor(route, vhost);
    filter.create(callbacks).decodeHeaders(requestHeaders('OPTIONS', '/', PREFLIGHT));
    assert.deepEqual(headersOf(callbacks.response.headers!), {
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'x-custom',
      'access-control-max-age': '600',
    });
  });

  test('filter_enabled rolls per request; shadow mode only observes', () => {
    const half = { numerator: 50, denominator: 100 };
    const on = new CorsFilter(context, () => 0.49);
    const off = new CorsFilter(context, () => 0.5);
    const run = (f: CorsFilter, p: CorsPolicyModel) => {
      const callbacks = callbacksFor(p);
      return f.create(callbacks).decodeHeaders(requestHeaders('OPTIONS', '/', PREFLIGHT));
    };
    assert.equal(run(on, policy({ filterEnabled: half })), 'stop');
    assert.equal(run(off, policy({ filterEnabled: half })), 'continue');
    const shadow = policy({
      filterEnabled: { numerator: 0, denominator: 100 },
      shadowEnabled: half,
    });
    assert.equal(run(on, shadow), 'continue', 'shadow only: preflights are not answered');
  });

  test('no route, redirect routes and routes without a policy are passed through', () => {
    const none = new FakeFilterCallbacks();
    assert.equal(
      filter.create(none).decodeHeaders(requestHeaders('OPTIONS', '/', PREFLIGHT)),
      'continue',
    );
    const redirect = new FakeFilterCallbacks({
      route: { kind: 'redirect', perFilter: [{ config: policy(), disabled: false }] },
    });
    assert.equal(
      filter.create(redirect).decodeHeaders(requestHeaders('OPTIONS', '/', PREFLIGHT)),
      'continue',
    );
    const empty = new FakeFilterCallbacks({ route: {} });
    assert.equal(
      filter.create(empty).decodeHeaders(requestHeaders('OPTIONS', '/', PREFLIGHT)),
      'continue',
    );
  });

  test('the deprecated inline cors of the route action and virtual host is used without typed policies', () => {
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const base = callbacks.route()!;
    callbacks.routeResult = {
      ...base,
      action: { kind: 'route', cors: policy({ allowMethods: 'DELETE' }) },
      virtualHost: { cors: policy({ maxAge: '60' }) },
      perFilterConfigs: () => [],
    } as unknown as RouteMatchResult;
    filter.create(callbacks).decodeHeaders(requestHeaders('OPTIONS', '/', PREFLIGHT));
    assert.equal(callbacks.response.headers?.get('access-control-allow-methods'), 'DELETE');
    assert.equal(callbacks.response.headers?.get('access-control-max-age'), '600');
  });
});
