import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { httpFilterByName, httpFilterByTypeUrl } from '../registry.js';
import {
  HEALTH_CHECK_FILTER_TYPE_URL,
  healthCheckFilter,
  validateHealthCheckFilter,
} from './config.js';

function validate(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  const value = validateHealthCheckFilter(config, 'typed_config', issues);
  return { value, errors: issues.errors };
}

test('the factory is registered by type URL and by its Envoy names', () => {
  assert.equal(httpFilterByTypeUrl(HEALTH_CHECK_FILTER_TYPE_URL), healthCheckFilter);
  assert.equal(httpFilterByName('envoy.filters.http.health_check'), healthCheckFilter);
  assert.equal(healthCheckFilter.terminal, false);
});

test('a full config becomes the model', () => {
  const { value, errors } = validate({
    pass_through_mode: false,
    cache_time: '5s',
    headers: [{ name: ':path', string_match: { exact: '/healthz' } }],
    cluster_min_healthy_percentages: { web: { value: 50 }, empty: {} },
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(value, {
    passThroughMode: false,
    headers: [
      {
        name: ':path',
        invert: false,
        treatMissingAsEmpty: false,
        kind: 'string',
        string: { kind: 'exact', value: '/healthz', ignoreCase: false },
      },
    ],
    clusterMinHealthyPercentages: { web: 50, empty: 0 },
  });
});

test('invalid configs are rejected with field paths', () => {
  const table: Array<[string, JsonObject, string[]]> = [
    [
      'pass_through_mode missing',
      {},
      ['typed_config.pass_through_mode: is required (true or false)'],
    ],
    [
      'cache_time with pass-through',
      { pass_through_mode: true, cache_time: '1s' },
      [
        'typed_config.cache_time: response caching in pass_through_mode is not supported by ferry-proxy',
      ],
    ],
    [
      'percent out of range',
      { pass_through_mode: false, cluster_min_healthy_percentages: { web: { value: 101 } } },
      ['typed_config.cluster_min_healthy_percentages["web"].value: must be a number from 0 to 100'],
    ],
    [
      'unknown header matcher field',
      { pass_through_mode: false, headers: [{ name: ':path', exact_match: '/h', bogus: 1 }] },
      ['typed_config.headers[0].bogus: not supported by ferry-proxy'],
    ],
    [
      'unknown top-level field',
      { pass_through_mode: false, extra: true },
      ['typed_config.extra: not supported by ferry-proxy'],
    ],
  ];
  for (const [name, config, expected] of table)
    assert.deepEqual(validate(config).errors, expected, name);
});
