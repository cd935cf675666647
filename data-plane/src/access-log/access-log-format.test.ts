import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { HeaderMap } from '../http/header-map.js';
import {
  ENVOY_DEFAULT_FORMAT,
  SUPPORTED_OPERATORS,
  checkJsonFormat,
  compileJsonFormat,
  compileTextFormat,
  parseFormat,
} from './access-log-format.js';
import type { AccessLogRecord } from './access-log-record.js';

const START = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

type Socket = NonNullable<AccessLogRecord['socket']>;

function socket(fields: Record<string, unknown>): Socket {
  return fields as unknown as Socket;
}

const SOCKET = socket({
  remoteAddress: '192.0.2.7',
  remotePort: 5555,
  localAddress: '10.1.2.3',
  localPort: 8080,
});

function record(overrides: Partial<AccessLogRecord> = {}): AccessLogRecord {
  const responseHeaders = new HeaderMap();
  responseHeaders.set('x-envoy-upstream-service-time', '7');
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
    requestDurationMs: 1.5,
    responseDurationMs: 9.2,
    requestHeaders: HeaderMap.fromObject({
      'user-agent': 'curl/8.0',
      'x-forwarded-for': '10.0.0.1',
      'x-test-id': 'abc',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    }),
    responseHeaders,
    socket: SOCKET,
    ...overrides,
  };
}

describe('access log text format', () => {
  // One row per operator (and per interesting case of it): format, expected line, overrides.
  const cases: [string, string, Partial<AccessLogRecord>?][] = [
    ['%START_TIME%', '2024-01-02T03:04:05.678Z'],
    ['%START_TIME(%Y-%m-%dT%H:%M:%S%z)%', '2024-01-02T03:04:05+0000'],
    ['%START_TIME(%s.%3f)%', '1704164645.678'],
    ['%START_TIME(%F %T.%6f %Z)%', '2024-01-02 03:04:05.678000 UTC'],
    ['%START_TIME(%d/%b/%Y:%H:%M:%S %z)%', '02/Jan/2024:03:04:05 +0000'],
    ['[%START_TIME(%Y)%] %RESPONSE_CODE%', '[2024] 200'],
    ['%REQ(:METHOD)%', 'GET'],
    ['%REQ(:PATH)%', '/a?b=c'],
    ['%REQ(:AUTHORITY)%', 'example.com'],
    ['%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', '/a?b=c'],
    ['%REQ(USER-AGENT)%', 'curl/8.0'],
    ['%REQ(x-test-id)%', 'abc'],
    ['%REQ(user-agent):4%', 'curl'],
    ['%REQ(X-MISSING)%', '-'],
    ['%REQ(X-REQUEST-ID)%', 'rid-1'],
    ['%REQ(X-MULTI)%', 'a,b', { requestHeaders: HeaderMap.fromObject({ 'x-multi': ['a', 'b'] }) }],
    ['%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%', '7'],
    ['%RESP(X-MISSING?X-ENVOY-UPSTREAM-SERVICE-TIME)%', '7'],
    ['%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%', '-', { responseHeaders: undefined }],
    ['%PROTOCOL%', 'HTTP/1.1'],
    ['%RESPONSE_CODE%', '404', { status: 404 }],
    ['%RESPONSE_FLAGS%', 'NR', { responseFlags: 'NR' }],
    ['%RESPONSE_CODE_DETAILS%', 'via_upstream'],
    ['%RESPONSE_CODE_DETAILS%', 'route_not_found', { responseFlags: 'NR', upstreamHost: '' }],
    [
      '%RESPONSE_CODE_DETAILS%',
      'upstream_reset_before_response_started{connection_failure}',
      { responseFlags: 'UF' },
    ],
    ['%BYTES_RECEIVED% %BYTES_SENT%', '3 42'],
    ['%BYTES_SENT%', '0', { bytesSent: undefined }],
    ['%DURATION%', '12'],
    ['%REQUEST_DURATION%', '1'],
    ['%RESPONSE_DURATION%', '9'],
    ['%RESPONSE_DURATION%', '-', { responseDurationMs: undefined }],
    ['%UPSTREAM_HOST%', '127.0.0.1:8080'],
    ['%UPSTREAM_HOST%', '-', { upstreamHost: '' }],
    ['%UPSTREAM_CLUSTER%', 'web'],
    ['%UPSTREAM_TRANSPORT_FAILURE_REASON%', '-'],
    [
      '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
      'ECONNREFUSED',
      { upstreamTransportFailureReason: 'ECONNREFUSED' },
    ],
    ['%UPSTREAM_REQUEST_ATTEMPT_COUNT%', '2', { attempts: 2 }],
    ['%ROUTE_NAME%', 'r1'],
    ['%ROUTE_NAME%', '-', { route: '' }],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '192.0.2.7:5555'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '192.0.2.7'],
    [
      '%DOWNSTREAM_REMOTE_ADDRESS%',
      '[2001:db8::1]:80',
      { socket: socket({ remoteAddress: '2001:db8::1', remotePort: 80 }) },
    ],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '-', { socket: undefined }],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', '10.1.2.3:8080'],
    ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '10.1.2.3'],
    ['%REQUESTED_SERVER_NAME%', '-'],
    [
      '%REQUESTED_SERVER_NAME%',
      'api.example.com',
      { socket: socket({ servername: 'api.example.com' }) },
    ],
    ['%HOSTNAME%', os.hostname()],
    ['%TRACE_ID%', '0af7651916cd43dd8448eb211c80319c'],
    ['%TRACE_ID%', 'f00d', { traceId: 'f00d' }],
    ['%TRACE_ID%', '-', { requestHeaders: new HeaderMap() }],
    ['%DYNAMIC_METADATA(envoy.filters.http.rbac)%', '-'],
    [
      '%DYNAMIC_METADATA(ferry.test:policy)% %DYNAMIC_METADATA(ferry.test:score)%',
      'deny-admin 7',
      { dynamicMetadata: new Map([['ferry.test', { policy: 'deny-admin', score: 7 }]]) },
    ],
    [
      '%DYNAMIC_METADATA(ferry.test:nested:ids)%',
      '[1,2]',
      { dynamicMetadata: new Map([['ferry.test', { nested: { ids: [1, 2] } }]]) },
    ],
    [
      '%DYNAMIC_METADATA(ferry.test)%',
      '{"a":true}',
      { dynamicMetadata: new Map([['ferry.test', { a: true }]]) },
    ],
    [
      '%RESPONSE_CODE_DETAILS%',
      'request_payload_too_large',
      { responseCodeDetails: 'request_payload_too_large' },
    ],
    ['plain text', 'plain text'],
  ];
  for (const [format, expected, overrides] of cases)
    test(`${format} → ${expected}`, () => {
      assert.equal(compileTextFormat(format)(record(overrides)), expected);
    });

  test('every supported operator has a row above', () => {
    // %CONNECTION_ID% has its own test below (its value is per process).
    const covered = `${cases.map(([format]) => format).join(' ')} %CONNECTION_ID%`;
    for (const op of SUPPORTED_OPERATORS) {
      const name = op.replace(/\(.*$/, '');
      assert.ok(covered.includes(`%${name}`), `no test row for %${op}%`);
    }
  });

  test('CONNECTION_ID is the same for one connection and differs between connections', () => {
    const format = compileTextFormat('%CONNECTION_ID%');
    const a = socket({});
    const b = socket({});
    const first = format(record({ socket: a }));
    assert.match(first, /^\d+$/);
    assert.equal(format(record({ socket: a })), first);
    assert.notEqual(format(record({ socket: b })), first);
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

  test('omit_empty_values renders missing values as empty', () => {
    const line = compileTextFormat('[%REQ(X-MISSING)%] [%UPSTREAM_HOST%]', {
      omitEmptyValues: true,
    })(record({ upstreamHost: '' }));
    assert.equal(line, '[] []');
  });
});

describe('access log format errors', () => {
  const cases: [string, RegExp][] = [
    ['%DOWNSTREAM_PEER_URI_SAN%', /DOWNSTREAM_PEER_URI_SAN% is not supported by ferry-proxy/],
    ['%START_TIME(%Q)%', /%Q is not supported/],
    ['%RESPONSE_CODE(x)%', /not supported/],
    ['%REQ()%', /needs a header name/],
    ['%REQ(a?b?c)%', /expected REQ\(header\)/],
    ['abc %RESPONSE_CODE', /unterminated command operator at offset 4/],
    ['%START_TIME(%Y', /unterminated command operator/],
    ['%lower%', /malformed command operator/],
    ['%DURATION:x%', /malformed command operator/],
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
      attempts: '%UPSTREAM_REQUEST_ATTEMPT_COUNT%',
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
      attempts: 1,
      line: 'GET /a?b=c',
      missing: null,
      constant: 'fixed "quoted"',
      number: 5,
      nested: { cluster: 'web', ua: 'cur' },
    });
  });

  test('omit_empty_values leaves out keys without a value', () => {
    const format = {
      missing: '%REQ(X-MISSING)%',
      code: '%RESPONSE_CODE%',
      host: '%UPSTREAM_HOST%',
      nested: { gone: '%RESP(X-NOPE)%', id: '%REQ(X-TEST-ID)%' },
      fixed: true,
    };
    const line = compileJsonFormat(format, { omitEmptyValues: true })(record({ upstreamHost: '' }));
    assert.equal(line, '{"code":200,"nested":{"id":"abc"},"fixed":true}\n');
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
