import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RedirectActionModel, RouteConfigModel } from '../config/model.js';
import { checkRouteConfig, compileRouteConfig, type RouteRequest } from './route-table.js';
import {
  forward,
  route,
  routeConfig,
  routeMatch,
  sequence,
  TestHeaders,
  virtualHost,
} from './route-fixtures.js';

function request(
  authority: string,
  path: string,
  headers: Record<string, string> = {},
): RouteRequest {
  return { authority, path, method: 'GET', headers: new TestHeaders(headers) };
}

describe('virtual host selection (Envoy domain order)', () => {
  const any = route(routeMatch('prefix', '/'), 'c');
  const config = routeConfig([
    virtualHost('any', ['*'], [any]),
    virtualHost('prefix', ['foo.*'], [any]),
    virtualHost('prefix-long', ['foo.bar.*'], [any]),
    virtualHost('suffix', ['*.foo.com'], [any]),
    virtualHost('suffix-long', ['*.bar.foo.com'], [any]),
    virtualHost('suffix-dash', ['*-api.foo.com'], [any]),
    virtualHost('exact', ['foo.com', 'www.foo.com'], [any]),
    virtualHost('with-port', ['foo.com:8080'], [any]),
  ]);
  const table = compileRouteConfig(config);
  const cases: [authority: string, expected: string][] = [
    ['foo.com', 'exact'],
    ['WWW.Foo.Com', 'exact'],
    ['a.bar.foo.com', 'suffix-long'],
    ['a.foo.com', 'suffix'],
    ['x-api.foo.com', 'suffix-dash'],
    ['-api.foo.com', 'suffix'], // `*-api.foo.com` needs a non-empty match; `*.foo.com` takes it
    ['.foo.com', 'any'], // wildcards never match the empty string
    ['foo.org', 'prefix'],
    ['foo.bar.org', 'prefix-long'],
    ['foo.com:8080', 'with-port'],
    ['foo.com:9090', 'prefix'], // ports are part of the authority: `foo.*` matches
    ['bar.com:80', 'any'],
    ['example.org', 'any'],
  ];
  for (const [authority, expected] of cases) {
    test(`${authority} → ${expected}`, () => {
      assert.equal(table.match(request(authority, '/'))?.virtualHost.name, expected);
    });
  }

  test('no match and no catch-all → undefined', () => {
    const t = compileRouteConfig(routeConfig([virtualHost('one', ['a.com'], [any])]));
    assert.equal(t.match(request('b.com', '/')), undefined);
    assert.equal(t.match(request('a.com:80', '/')), undefined);
    // cached negative answers stay negative
    assert.equal(t.match(request('b.com', '/')), undefined);
  });

  test('ignorePortInHostMatching strips the port before matching', () => {
    const t = compileRouteConfig(
      routeConfig([virtualHost('one', ['a.com'], [any])], { ignorePortInHostMatching: true }),
    );
    assert.equal(t.match(request('a.com:8443', '/'))?.virtualHost.name, 'one');
    assert.equal(t.match(request('a.com', '/'))?.virtualHost.name, 'one');
  });
});

describe('route matching', () => {
  const config = routeConfig([
    virtualHost(
      'vh',
      ['*'],
      [
        route(routeMatch('path', '/exact'), 'path'),
        route(routeMatch('safe_regex', '/r/[0-9]+'), 'regex'),
        route(routeMatch('path_separated_prefix', '/sep'), 'separated'),
        route(routeMatch('prefix', '/CI', { caseSensitive: false }), 'case-insensitive'),
        route(routeMatch('path', '/Exact-CI', { caseSensitive: false }), 'path-ci'),
        route(routeMatch('prefix', '/grpc', { grpc: true }), 'grpc'),
        route(
          routeMatch('prefix', '/h', {
            headers: [
              {
                name: 'x-env',
                kind: 'string',
                string: { kind: 'exact', value: 'prod', ignoreCase: false },
                invert: false,
                treatMissingAsEmpty: false,
              },
            ],
          }),
          'header',
        ),
        route(
          routeMatch('prefix', '/q', {
            queryParameters: [
              { name: 'debug', string: { kind: 'exact', value: 'on', ignoreCase: true } },
            ],
          }),
          'query',
        ),
        route(routeMatch('prefix', '/api'), 'prefix'),
        route(routeMatch('prefix', '/'), 'fallback'),
      ],
    ),
  ]);
  const table = compileRouteConfig(config);
  const cases: [path: string, headers: Record<string, string>, expected: string][] = [
    ['/exact', {}, 'path'],
    ['/exact?x=1', {}, 'path'],
    ['/exact#frag', {}, 'path'],
    ['/exact/', {}, 'fallback'],
    ['/EXACT', {}, 'fallback'],
    ['/r/123', {}, 'regex'],
    ['/r/123?x=/r/a', {}, 'regex'],
    ['/r/12a', {}, 'fallback'],
    ['/x/r/123', {}, 'fallback'], // full match, not search
    ['/sep', {}, 'separated'],
    ['/sep/x', {}, 'separated'],
    ['/sep?x', {}, 'separated'],
    ['/sepx', {}, 'fallback'],
    ['/ci/anything', {}, 'case-insensitive'],
    ['/cI', {}, 'case-insensitive'],
    ['/exact-ci', {}, 'path-ci'],
    ['/grpc.Service/Method', { 'content-type': 'application/grpc' }, 'grpc'],
    ['/grpc.Service/Method', { 'content-type': 'application/grpc+proto' }, 'grpc'],
    ['/grpc.Service/Method', { 'content-type': 'application/grpcx' }, 'fallback'],
    ['/grpc.Service/Method', {}, 'fallback'],
    ['/h', { 'x-env': 'prod' }, 'header'],
    ['/h', { 'x-env': 'dev' }, 'fallback'],
    ['/h', {}, 'fallback'],
    ['/q?a=1&debug=ON', {}, 'query'],
    ['/q?debug=off', {}, 'fallback'],
    ['/q', {}, 'fallback'],
    ['/api/v1', {}, 'prefix'],
    ['/apix', {}, 'prefix'],
    ['/API', {}, 'fallback'],
  ];
  for (const [path, headers, expected] of cases) {
    test(`${path} ${JSON.stringify(headers)} → ${expected}`, () => {
      assert.equal(table.match(request('h', path, headers))?.clusterName, expected);
    });
  }

  test('first matching route wins, in order', () => {
    const t = compileRouteConfig(
      routeConfig([
        virtualHost(
          'vh',
          ['*'],
          [route(routeMatch('prefix', '/'), 'first'), route(routeMatch('path', '/a'), 'second')],
        ),
      ]),
    );
    assert.equal(t.match(request('h', '/a'))?.clusterName, 'first');
  });

  test('no route matches → undefined', () => {
    const t = compileRouteConfig(
      routeConfig([virtualHost('vh', ['*'], [route(routeMatch('prefix', '/a'), 'a')])]),
    );
    assert.equal(t.match(request('h', '/b')), undefined);
  });
});

describe('route actions', () => {
  test('weighted_clusters: pick by cumulative weight from the random source', () => {
    const weighted = forward({
      weightedClusters: [
        {
          name: 'a',
          weight: 1,
          mutations: {
            requestHeadersToAdd: [],
            requestHeadersToRemove: [],
            responseHeadersToAdd: [],
            responseHeadersToRemove: [],
          },
        },
        {
          name: 'zero',
          weight: 0,
          mutations: {
            requestHeadersToAdd: [],
            requestHeadersToRemove: [],
            responseHeadersToAdd: [],
            responseHeadersToRemove: [],
          },
        },
        {
          name: 'b',
          weight: 3,
          mutations: {
            requestHeadersToAdd: [],
            requestHeadersToRemove: [],
            responseHeadersToAdd: [],
            responseHeadersToRemove: [],
          },
        },
      ],
    });
    const config = routeConfig([
      virtualHost('vh', ['*'], [route(routeMatch('prefix', '/'), weighted)]),
    ]);
    const picks = 400;
    const table = compileRouteConfig(config, {
      random: sequence(Array.from({ length: picks }, (_, i) => i / picks)),
    });
    const counts = new Map<string, number>();
    for (let i = 0; i < picks; i++) {
      const name = table.match(request('h', '/'))!.clusterName!;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { a: 100, b: 300 });
    const first = compileRouteConfig(config, { random: () => 0.2 }).match(request('h', '/'));
    assert.equal(first?.weightedCluster?.name, 'a');
    assert.equal(
      compileRouteConfig(config, { random: () => 0.25 }).match(request('h', '/'))?.clusterName,
      'b',
    );
  });

  test('cluster_header: header value, or undefined when absent/empty', () => {
    const config = routeConfig([
      virtualHost(
        'vh',
        ['*'],
        [route(routeMatch('prefix', '/'), forward({ clusterHeader: 'X-Cluster' }))],
      ),
    ]);
    const table = compileRouteConfig(config);
    assert.equal(table.match(request('h', '/', { 'x-cluster': 'blue' }))?.clusterName, 'blue');
    assert.equal(table.match(request('h', '/'))?.clusterName, undefined);
    assert.equal(table.match(request('h', '/', { 'x-cluster': '' }))?.clusterName, undefined);
  });

  test('direct_response carries no cluster', () => {
    const config = routeConfig([
      virtualHost(
        'vh',
        ['*'],
        [
          route(routeMatch('prefix', '/'), {
            kind: 'direct_response',
            status: 418,
            body: 'teapot',
          }),
        ],
      ),
    ]);
    const result = compileRouteConfig(config).match(request('h', '/'));
    assert.equal(result?.clusterName, undefined);
    assert.deepEqual(result?.action, { kind: 'direct_response', status: 418, body: 'teapot' });
  });

  const rewrites: [
    name: string,
    matchKind: 'prefix' | 'path' | 'safe_regex' | 'path_separated_prefix',
    matchValue: string,
    action: Parameters<typeof forward>[0],
    path: string,
    expected: string,
  ][] = [
    [
      'prefix_rewrite keeps the rest and the query',
      'prefix',
      '/api',
      { prefixRewrite: '/v2' },
      '/api/users?id=1',
      '/v2/users?id=1',
    ],
    ['prefix_rewrite to /', 'prefix', '/api/', { prefixRewrite: '/' }, '/api/users', '/users'],
    [
      'prefix_rewrite on a case-insensitive match swaps the matched length',
      'prefix',
      '/api',
      { prefixRewrite: '/x' },
      '/API/a',
      '/x/a',
    ],
    [
      'prefix_rewrite on path match swaps the whole path',
      'path',
      '/old',
      { prefixRewrite: '/new' },
      '/old?q',
      '/new?q',
    ],
    [
      'prefix_rewrite on path_separated_prefix',
      'path_separated_prefix',
      '/svc',
      { prefixRewrite: '/internal' },
      '/svc/a',
      '/internal/a',
    ],
    [
      'regex_rewrite with groups (Envoy docs example)',
      'prefix',
      '/',
      { regexRewrite: { pattern: '^/service/([^/]+)(/.*)$', substitution: '\\2/instance/\\1' } },
      '/service/foo/v1/api',
      '/v1/api/instance/foo',
    ],
    [
      'regex_rewrite replaces every match',
      'prefix',
      '/',
      { regexRewrite: { pattern: 'one', substitution: 'two' } },
      '/xxx/one/yyy/one/zzz',
      '/xxx/two/yyy/two/zzz',
    ],
    [
      'regex_rewrite first match only via lazy groups',
      'prefix',
      '/',
      { regexRewrite: { pattern: '^(.*?)one(.*)$', substitution: '\\1two\\2' } },
      '/xxx/one/yyy/one/zzz',
      '/xxx/two/yyy/one/zzz',
    ],
    [
      'regex_rewrite leaves the query alone',
      'prefix',
      '/',
      { regexRewrite: { pattern: 'a', substitution: 'b' } },
      '/aa?a=a',
      '/bb?a=a',
    ],
    [
      'regex_rewrite (?i) flag and \\0',
      'prefix',
      '/',
      { regexRewrite: { pattern: '(?i)/xxx/', substitution: '\\0z/' } },
      '/XXX/one',
      '/XXX/z/one',
    ],
    ['no rewrite returns the path as is', 'prefix', '/', {}, '/a?b', '/a?b'],
  ];
  for (const [name, kind, value, action, path, expected] of rewrites) {
    test(name, () => {
      const config = routeConfig([
        virtualHost(
          'vh',
          ['*'],
          [
            route(
              routeMatch(kind, value, {
                caseSensitive: kind !== 'prefix' || value !== '/api' || !path.startsWith('/API'),
              }),
              forward({ cluster: 'c', ...action }),
            ),
          ],
        ),
      ]);
      const result = compileRouteConfig(config).match(request('h', path));
      assert.ok(result, 'route matched');
      assert.equal(result.rewritePath(path), expected);
    });
  }

  test('host rewrites', () => {
    const literal = compileRouteConfig(
      routeConfig([
        virtualHost(
          'vh',
          ['*'],
          [
            route(
              routeMatch('prefix', '/'),
              forward({ cluster: 'c', hostRewriteLiteral: 'up.internal' }),
            ),
          ],
        ),
      ]),
    );
    assert.equal(literal.match(request('h', '/'))?.hostRewrite(new TestHeaders()), 'up.internal');
    const header = compileRouteConfig(
      routeConfig([
        virtualHost(
          'vh',
          ['*'],
          [
            route(
              routeMatch('prefix', '/'),
              forward({ cluster: 'c', hostRewriteHeader: 'X-Host' }),
            ),
          ],
        ),
      ]),
    );
    const result = header.match(request('h', '/'))!;
    assert.equal(result.hostRewrite(new TestHeaders({ 'x-host': 'other' })), 'other');
    assert.equal(result.hostRewrite(new TestHeaders({ 'x-host': '' })), undefined);
    assert.equal(result.hostRewrite(new TestHeaders()), undefined);
    const auto = compileRouteConfig(
      routeConfig([
        virtualHost(
          'vh',
          ['*'],
          [route(routeMatch('prefix', '/'), forward({ cluster: 'c', autoHostRewrite: true }))],
        ),
      ]),
    );
    assert.equal(auto.match(request('h', '/'))?.autoHostRewrite, true);
  });
});

describe('redirects', () => {
  function redirect(extra: Partial<RedirectActionModel>): RedirectActionModel {
    return {
      kind: 'redirect',
      httpsRedirect: false,
      responseCode: 301,
      stripQuery: false,
      ...extra,
    };
  }
  const cases: [
    name: string,
    action: RedirectActionModel,
    authority: string,
    path: string,
    scheme: string,
    expected: string,
    matchValue?: string,
  ][] = [
    [
      'https_redirect keeps host and path',
      redirect({ httpsRedirect: true }),
      'a.com',
      '/x?y=1',
      'http',
      'https://a.com/x?y=1',
    ],
    [
      'https_redirect drops the old default port',
      redirect({ httpsRedirect: true }),
      'a.com:80',
      '/x',
      'http',
      'https://a.com/x',
    ],
    [
      'https_redirect keeps a non-default port',
      redirect({ httpsRedirect: true }),
      'a.com:8080',
      '/x',
      'http',
      'https://a.com:8080/x',
    ],
    ['same scheme keeps :80', redirect({}), 'a.com:80', '/x', 'http', 'http://a.com:80/x'],
    [
      'scheme_redirect',
      redirect({ schemeRedirect: 'https' }),
      'a.com',
      '/',
      'http',
      'https://a.com/',
    ],
    [
      'host_redirect',
      redirect({ hostRedirect: 'b.com' }),
      'a.com:8080',
      '/p',
      'https',
      'https://b.com/p',
    ],
    [
      'port_redirect replaces the port',
      redirect({ portRedirect: 8443 }),
      'a.com:8080',
      '/p',
      'https',
      'https://a.com:8443/p',
    ],
    [
      'port_redirect on IPv6',
      redirect({ portRedirect: 8443 }),
      '[::1]:8080',
      '/p',
      'http',
      'http://[::1]:8443/p',
    ],
    [
      'host and port redirect',
      redirect({ hostRedirect: 'b.com:1', portRedirect: 2 }),
      'a.com',
      '/p',
      'http',
      'http://b.com:2/p',
    ],
    [
      'path_redirect keeps the query',
      redirect({ pathRedirect: '/new' }),
      'a.com',
      '/old?q=1',
      'http',
      'http://a.com/new?q=1',
    ],
    [
      'path_redirect with its own query replaces it',
      redirect({ pathRedirect: '/new?x=2' }),
      'a.com',
      '/old?q=1',
      'http',
      'http://a.com/new?x=2',
    ],
    [
      'path_redirect with strip_query',
      redirect({ pathRedirect: '/new', stripQuery: true }),
      'a.com',
      '/old?q=1',
      'http',
      'http://a.com/new',
    ],
    [
      'strip_query alone',
      redirect({ stripQuery: true }),
      'a.com',
      '/old?q=1',
      'http',
      'http://a.com/old',
    ],
    [
      'prefix_rewrite',
      redirect({ prefixRewrite: '/v2' }),
      'a.com',
      '/v1/x?q',
      'http',
      'http://a.com/v2/x?q',
      '/v1',
    ],
    [
      'regex_rewrite',
      redirect({ regexRewrite: { pattern: '^/v1/(.*)$', substitution: '/v2/\\1' } }),
      'a.com',
      '/v1/x?q',
      'http',
      'http://a.com/v2/x?q',
    ],
  ];
  for (const [name, action, authority, path, scheme, expected, matchValue] of cases) {
    test(name, () => {
      const config = routeConfig([
        virtualHost('vh', ['*'], [route(routeMatch('prefix', matchValue ?? '/'), action)]),
      ]);
      const result = compileRouteConfig(config).match(request(authority, path));
      assert.equal(result?.clusterName, undefined);
      assert.equal(result?.redirectLocation(request(authority, path), scheme), expected);
    });
  }
});

describe('checkRouteConfig', () => {
  test('collects errors with field paths', () => {
    const config: RouteConfigModel = routeConfig([
      virtualHost(
        'vh',
        ['*'],
        [route(routeMatch('prefix', '/'), 'ok'), route(routeMatch('safe_regex', '(['), 'bad')],
      ),
    ]);
    const result = checkRouteConfig(config);
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.errors[0]!, /^virtual_hosts\[0\]\.routes\[1\]: /);
    assert.throws(() => compileRouteConfig(config));
  });
});

describe('RouteMatchResult.memo', () => {
  const table = compileRouteConfig(
    routeConfig([virtualHost('any', ['*'], [route(routeMatch('prefix', '/'), 'c')])]),
  );
  const selection = (): NonNullable<ReturnType<typeof table.match>> => {
    const match = table.match(request('a.com', '/'));
    assert.ok(match !== undefined);
    return match;
  };

  test('builds once per key and selection, and keeps every key while keys alternate', () => {
    const first = {};
    const second = {};
    const builds: string[] = [];
    const build = (_selection: unknown, key: object): string => {
      const name = key === first ? 'first' : 'second';
      builds.push(name);
      return `${name} value`;
    };
    assert.equal(selection().memo(first, build), 'first value');
    assert.equal(selection().memo(first, build), 'first value');
    assert.equal(selection().memo(second, build), 'second value');
    assert.equal(selection().memo(first, build), 'first value');
    assert.equal(selection().memo(second, build), 'second value');
    assert.deepEqual(builds, ['first', 'second']);
  });

  test('build gets the selection it is kept with', () => {
    const match = selection();
    assert.equal(
      match.memo({}, (s) => s),
      match,
    );
  });
});
