import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { httpFilterByName, httpFilterByPerRouteTypeUrl } from '../registry.js';
import { rateLimitFilter, validateRateLimit } from './config.js';
import { appendXRateLimitHeaders } from './ratelimit-filter.js';

const SERVICE = {
  grpc_service: { envoy_grpc: { cluster_name: 'rls' } },
  transport_api_version: 'V3',
};

function validate(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  return { value: validateRateLimit(config, 'typed_config', issues), errors: issues.errors };
}

void describe('ratelimit config', () => {
  void test('registered by name and with its per-route type', () => {
    assert.equal(httpFilterByName('envoy.filters.http.ratelimit'), rateLimitFilter);
    assert.equal(
      httpFilterByPerRouteTypeUrl(
        'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute',
      ),
      rateLimitFilter,
    );
  });

  void test("Envoy's defaults, and every field read", () => {
    assert.deepEqual(validate({ domain: 'edge', rate_limit_service: SERVICE }), {
      errors: [],
      value: {
        domain: 'edge',
        stage: 0,
        requestType: 'both',
        timeoutMs: 20,
        failureModeDeny: false,
        rateLimitedAsResourceExhausted: false,
        service: { clusterName: 'rls', authority: 'rls', timeoutMs: 0, initialMetadata: [] },
        xRateLimitHeaders: false,
        disableXEnvoyRateLimitedHeader: false,
        rateLimitedStatus: 429,
        statusOnError: 500,
      },
    });
    const { value, errors } = validate({
      domain: 'edge',
      stage: 3,
      request_type: 'external',
      timeout: '0.250s',
      failure_mode_deny: true,
      rate_limited_as_resource_exhausted: true,
      rate_limit_service: SERVICE,
      enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
      disable_x_envoy_ratelimited_header: true,
      rate_limited_status: { code: 'ServiceUnavailable' },
      status_on_error: { code: 'OK' },
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(
      {
        ...(value as object),
        service: undefined,
      },
      {
        domain: 'edge',
        stage: 3,
        requestType: 'external',
        timeoutMs: 250,
        failureModeDeny: true,
        rateLimitedAsResourceExhausted: true,
        service: undefined,
        xRateLimitHeaders: true,
        disableXEnvoyRateLimitedHeader: true,
        rateLimitedStatus: 503,
        statusOnError: 500,
      },
    );
  });

  void test('what it cannot honour is refused with its path', () => {
    assert.deepEqual(
      validate({
        rate_limit_service: { grpc_service: { google_grpc: {} } },
        response_headers_to_add: [],
        stat_prefix: 'x',
      }).errors,
      [
        "typed_config.response_headers_to_add: response_headers_to_add (formatted headers on limited replies) is not supported by ferry-proxy; the RateLimitService's response_headers_to_add are honoured",
        "typed_config.stat_prefix: stat_prefix is not supported by ferry-proxy: the ratelimit_* stats carry the route's cluster",
        'typed_config.domain: required',
        'typed_config.rate_limit_service.grpc_service.google_grpc: google_grpc is not supported by ferry-proxy: use envoy_grpc with a cluster (http2_protocol_options)',
        'typed_config.rate_limit_service.transport_api_version: must be V3 (got AUTO)',
      ],
    );
    assert.deepEqual(validate({ domain: 'd' }).errors, [
      'typed_config.rate_limit_service: required',
    ]);
    const issues = new Issues('');
    const perRoute = rateLimitFilter.validatePerRoute!(
      '',
      { vh_rate_limits: 'INCLUDE', domain: 'other', rate_limits: [] },
      'p',
      issues,
    );
    assert.deepEqual(perRoute, { vhRateLimits: 'INCLUDE', domain: 'other' });
    assert.deepEqual(issues.errors, [
      'p.rate_limits: rate_limits in RateLimitPerRoute is not supported by ferry-proxy: put them on the route (route.rate_limits)',
    ]);
  });

  void test('x-ratelimit headers as Envoy writes them (DRAFT_VERSION_03)', () => {
    const status = (
      requestsPerUnit: number,
      unit: number,
      name: string,
      remaining: number,
      reset: bigint,
    ) => ({
      currentLimit: { requestsPerUnit, unit, name },
      limitRemaining: remaining,
      durationUntilReset: { seconds: reset },
    });
    assert.deepEqual(
      appendXRateLimitHeaders(
        [status(1, 2, 'first', 2, 3n), status(4, 3, 'second', 5, 6n), { limitRemaining: 0 }],
        ['x-from-service', 'v'],
      ),
      [
        'x-from-service',
        'v',
        'x-ratelimit-limit',
        '1, 1;w=60;name="first", 4;w=3600;name="second"',
        'x-ratelimit-remaining',
        '2',
        'x-ratelimit-reset',
        '3',
      ],
    );
    assert.equal(appendXRateLimitHeaders([{ limitRemaining: 0 }], undefined), undefined);
  });
});
