import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderMutationsModel, HeaderValueOptionModel } from '../config/model.js';
import {
  addressWithoutPort,
  CompiledHeaderMutations,
  HeaderMutationChain,
  validateHeaderValueFormat,
  type HeaderFormatterContext,
} from './header-mutations.js';
import { compileRouteConfig } from './route-table.js';
import {
  forward,
  NO_MUTATIONS,
  route,
  routeConfig,
  routeMatch,
  TestHeaders,
  virtualHost,
} from './route-fixtures.js';

function ctx(headers: Record<string, string> = {}): HeaderFormatterContext {
  return {
    downstreamRemoteAddress: '203.0.113.7:0',
    downstreamDirectRemoteAddress: '[2001:db8::1]:5555',
    downstreamLocalAddress: '10.0.0.1:8080',
    protocol: 'HTTP/1.1',
    upstreamRemoteAddress: '',
    requestHeaders: new TestHeaders(headers),
    startTimeMs: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
  };
}

function add(
  key: string,
  value: string,
  action: HeaderValueOptionModel['action'],
  keepEmptyValue?: boolean,
): HeaderValueOptionModel {
  return { key, value, action, keepEmptyValue };
}

function requestLevel(
  adds: HeaderValueOptionModel[],
  removes: string[] = [],
): HeaderMutationsModel {
  return { ...NO_MUTATIONS, requestHeadersToAdd: adds, requestHeadersToRemove: removes };
}

describe('append_action', () => {
  const cases: [
    HeaderValueOptionModel['action'],
    existing: string | undefined,
    expected: string | undefined,
  ][] = [
    ['APPEND_IF_EXISTS_OR_ADD', 'old', 'old,new'],
    ['APPEND_IF_EXISTS_OR_ADD', undefined, 'new'],
    ['ADD_IF_ABSENT', 'old', 'old'],
    ['ADD_IF_ABSENT', undefined, 'new'],
    ['OVERWRITE_IF_EXISTS_OR_ADD', 'old', 'new'],
    ['OVERWRITE_IF_EXISTS_OR_ADD', undefined, 'new'],
    ['OVERWRITE_IF_EXISTS', 'old', 'new'],
    ['OVERWRITE_IF_EXISTS', undefined, undefined],
  ];
  for (const [action, existing, expected] of cases) {
    test(`${action} with ${existing ?? 'no'} header → ${expected ?? 'absent'}`, () => {
      const headers = new TestHeaders(existing === undefined ? {} : { 'x-a': existing });
      new CompiledHeaderMutations(requestLevel([add('X-A', 'new', action)])).applyRequest(
        headers,
        ctx(),
      );
      assert.equal(headers.get('x-a'), expected);
    });
  }
  test('empty values are skipped unless keep_empty_value', () => {
    const headers = new TestHeaders();
    new CompiledHeaderMutations(
      requestLevel([
        add('x-skip', '%REQ(x-missing)%', 'APPEND_IF_EXISTS_OR_ADD'),
        add('x-keep', '', 'APPEND_IF_EXISTS_OR_ADD', true),
      ]),
    ).applyRequest(headers, ctx());
    assert.equal(headers.get('x-skip'), undefined);
    assert.equal(headers.get('x-keep'), '');
  });
  test('removal happens before addition within a level', () => {
    const headers = new TestHeaders({ 'x-a': 'client' });
    new CompiledHeaderMutations(
      requestLevel([add('x-a', 'proxy', 'APPEND_IF_EXISTS_OR_ADD')], ['X-A']),
    ).applyRequest(headers, ctx());
    assert.equal(headers.get('x-a'), 'proxy');
  });
});

describe('formatters', () => {
  const cases: [value: string, expected: string][] = [
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '203.0.113.7:0'],
    ['ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;', 'ip=203.0.113.7;'],
    ['%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%', '2001:db8::1'],
    ['%DOWNSTREAM_LOCAL_PORT%', '8080'],
    ['%PROTOCOL%', 'HTTP/1.1'],
    ['100%%', '100%'],
    ['%REQ(X-User)%', 'ann'],
    ['%REQ(x-missing?x-user)%', 'ann'],
    ['%REQ(x-user):2%', 'an'],
    ['%START_TIME%', '2024-01-02T03:04:05.678Z'],
    ['[%START_TIME(%Y-%m-%dT%H:%M:%S%z)%]', '[2024-01-02T03:04:05+0000]'],
    ['%START_TIME(%s.%3f)%', '1704164645.678'],
    ['%%REQ(x-user)%%', '%REQ(x-user)%'],
  ];
  for (const [value, expected] of cases) {
    test(`${value} → ${expected}`, () => {
      const headers = new TestHeaders();
      new CompiledHeaderMutations(
        requestLevel([add('x-out', value, 'OVERWRITE_IF_EXISTS_OR_ADD')]),
      ).applyRequest(headers, ctx({ 'x-user': 'ann' }));
      assert.equal(headers.get('x-out'), expected);
    });
  }
  test('unsupported or malformed formatters are reported, not passed through', () => {
    const table: [value: string, error: RegExp][] = [
      [
        '%UPSTREAM_METADATA(["a"])%',
        /^unsupported header formatter %UPSTREAM_METADATA\(\["a"\]\)% \(supported: .*%START_TIME\(format\)%/,
      ],
      ['%RESPONSE_CODE%', /^unsupported header formatter %RESPONSE_CODE%/],
      ['%HOSTNAME(x)%', /^unsupported header formatter %HOSTNAME\(x\)%/],
      ['%PROTOCOL:3%', /a :N length limit applies to %REQ\(...\)% only/],
      ['%REQ()%', /expected %REQ\(header\)%/],
      ['%REQ(a?b?c)%', /expected %REQ\(header\)%/],
      ['%START_TIME(%Q)%', /%Q is not supported/],
      ['%START_TIME(%Y', /unterminated header formatter/],
      ['50%', /unterminated header formatter in "50%" \(write %% for a literal %\)/],
      ['%PROTOCOL%x%', /unterminated/],
      ['%lower%', /unterminated/],
      ['%REQ(a)x%', /malformed header formatter %REQ\(a\)x%/],
    ];
    for (const [value, error] of table)
      assert.match(validateHeaderValueFormat(value) ?? '(accepted)', error, value);
    assert.equal(validateHeaderValueFormat('%HOSTNAME%-%PROTOCOL%'), undefined);
    assert.throws(
      () => new CompiledHeaderMutations(requestLevel([add('x', '%FOO%', 'ADD_IF_ABSENT')])),
    );
  });
  test('addressWithoutPort', () => {
    assert.equal(addressWithoutPort('1.2.3.4:80'), '1.2.3.4');
    assert.equal(addressWithoutPort('[::1]:80'), '::1');
    assert.equal(addressWithoutPort('::1'), '::1');
    assert.equal(addressWithoutPort('1.2.3.4'), '1.2.3.4');
  });
});

describe('level order', () => {
  function configWithLevels(mostSpecificWins: boolean, action: HeaderValueOptionModel['action']) {
    const level = (name: string): HeaderMutationsModel => ({
      ...NO_MUTATIONS,
      requestHeadersToAdd: [add('x-level', name, action)],
      responseHeadersToAdd: [add('x-level', name, action)],
    });
    const weighted = forward({
      weightedClusters: [{ name: 'c', weight: 1, mutations: level('weighted') }],
    });
    return routeConfig(
      [
        virtualHost(
          'vh',
          ['*'],
          [route(routeMatch('prefix', '/'), weighted, level('route'))],
          level('vhost'),
        ),
      ],
      { ...level('config'), mostSpecificHeaderMutationsWins: mostSpecificWins },
    );
  }
  const cases: [mostSpecificWins: boolean, HeaderValueOptionModel['action'], expected: string][] = [
    [false, 'OVERWRITE_IF_EXISTS_OR_ADD', 'config'],
    [true, 'OVERWRITE_IF_EXISTS_OR_ADD', 'weighted'],
    [false, 'APPEND_IF_EXISTS_OR_ADD', 'weighted,route,vhost,config'],
    [true, 'APPEND_IF_EXISTS_OR_ADD', 'config,vhost,route,weighted'],
    [false, 'ADD_IF_ABSENT', 'weighted'],
  ];
  for (const [mostSpecificWins, action, expected] of cases) {
    test(`most_specific_header_mutations_wins=${mostSpecificWins} ${action} → ${expected}`, () => {
      const result = compileRouteConfig(configWithLevels(mostSpecificWins, action)).match({
        authority: 'h',
        path: '/',
        method: 'GET',
        headers: new TestHeaders(),
      })!;
      const request = new TestHeaders();
      result.applyRequestHeaders(request, ctx());
      assert.equal(request.get('x-level'), expected);
      const response = new TestHeaders();
      result.applyResponseHeaders(response, ctx());
      assert.equal(response.get('x-level'), expected);
      assert.equal(result.hasHeaderMutations, true);
    });
  }
  test('a chain without mutations is empty', () => {
    assert.equal(
      new HeaderMutationChain([new CompiledHeaderMutations(NO_MUTATIONS)], false).empty,
      true,
    );
  });
});
