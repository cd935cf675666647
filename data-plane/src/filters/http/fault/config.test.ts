import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { httpFilterByName, httpFilterByPerRouteTypeUrl } from '../registry.js';
import { FAULT_FILTER_TYPE_URL, faultFilter, validateFault } from './config.js';

function validate(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  return { value: validateFault(config, 'typed_config', issues), errors: issues.errors };
}

describe('fault config', () => {
  test('registered by name and as its own per-route type', () => {
    assert.equal(httpFilterByName('envoy.filters.http.fault'), faultFilter);
    assert.equal(httpFilterByPerRouteTypeUrl(FAULT_FILTER_TYPE_URL), faultFilter);
  });

  test('a full config becomes the model, Envoy defaults applied', () => {
    const { value, errors } = validate({
      delay: { fixed_delay: '1.500s', percentage: { numerator: 25, denominator: 'TEN_THOUSAND' } },
      abort: { http_status: 503 },
      upstream_cluster: 'web',
      headers: [{ name: 'x-fault', present_match: true }],
      downstream_nodes: ['a', 'b'],
      max_active_faults: 0,
      abort_percent_runtime: 'fault.x',
      filter_metadata: { reason: 'chaos' },
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(value, {
      delay: {
        kind: 'fixed',
        fixedDelayMs: 1500,
        percentage: { numerator: 25, denominator: 10000 },
      },
      abort: { kind: 'http', httpStatus: 503, percentage: { numerator: 0, denominator: 100 } },
      upstreamCluster: 'web',
      headers: [
        {
          name: 'x-fault',
          kind: 'present',
          present: true,
          invert: false,
          treatMissingAsEmpty: false,
        },
      ],
      downstreamNodes: ['a', 'b'],
      maxActiveFaults: 0,
      filterMetadata: { reason: 'chaos' },
    });
  });

  test('header-controlled and gRPC faults', () => {
    assert.deepEqual(
      validate({
        delay: { header_delay: {}, percentage: { numerator: 100 } },
        abort: { grpc_status: 14, percentage: { numerator: 100 } },
      }).value,
      {
        delay: { kind: 'header', percentage: { numerator: 100, denominator: 100 } },
        abort: { kind: 'grpc', grpcStatus: 14, percentage: { numerator: 100, denominator: 100 } },
        upstreamCluster: '',
        headers: [],
        downstreamNodes: [],
      },
    );
    assert.deepEqual(validate({ abort: { header_abort: {} } }).value, {
      abort: { kind: 'header', percentage: { numerator: 0, denominator: 100 } },
      upstreamCluster: '',
      headers: [],
      downstreamNodes: [],
    });
  });

  test('NACKs with field paths', () => {
    const table: Array<[string, JsonObject, string[]]> = [
      [
        'response_rate_limit',
        { response_rate_limit: { fixed_limit: { limit_kbps: 1 } } },
        [
          'typed_config.response_rate_limit: response_rate_limit (response throughput faults) is not supported by ferry-proxy',
        ],
      ],
      [
        'unknown abort field',
        { abort: { http_status: 500, bogus: 1 } },
        ['typed_config.abort.bogus: not supported by ferry-proxy'],
      ],
      [
        'header matcher field',
        { headers: [{ name: 'a', exact_match: 'b', nope: true }] },
        ['typed_config.headers[0].nope: not supported by ferry-proxy'],
      ],
      [
        'percentage field',
        { delay: { fixed_delay: '1s', percentage: { numerator: 1, extra: 2 } } },
        ['typed_config.delay.percentage.extra: not supported by ferry-proxy'],
      ],
    ];
    for (const [name, config, errors] of table)
      assert.deepEqual(validate(config).errors, errors, name);
  });
});
