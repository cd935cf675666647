import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  HeaderMutationFilterModel,
  HeaderMutationOpModel,
  HeaderMutationPerRouteModel,
  HeaderValueOptionModel,
} from '../../../config/model.js';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { FakeFilterCallbacks, requestHeaders, responseHeaders } from '../filter-test-fixtures.js';
import { httpFilterByPerRouteTypeUrl, httpFilterByTypeUrl } from '../registry.js';
import {
  HEADER_MUTATION_FILTER_TYPE_URL,
  HEADER_MUTATION_PER_ROUTE_TYPE_URL,
  headerMutationFilter,
} from './config.js';
import { HeaderMutationFilter } from './header-mutation-filter.js';

function append(
  key: string,
  value: string,
  action: HeaderValueOptionModel['action'] = 'APPEND_IF_EXISTS_OR_ADD',
): HeaderMutationOpModel {
  return { kind: 'append', option: { key, value, action } };
}

function filterModel(
  request: HeaderMutationOpModel[],
  response: HeaderMutationOpModel[] = [],
  mostSpecificHeaderMutationsWins = false,
): HeaderMutationFilterModel {
  return { mutations: { request, response }, mostSpecificHeaderMutationsWins };
}

function perRoute(
  request: HeaderMutationOpModel[],
  response: HeaderMutationOpModel[] = [],
): HeaderMutationPerRouteModel {
  return { mutations: { request, response } };
}

describe('header_mutation config', () => {
  test('registered; mutations with formatters become the model', () => {
    assert.equal(httpFilterByTypeUrl(HEADER_MUTATION_FILTER_TYPE_URL), headerMutationFilter);
    assert.equal(
      httpFilterByPerRouteTypeUrl(HEADER_MUTATION_PER_ROUTE_TYPE_URL),
      headerMutationFilter,
    );
    const issues = new Issues('');
    const value = headerMutationFilter.validate(
      {
        mutations: {
          request_mutations: [
            { remove: 'X-Internal' },
            {
              append: {
                header: { key: 'X-Client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' },
                append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
              },
            },
          ],
          response_mutations: [{ append: { header: { key: 'x-path', value: '%REQ(:path)%' } } }],
        },
        most_specific_header_mutations_wins: true,
      },
      'typed_config',
      issues,
    );
    assert.deepEqual(issues.errors, []);
    assert.deepEqual(value, {
      mutations: {
        request: [
          { kind: 'remove', name: 'x-internal' },
          append(
            'x-client',
            '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
            'OVERWRITE_IF_EXISTS_OR_ADD',
          ),
        ],
        response: [append('x-path', '%REQ(:path)%')],
      },
      mostSpecificHeaderMutationsWins: true,
    });
  });

  test('NACKs with field paths', () => {
    const issues = new Issues('');
    const config: JsonObject = {
      mutations: {
        request_mutations: [
          { remove: ':path' },
          { append: { header: { key: 'host', value: 'x' } } },
          { append: { header: { key: 'x-a', value: '%RESPONSE_CODE%' } } },
        ],
      },
      extra: 1,
    };
    headerMutationFilter.validate(config, 'typed_config', issues);
    headerMutationFilter.validatePerRoute!(
      HEADER_MUTATION_PER_ROUTE_TYPE_URL,
      { mutations: { response_mutations: [{ append: { header: { key: 'x', value: '50%' } } }] } },
      'route',
      issues,
    );
    assert.deepEqual(issues.errors, [
      'typed_config.extra: not supported by ferry-proxy',
      'typed_config.mutations.request_mutations[0].remove: :path: pseudo-headers and host may not be removed',
      'typed_config.mutations.request_mutations[1].append.header.key: host: pseudo-headers and host may not be modified',
      'typed_config.mutations.request_mutations[2].append.header.value: unsupported header formatter %RESPONSE_CODE% (supported: %DOWNSTREAM_REMOTE_ADDRESS%, %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_REMOTE_PORT%, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_LOCAL_ADDRESS%, %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%, %DOWNSTREAM_LOCAL_PORT%, %UPSTREAM_REMOTE_ADDRESS%, %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %HOSTNAME%, %PROTOCOL%, %START_TIME(format)%, %REQ(name)%)',
      'route.mutations.response_mutations[0].append.header.value: unterminated header formatter in "50%" (write %% for a literal %)',
    ]);
  });
});

describe('header_mutation filter', () => {
  test('request mutations run in order with formatters; pseudo-headers readable', () => {
    const filter = new HeaderMutationFilter(
      filterModel([
        { kind: 'remove', name: 'x-internal' },
        append('x-client', '%DOWNSTREAM_REMOTE_ADDRESS%'),
        append('x-peer', '%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%'),
        append('x-route', '%REQ(:method)% %REQ(:path)% %PROTOCOL%'),
        append('x-start', '%START_TIME(%s)%'),
        append('x-literal', '100%%'),
      ]),
    );
    const callbacks = new FakeFilterCallbacks({
      route: {},
      remoteAddress: '10.1.1.1',
      remotePort: 5555,
      downstreamRemoteIp: '203.0.113.9',
    });
    const headers = requestHeaders('POST', '/a?b=1', { 'x-internal': 'secret' });
    const before = Math.floor(Date.now() / 1000);
    assert.equal(filter.create(callbacks).decodeHeaders(headers), 'continue');
    const after = Math.floor(Date.now() / 1000);
    assert.equal(headers.get('x-internal'), undefined);
    assert.equal(headers.get('x-client'), '203.0.113.9:0');
    assert.equal(headers.get('x-peer'), '10.1.1.1');
    assert.equal(headers.get('x-route'), 'POST /a?b=1 HTTP/1.1');
    const start = Number(headers.get('x-start'));
    assert.ok(start >= before && start <= after, `start time ${start} in [${before}, ${after}]`);
    assert.equal(headers.get('x-literal'), '100%');
  });

  test('filter mutations first, then route levels; less specific wins by default', () => {
    const levels = [
      perRoute(
        [append('x-level', 'route', 'OVERWRITE_IF_EXISTS_OR_ADD')],
        [append('x-r', 'route')],
      ),
      perRoute(
        [append('x-level', 'vhost', 'OVERWRITE_IF_EXISTS_OR_ADD')],
        [append('x-r', 'vhost')],
      ),
    ];
    const run = (mostSpecificWins: boolean) => {
      const filter = new HeaderMutationFilter(
        filterModel(
          [append('x-level', 'filter', 'OVERWRITE_IF_EXISTS_OR_ADD')],
          [append('x-r', 'filter')],
          mostSpecificWins,
        ),
      );
      const callbacks = new FakeFilterCallbacks({
        route: { perFilter: levels.map((config) => ({ config, disabled: false })) },
      });
      const stream = filter.create(callbacks);
      const request = requestHeaders('GET', '/');
      stream.decodeHeaders(request);
      const response = responseHeaders(200);
      stream.encodeHeaders(response);
      return { level: request.get('x-level'), order: response.values };
    };
    assert.deepEqual(run(false), { level: 'vhost', order: ['filter', 'route', 'vhost'] });
    assert.deepEqual(run(true), { level: 'route', order: ['filter', 'vhost', 'route'] });
  });

  test('a response whose request this filter never saw renders %REQ% empty', () => {
    const filter = new HeaderMutationFilter(
      filterModel(
        [],
        [append('x-path', '%REQ(:path)%', 'OVERWRITE_IF_EXISTS_OR_ADD'), append('x-fixed', 'yes')],
      ),
    );
    const response = responseHeaders(503);
    filter.create(new FakeFilterCallbacks()).encodeHeaders(response);
    assert.equal(response.get('x-path'), undefined);
    assert.equal(response.get('x-fixed'), 'yes');
  });
});
