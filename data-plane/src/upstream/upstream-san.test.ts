import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SanMatcherModel } from '../config/model.js';
import {
  SanMatcher,
  dnsNameMatch,
  matchesAnySan,
  parseSubjectAltNames,
  sanListMatches,
} from './upstream-san.js';

describe('parseSubjectAltNames (Node X509Certificate.subjectAltName text)', () => {
  test('types, quoted values with commas, IPv6 compressed', () => {
    const sans = parseSubjectAltNames(
      'DNS:a.example, URI:spiffe://td/ns/x, email:ops@example.com, IP Address:127.0.0.1, ' +
        'IP Address:0:0:0:0:0:0:0:1, DNS:"we,ird.example", othername:<unsupported>',
    );
    assert.deepEqual(sans, [
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'spiffe://td/ns/x' },
      { type: 'EMAIL', value: 'ops@example.com' },
      { type: 'IP_ADDRESS', value: '127.0.0.1' },
      { type: 'IP_ADDRESS', value: '::1' },
      { type: 'DNS', value: 'we,ird.example' },
      { type: 'OTHER', value: '<unsupported>' },
    ]);
  });

  test('no SAN extension: no names', () => {
    assert.deepEqual(parseSubjectAltNames(undefined), []);
  });
});

describe('dnsNameMatch (Envoy wildcard rules, certificate SAN as the pattern)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['api.example.com', 'api.example.com', true],
    ['API.Example.com', 'api.EXAMPLE.com', true],
    ['api.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['a.b.example.com', '*.example.com', false],
    ['foo.example.com', 'f*o.example.com', true],
    ['fo.example.com', 'f*o.example.com', true],
    ['bar.example.com', 'f*o.example.com', false],
    ['foo.example.com', 'foo*.example.com', true],
    ['api.example.com', '*.*.com', false],
    ['api.example.com', 'a*i*.example.com', false],
    ['xn--bcher-kva.example.com', 'xn--*.example.com', false],
    ['api.example.com', '*', false],
    ['api', '*', false],
    ['api.example.com', 'api.example.org', false],
  ];
  for (const [name, pattern, expected] of cases) {
    test(`${name} vs ${pattern}: ${expected}`, () => {
      assert.equal(dnsNameMatch(name, pattern), expected);
    });
  }
});

function matcher(model: SanMatcherModel): SanMatcher {
  return new SanMatcher(model);
}

describe('SanMatcher (SubjectAltNameMatcher)', () => {
  const dns = { type: 'DNS' as const, value: '*.svc.example' };
  const uri = { type: 'URI' as const, value: 'spiffe://td/ns/web/sa/api' };
  const email = { type: 'EMAIL' as const, value: 'Ops@Example.com' };
  const ip = { type: 'IP_ADDRESS' as const, value: '10.1.2.3' };

  test('exact on DNS follows DNS rules (wildcard SAN, any case)', () => {
    const m = matcher({
      sanType: 'DNS',
      matcher: { kind: 'exact', value: 'API.svc.example', ignoreCase: false },
    });
    assert.equal(m.matches(dns), true);
    assert.equal(m.matches({ type: 'DNS', value: 'svc.example' }), false);
  });

  test('a matcher applies to its own SAN type only', () => {
    const m = matcher({
      sanType: 'URI',
      matcher: { kind: 'exact', value: '10.1.2.3', ignoreCase: false },
    });
    assert.equal(m.matches(ip), false);
    assert.equal(
      matcher({
        sanType: 'IP_ADDRESS',
        matcher: { kind: 'exact', value: '10.1.2.3', ignoreCase: false },
      }).matches(ip),
      true,
    );
  });

  test('prefix / suffix / contains / regex compare the SAN text as written', () => {
    const on = (
      kind: 'prefix' | 'suffix' | 'contains' | 'regex',
      value: string,
      ignoreCase = false,
    ) => matcher({ sanType: 'URI', matcher: { kind, value, ignoreCase } }).matches(uri);
    assert.equal(on('prefix', 'spiffe://td/'), true);
    assert.equal(on('prefix', 'SPIFFE://td/'), false);
    assert.equal(on('prefix', 'SPIFFE://td/', true), true);
    assert.equal(on('suffix', '/sa/api'), true);
    assert.equal(on('contains', '/ns/web/'), true);
    assert.equal(on('contains', '/ns/db/'), false);
    assert.equal(on('regex', 'spiffe://td/ns/[a-z]+/sa/api'), true);
    // safe_regex must match the whole SAN.
    assert.equal(on('regex', 'ns/web'), false);
    // A regex matches a non-ASCII SAN by code points, as RE2 matches its UTF-8.
    const email = { type: 'EMAIL' as const, value: 'josé@example.com' };
    const emailRegex = (value: string) =>
      matcher({ sanType: 'EMAIL', matcher: { kind: 'regex', value, ignoreCase: false } });
    assert.equal(emailRegex('jos.@example[.]com').matches(email), true);
    assert.equal(emailRegex('jos..@example[.]com').matches(email), false);
    // A DNS SAN with a non-exact matcher is plain text: no wildcard expansion.
    assert.equal(
      matcher({
        sanType: 'DNS',
        matcher: { kind: 'suffix', value: '.svc.example', ignoreCase: false },
      }).matches(dns),
      true,
    );
  });

  test('EMAIL with ignore_case', () => {
    const m = matcher({
      sanType: 'EMAIL',
      matcher: { kind: 'exact', value: 'ops@example.com', ignoreCase: true },
    });
    assert.equal(m.matches(email), true);
  });

  test('matchesAnySan: any matcher against any SAN', () => {
    const ms = [
      matcher({ sanType: 'DNS', matcher: { kind: 'exact', value: 'x.other', ignoreCase: false } }),
      matcher({ sanType: 'URI', matcher: { kind: 'suffix', value: '/sa/api', ignoreCase: false } }),
    ];
    assert.equal(matchesAnySan([dns, uri], ms), true);
    assert.equal(matchesAnySan([dns], ms), false);
    assert.equal(matchesAnySan([], ms), false);
  });
});

describe('sanListMatches (auto_san_validation)', () => {
  test('DNS SANs with wildcard rules, other SANs by equality', () => {
    const sans = parseSubjectAltNames('DNS:*.a.example, IP Address:127.0.0.1');
    assert.equal(sanListMatches(sans, 'one.a.example'), true);
    assert.equal(sanListMatches(sans, 'a.example'), false);
    assert.equal(sanListMatches(sans, '127.0.0.1'), true);
    assert.equal(sanListMatches(sans, '127.0.0.2'), false);
  });
});
