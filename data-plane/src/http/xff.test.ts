import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  forwardedFor,
  isInternalAddress,
  lastAddressFromXff,
  newForwardedForResult,
  shouldSetForwardedProto,
  type ForwardedForResult,
  type XffConfig,
} from './xff.js';

const XFF3 = '203.0.113.128, 203.0.113.10, 203.0.113.1';

// The examples of Envoy's docs (config_http_conn_man_headers_x-forwarded-for), plus edge cases.
const cases: [
  name: string,
  config: XffConfig,
  peer: string,
  xff: string | undefined,
  expected: Partial<ForwardedForResult>,
][] = [
  [
    'example 1: edge, no trusted proxy',
    { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: false },
    '192.0.2.5',
    XFF3,
    {
      trustedClientIp: '192.0.2.5',
      xff: `${XFF3}, 192.0.2.5`,
      externalAddress: '192.0.2.5',
      internal: false,
      edgeRequest: true,
    },
  ],
  [
    'example 2: internal proxy behind example 1',
    { useRemoteAddress: false, xffNumTrustedHops: 0, skipXffAppend: false },
    '192.0.2.5',
    `${XFF3}, 192.0.2.5`,
    {
      trustedClientIp: '192.0.2.5',
      xff: `${XFF3}, 192.0.2.5`,
      externalAddress: undefined,
      internal: false,
      edgeRequest: false,
    },
  ],
  [
    'example 3: edge with two trusted proxies in front',
    { useRemoteAddress: true, xffNumTrustedHops: 2, skipXffAppend: false },
    '192.0.2.5',
    XFF3,
    {
      trustedClientIp: '203.0.113.10',
      fromXff: true,
      xff: `${XFF3}, 192.0.2.5`,
      externalAddress: '203.0.113.10',
      internal: false,
    },
  ],
  [
    'example 4: internal proxy behind example 3',
    { useRemoteAddress: false, xffNumTrustedHops: 2, skipXffAppend: false },
    '192.0.2.5',
    `${XFF3}, 192.0.2.5`,
    {
      trustedClientIp: '203.0.113.10',
      xff: `${XFF3}, 192.0.2.5`,
      externalAddress: undefined,
      internal: false,
    },
  ],
  [
    'example 5: edge, internal client without XFF',
    { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: false },
    '10.11.12.13',
    undefined,
    {
      trustedClientIp: '10.11.12.13',
      xff: '10.11.12.13',
      internal: true,
      externalAddress: undefined,
      edgeRequest: false,
    },
  ],
  [
    'example 6: internal proxy behind example 5',
    { useRemoteAddress: false, xffNumTrustedHops: 0, skipXffAppend: false },
    '10.20.30.40',
    '10.11.12.13',
    { trustedClientIp: '10.11.12.13', xff: '10.11.12.13', internal: true },
  ],
  [
    'skip_xff_append leaves XFF alone',
    { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: true },
    '192.0.2.5',
    XFF3,
    { trustedClientIp: '192.0.2.5', xff: XFF3 },
  ],
  [
    'use_remote_address false without XFF: peer address, external even if internal',
    { useRemoteAddress: false, xffNumTrustedHops: 0, skipXffAppend: false },
    '10.0.0.1',
    undefined,
    {
      trustedClientIp: '10.0.0.1',
      fromXff: false,
      xff: undefined,
      internal: false,
      edgeRequest: false,
    },
  ],
  [
    'trusted hops beyond XFF length fall back to the peer',
    { useRemoteAddress: true, xffNumTrustedHops: 5, skipXffAppend: false },
    '192.0.2.5',
    '203.0.113.1',
    { trustedClientIp: '192.0.2.5', fromXff: false },
  ],
  [
    'a non-IP XFF entry is not trusted',
    { useRemoteAddress: false, xffNumTrustedHops: 0, skipXffAppend: false },
    '192.0.2.5',
    'unknown',
    { trustedClientIp: '192.0.2.5', fromXff: false, internal: false },
  ],
  [
    'loopback peer: the local address is appended instead',
    { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: false },
    '127.0.0.1',
    '198.51.100.1',
    { trustedClientIp: '127.0.0.1', xff: '198.51.100.1, 10.9.9.9', internal: false },
  ],
  [
    'IPv6 peer',
    { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: false },
    '2001:db8::5',
    undefined,
    {
      trustedClientIp: '2001:db8::5',
      xff: '2001:db8::5',
      internal: false,
      externalAddress: '2001:db8::5',
    },
  ],
];

describe('forwardedFor', () => {
  for (const [name, config, peer, xff, expected] of cases) {
    test(name, () => {
      const result = forwardedFor(config, peer, xff, newForwardedForResult(), '10.9.9.9');
      for (const [field, value] of Object.entries(expected)) {
        assert.equal(result[field as keyof ForwardedForResult], value, field);
      }
    });
  }
  test('the output object is reused', () => {
    const out = newForwardedForResult();
    const config = { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: false };
    assert.equal(forwardedFor(config, '192.0.2.5', undefined, out), out);
  });
});

test('lastAddressFromXff', () => {
  assert.deepEqual(lastAddressFromXff('1.1.1.1', 0), { address: '1.1.1.1', single: true });
  assert.deepEqual(lastAddressFromXff('1.1.1.1,2.2.2.2', 0), { address: '2.2.2.2', single: false });
  assert.deepEqual(lastAddressFromXff(' 1.1.1.1 , 2.2.2.2 ', 1), {
    address: '1.1.1.1',
    single: false,
  });
  assert.deepEqual(lastAddressFromXff('1.1.1.1', 1), { address: undefined, single: false });
  assert.deepEqual(lastAddressFromXff(undefined, 0), { address: undefined, single: false });
});

test('internal addresses', () => {
  for (const ip of [
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '127.0.0.1',
    '::1',
    'fd00::1',
    'fc12::1',
    '::ffff:10.0.0.1',
  ]) {
    assert.equal(isInternalAddress(ip), true, ip);
  }
  for (const ip of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '2001:db8::1', 'fe80::1']) {
    assert.equal(isInternalAddress(ip), false, ip);
  }
});

test('x-forwarded-proto is overwritten only when the previous hop is untrusted', () => {
  assert.equal(
    shouldSetForwardedProto(
      { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: false },
      true,
    ),
    true,
  );
  assert.equal(
    shouldSetForwardedProto(
      { useRemoteAddress: true, xffNumTrustedHops: 1, skipXffAppend: false },
      true,
    ),
    false,
  );
  assert.equal(
    shouldSetForwardedProto(
      { useRemoteAddress: false, xffNumTrustedHops: 0, skipXffAppend: false },
      true,
    ),
    false,
  );
  assert.equal(
    shouldSetForwardedProto(
      { useRemoteAddress: false, xffNumTrustedHops: 0, skipXffAppend: false },
      false,
    ),
    true,
  );
});
