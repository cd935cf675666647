import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ENVOY_DEFAULT_FORMAT,
  checkJsonFormat,
  compileJsonFormat,
  compileTextFormat,
  parseFormat,
} from './access-log-format.js';
import type { AccessLogRecord } from './access-log-record.js';

const START = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

function record(overrides: Partial<AccessLogRecord> = {}): AccessLogRecord {
  const requestHeaders: Record<string, string> = {
    'user-agent': 'curl/8.0',
    'x-forwarded-for': '10.0.0.1',
  };
  const responseHeaders: Record<string, string> = { 'x-envoy-upstream-service-time': '7' };
  return {
    listener: 'http',
    method: 'GET',
    authority: 'example.com',
    path: '/a?b=c',
    protocol: 'HTTP/1.1',
    status: 200,
    responseFlags: '-',
    durationMs: 12.9,
    route: 'r1',
    cluster: 'web',
    upstreamHost: '127.0.0.1:8080',
    requestId: 'rid-1',
    attempts: 1,
    startTimeMs: START,
    bytesReceived: 3,
    bytesSent: 42,
    downstreamRemoteAddress: '192.0.2.7:5555',
    requestHeader: (n) => requestHeaders[n],
    responseHeader: (n) => responseHeaders[n],
    ...overrides,
  };
}

describe('access log text format', () => {
  const cases: [string, string, Partial<AccessLogRecord>?][] = [
    ['%START_TIME%', '2024-01-02T03:04:05.678Z'],
    ['%REQ(:METHOD)%', 'GET'],
    ['%REQ(:PATH)%', '/a?b=c'],
    ['%REQ(:AUTHORITY)%', 'example.com'],
    ['%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', '/a?b=c'],
    ['%REQ(USER-AGENT)%', 'curl/8.0'],
    ['%REQ(user-agent):4%', 'curl'],
    ['%REQ(X-MISSING)%', '-'],
    ['%REQ(X-REQUEST-ID)%', 'rid-1'],
    ['%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%', '7'],
    ['%RESP(X-MISSING?X-ENVOY-UPSTREAM-SERVICE-TIME)%', '7'],
    ['%PROTOCOL%', 'HTTP/1.1'],
    ['%RESPONSE_CODE%', '404', { status: 404 }],
    ['%RESPONSE_FLAGS%', 'NR', { responseFlags: 'NR' }],
    ['%BYTES_RECEIVED% %BYTES_SENT%', '3 42'],
    ['%BYTES_SENT%', '0', { bytesSent: undefined }],
    ['%DURATION%', '12'],
    ['%UPSTREAM_HOST%', '127.0.0.1:8080'],
    ['%UPSTREAM_HOST%', '-', { upstreamHost: '' }],
    ['%UPSTREAM_CLUSTER%', 'web'],
    ['%ROUTE_NAME%', 'r1'],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '192.0.2.7:5555'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '192.0.2.7'],
    [
      '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
      '2001:db8::1',
      { downstreamRemoteAddress: '[2001:db8::1]:80' },
    ],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '-', { downstreamRemoteAddress: undefined }],
    ['plain text', 'plain text'],
  ];
  for (const [format, expected, overrides] of cases)
    test(`${format} → ${expected}`, () => {
      assert.equal(compileTextFormat(format)(record(overrides)), expected);
    });

  test("Envoy's default format", () => {
    assert.equal(
      compileTextFormat(ENVOY_DEFAULT_FORMAT)(record({ status: 503, responseFlags: 'UF' })),
      '[2024-01-02T03:04:05.678Z] "GET /a?b=c HTTP/1.1" 503 UF 3 42 12 7 "10.0.0.1" "curl/8.0" "rid-1" "example.com" "127.0.0.1:8080"\n',
    );
  });

  test('START_TIME defaults to now minus the duration', () => {
    const line = compileTextFormat('%START_TIME%')(record({ startTimeMs: undefined }));
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});

describe('access log format errors', () => {
  const cases: [string, RegExp][] = [
    ['%DOWNSTREAM_LOCAL_ADDRESS%', /DOWNSTREAM_LOCAL_ADDRESS% is not supported by ferry-proxy/],
    ['%START_TIME(%s)%', /not supported|malformed/],
    ['%REQ()%', /needs a header name/],
    ['%REQ(a?b?c)%', /expected REQ\(header\)/],
    ['abc %RESPONSE_CODE', /unterminated command operator at offset 4/],
    ['%lower%', /malformed command operator/],
  ];
  for (const [format, error] of cases)
    test(`${format} is rejected`, () => {
      const parsed = parseFormat(format);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.errors.join('; '), error);
    });
});

describe('access log JSON format', () => {
  test('single operators keep their type, mixed strings are strings, missing is null', () => {
    const format = {
      code: '%RESPONSE_CODE%',
      flags: '%RESPONSE_FLAGS%',
      duration: '%DURATION%',
      line: '%REQ(:METHOD)% %REQ(:PATH)%',
      missing: '%REQ(X-MISSING)%',
      constant: 'fixed "quoted"',
      number: 5,
      nested: { cluster: '%UPSTREAM_CLUSTER%', ua: '%REQ(USER-AGENT):3%' },
    };
    const line = compileJsonFormat(format)(record({ status: 404, responseFlags: 'NR' }));
    assert.ok(line.endsWith('\n'));
    assert.deepEqual(JSON.parse(line), {
      code: 404,
      flags: 'NR',
      duration: 12,
      line: 'GET /a?b=c',
      missing: null,
      constant: 'fixed "quoted"',
      number: 5,
      nested: { cluster: 'web', ua: 'cur' },
    });
  });

  test('values are escaped', () => {
    const line = compileJsonFormat({ path: '%REQ(:PATH)%' })(record({ path: '/"\\\n' }));
    assert.deepEqual(JSON.parse(line), { path: '/"\\\n' });
  });

  test('checkJsonFormat reports bad operators and lists with their paths', () => {
    assert.deepEqual(checkJsonFormat({ a: { b: '%NOPE%' }, c: ['x'] }, 'json_format').length, 2);
    assert.match(
      checkJsonFormat({ a: { b: '%NOPE%' } }, 'json_format')[0]!,
      /^json_format\.a\.b: /,
    );
    assert.deepEqual(checkJsonFormat({ a: '%RESPONSE_CODE%' }, 'json_format'), []);
  });
});
