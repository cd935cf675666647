/** HCM access_log translation: the model it yields and the NACK it sends for what is unsupported. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENVOY_DEFAULT_FORMAT } from '../access-log/access-log-format.js';
import type { ProxyConfig } from './model.js';
import { buildProxyConfig } from './translate.js';
import { resourcesOf } from './translate-test-fixtures.js';
import type { Result } from '@ferry/proto';

const T = 'type.googleapis.com/';
const FILE = `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`;
const STDOUT = `${T}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`;
const L = 'Listener "http": filter_chains[0].filters[0].typed_config';

function build(accessLog: unknown[]): Result<ProxyConfig> {
  const hcm = {
    '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
    stat_prefix: 'http',
    route_config: {
      name: 'inline',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }],
        },
      ],
    },
    http_filters: [
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
      },
    ],
    access_log: accessLog,
  };
  const listener = {
    '@type': 'envoy.config.listener.v3.Listener',
    name: 'http',
    address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
    filter_chains: [
      { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] },
    ],
  };
  return buildProxyConfig(resourcesOf([listener]));
}

function accessLogs(result: Result<ProxyConfig>): unknown {
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  return result.value.listeners[0]!.filterChains[0]!.http!.accessLogs;
}

describe('HCM access_log translation', () => {
  test('omit_empty_values and START_TIME with a time format', () => {
    const logs = accessLogs(
      build([
        {
          name: 'f',
          typed_config: {
            '@type': STDOUT,
            log_format: {
              text_format: '%START_TIME(%Y-%m-%dT%H:%M:%S%z)% %REQ(X-ID)%\n',
              omit_empty_values: true,
            },
          },
        },
      ]),
    );
    assert.deepEqual(logs, [
      {
        name: 'f',
        sink: 'stdout',
        textFormat: '%START_TIME(%Y-%m-%dT%H:%M:%S%z)% %REQ(X-ID)%\n',
        omitEmptyValues: true,
      },
    ]);
  });

  test('file with the default format, stdout with text_format_source, file with json_format', () => {
    const logs = accessLogs(
      build([
        { name: 'envoy.access_loggers.file', typed_config: { '@type': FILE, path: '/tmp/a.log' } },
        {
          name: 'envoy.access_loggers.stdout',
          typed_config: {
            '@type': STDOUT,
            log_format: {
              text_format_source: { inline_string: '%RESPONSE_CODE% %RESPONSE_FLAGS%\n' },
            },
          },
        },
        {
          name: 'json',
          typed_config: {
            '@type': FILE,
            path: '/tmp/j.log',
            log_format: { json_format: { code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%' } },
          },
        },
        {
          name: 'text',
          typed_config: { '@type': STDOUT, log_format: { text_format: '%DURATION%\n' } },
        },
      ]),
    );
    assert.deepEqual(logs, [
      {
        name: 'envoy.access_loggers.file',
        sink: 'file',
        path: '/tmp/a.log',
        textFormat: ENVOY_DEFAULT_FORMAT,
      },
      {
        name: 'envoy.access_loggers.stdout',
        sink: 'stdout',
        textFormat: '%RESPONSE_CODE% %RESPONSE_FLAGS%\n',
      },
      {
        name: 'json',
        sink: 'file',
        path: '/tmp/j.log',
        jsonFormat: { code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%' },
      },
      { name: 'text', sink: 'stdout', textFormat: '%DURATION%\n' },
    ]);
  });

  test('no access_log: the model has no accessLogs field', () => {
    assert.equal(accessLogs(build([])), undefined);
  });

  const nacks: [string, unknown[], string[]][] = [
    [
      'access_log filter',
      [
        {
          name: 'f',
          filter: {
            status_code_filter: {
              comparison: { op: 'GE', value: { default_value: 400, runtime_key: 'k' } },
            },
          },
          typed_config: { '@type': STDOUT },
        },
      ],
      [`${L}.access_log[0].filter: not supported by ferry-proxy (every request is logged)`],
    ],
    [
      'unsupported operator in text_format',
      [
        {
          name: 'f',
          typed_config: {
            '@type': STDOUT,
            log_format: { text_format: '%RESPONSE_CODE% %UPSTREAM_LOCAL_ADDRESS%' },
          },
        },
      ],
      [
        `${L}.access_log[0].typed_config.log_format.text_format: command operator %UPSTREAM_LOCAL_ADDRESS% is not supported by ferry-proxy`,
      ],
    ],
    [
      'unsupported operator in json_format',
      [
        {
          name: 'f',
          typed_config: {
            '@type': FILE,
            path: '/tmp/x',
            log_format: { json_format: { a: { b: '%DOWNSTREAM_PEER_URI_SAN%' } } },
          },
        },
      ],
      [
        `${L}.access_log[0].typed_config.log_format.json_format.a.b: command operator %DOWNSTREAM_PEER_URI_SAN% is not supported by ferry-proxy`,
      ],
    ],
    [
      'unsupported logger',
      [
        {
          name: 'f',
          typed_config: {
            '@type': `${T}envoy.extensions.access_loggers.stream.v3.StderrAccessLog`,
          },
        },
      ],
      [
        `${L}.access_log[0].typed_config: access logger StderrAccessLog is not supported by ferry-proxy (StdoutAccessLog, FileAccessLog)`,
      ],
    ],
  ];
  for (const [name, logs, errors] of nacks)
    test(`NACK: ${name}`, () => {
      const result = build(logs);
      assert.equal(result.ok, false);
      if (!result.ok)
        assert.deepEqual(
          result.errors.map((e) => e.replace(/ \(supported: .*\)$/, '')),
          errors,
        );
    });
});
