import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderMatcherModel, StringMatcherModel } from '../config/model.js';
import {
  compileHeaderMatcher,
  compileQueryParameterMatcher,
  compileStringMatcher,
  findQueryParameter,
  isGrpcContentType,
  pathEndIndex,
} from './route-match.js';
import { TestHeaders } from './route-fixtures.js';

describe('string matchers', () => {
  const cases: [StringMatcherModel, string, boolean][] = [
    [{ kind: 'exact', value: 'Abc', ignoreCase: false }, 'Abc', true],
    [{ kind: 'exact', value: 'Abc', ignoreCase: false }, 'abc', false],
    [{ kind: 'exact', value: 'Abc', ignoreCase: true }, 'aBC', true],
    [{ kind: 'prefix', value: 'ab', ignoreCase: false }, 'abc', true],
    [{ kind: 'prefix', value: 'AB', ignoreCase: true }, 'abc', true],
    [{ kind: 'suffix', value: 'bc', ignoreCase: false }, 'abc', true],
    [{ kind: 'suffix', value: 'bc', ignoreCase: false }, 'abC', false],
    [{ kind: 'contains', value: 'b', ignoreCase: false }, 'abc', true],
    [{ kind: 'contains', value: 'B', ignoreCase: true }, 'abc', true],
    [{ kind: 'contains', value: 'x', ignoreCase: false }, 'abc', false],
    [{ kind: 'regex', value: '[a-c]+', ignoreCase: false }, 'abc', true],
    [{ kind: 'regex', value: 'b', ignoreCase: false }, 'abc', false], // full match only
    [{ kind: 'regex', value: '\\d{3}', ignoreCase: false }, '1234', false],
  ];
  for (const [matcher, value, expected] of cases) {
    test(`${matcher.kind}${matcher.ignoreCase ? '/i' : ''} ${matcher.value} vs ${value} → ${expected}`, () => {
      assert.equal(compileStringMatcher(matcher)(value), expected);
    });
  }
});

function header(extra: Partial<HeaderMatcherModel>): HeaderMatcherModel {
  return { name: 'x-h', kind: 'string', invert: false, treatMissingAsEmpty: false, ...extra };
}
const exact = (value: string): StringMatcherModel => ({ kind: 'exact', value, ignoreCase: false });

describe('header matchers (Envoy HeaderMatcher semantics)', () => {
  const cases: [
    name: string,
    HeaderMatcherModel,
    headers: Record<string, string>,
    expected: boolean,
  ][] = [
    ['exact match', header({ string: exact('a') }), { 'x-h': 'a' }, true],
    ['exact mismatch', header({ string: exact('a') }), { 'x-h': 'b' }, false],
    ['missing header fails a value match', header({ string: exact('a') }), {}, false],
    [
      'missing header fails an inverted value match too',
      header({ string: exact('a'), invert: true }),
      {},
      false,
    ],
    [
      'inverted mismatch matches',
      header({ string: exact('a'), invert: true }),
      { 'x-h': 'b' },
      true,
    ],
    [
      'treat missing as empty: empty exact',
      header({ string: exact(''), treatMissingAsEmpty: true }),
      {},
      true,
    ],
    [
      'range [-10,0) matches -1',
      header({ kind: 'range', range: { start: -10, end: 0 } }),
      { 'x-h': '-1' },
      true,
    ],
    [
      'range end is exclusive',
      header({ kind: 'range', range: { start: -10, end: 0 } }),
      { 'x-h': '0' },
      false,
    ],
    [
      'range inverted',
      header({ kind: 'range', range: { start: -10, end: 0 }, invert: true }),
      { 'x-h': '-1' },
      false,
    ],
    [
      'range rejects non-integers',
      header({ kind: 'range', range: { start: 0, end: 10 } }),
      { 'x-h': '1.5' },
      false,
    ],
    // Envoy docs' treat_missing_header_as_empty examples:
    [
      'missing, range [0,10] inverted, treated as empty → match',
      header({
        kind: 'range',
        range: { start: 0, end: 10 },
        invert: true,
        treatMissingAsEmpty: true,
      }),
      {},
      true,
    ],
    [
      'missing, range [0,10] inverted, not treated as empty → no match',
      header({ kind: 'range', range: { start: 0, end: 10 }, invert: true }),
      {},
      false,
    ],
    [
      'present_match true, present',
      header({ kind: 'present', present: true }),
      { 'x-h': '' },
      true,
    ],
    ['present_match true, absent', header({ kind: 'present', present: true }), {}, false],
    ['present_match false, absent', header({ kind: 'present', present: false }), {}, true],
    [
      'present_match true inverted, absent',
      header({ kind: 'present', present: true, invert: true }),
      {},
      true,
    ],
    [
      'present_match false inverted, present',
      header({ kind: 'present', present: false, invert: true }),
      { 'x-h': 'v' },
      true,
    ],
    ['name is case-insensitive', header({ name: 'X-H', string: exact('a') }), { 'x-h': 'a' }, true],
    [
      'repeated values joined by comma',
      header({ string: { kind: 'contains', value: 'b,c', ignoreCase: false } }),
      { 'x-h': 'a,b,c' },
      true,
    ],
  ];
  for (const [name, matcher, headers, expected] of cases) {
    test(name, () =>
      assert.equal(compileHeaderMatcher(matcher)(new TestHeaders(headers)), expected),
    );
  }
});

describe('query parameters', () => {
  const find: [query: string, name: string, expected: string | undefined][] = [
    ['a=1&b=2', 'b', '2'],
    ['a=1&b=2&b=3', 'b', '2'],
    ['a&b', 'a', ''],
    ['a=', 'a', ''],
    ['ab=1', 'a', undefined],
    ['a=x%20y', 'a', 'x y'],
    ['a%62=1', 'ab', '1'],
    ['a=%zz', 'a', '%zz'],
    ['', 'a', undefined],
    ['&&a=1', 'a', '1'],
  ];
  for (const [query, name, expected] of find) {
    test(`find ${name} in "${query}" → ${String(expected)}`, () =>
      assert.equal(findQueryParameter(query, name), expected));
  }
  test('present match and string match', () => {
    const present = compileQueryParameterMatcher({ name: 'debug' });
    assert.equal(present('debug'), true);
    assert.equal(present('x=1'), false);
    const value = compileQueryParameterMatcher({
      name: 'v',
      string: { kind: 'prefix', value: '1.', ignoreCase: false },
    });
    assert.equal(value('v=1.2'), true);
    assert.equal(value('v=2'), false);
    assert.equal(value(''), false);
  });
});

test('gRPC content types', () => {
  assert.equal(isGrpcContentType('application/grpc'), true);
  assert.equal(isGrpcContentType('application/grpc+json'), true);
  assert.equal(isGrpcContentType('application/grpc;charset=utf-8'), true);
  assert.equal(isGrpcContentType('application/grpc-web'), false);
  assert.equal(isGrpcContentType(undefined), false);
});

test('path end excludes query and fragment', () => {
  assert.equal(pathEndIndex('/a/b'), 4);
  assert.equal(pathEndIndex('/a?b#c'), 2);
  assert.equal(pathEndIndex('/a#b?c'), 2);
});
