import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResourceJson, type ParsedResource } from '@ferry/proto';
import { checkRe2 } from './re2.js';
import {
  resourceLabel,
  validateBatch,
  validateGroupChange,
  type CandidateResource,
  type Verdict,
} from './validation.js';
import {
  basicGroup,
  cluster,
  listener,
  loadAssignment,
  OTHER_KEY,
  routeConfig,
  sdsTls,
  TEST_CERT,
  TEST_KEY,
  tlsSecret,
  virtualHost,
  type Doc,
} from './test-fixtures.js';

function parse(doc: Doc, path = ''): ParsedResource {
  const r = parseResourceJson(doc, path);
  if (!r.ok) assert.fail(`fixture does not decode: ${r.errors.join('; ')}`);
  return r.value;
}

function candidate(doc: Doc): CandidateResource {
  const p = parse(doc);
  return { type: p.type, name: p.name, json: p.json, label: resourceLabel(p.type.kind, p.name) };
}

function validate(batch: Doc[], existing: Doc[] = []): Verdict {
  const entries = batch.map((d, index) => ({ index, ...parse(d, `resources[${index}]`) }));
  return validateBatch('default', existing.map(candidate), entries);
}

function withoutField(doc: Doc, field: string): Doc {
  const { [field]: _removed, ...rest } = doc;
  return rest;
}

function errorsOf(v: Verdict): string[] {
  return v.ok ? [] : v.errors;
}

describe('validateBatch accepts', () => {
  const cases: Array<[string, Doc[], Doc[]]> = [
    ['a consistent group in one batch', basicGroup(), []],
    [
      'a route to a cluster applied earlier',
      [routeConfig('r', [virtualHost('v', ['*'], [{ cluster: 'api' }])])],
      [cluster('api')],
    ],
    [
      'cluster_header routes (chosen per request)',
      [routeConfig('r', [virtualHost('v', ['*'], [{ clusterHeader: 'x-cluster' }])])],
      [],
    ],
    [
      'an EDS cluster with a service name',
      [cluster('web', { eds: 'web-svc' }), loadAssignment('web-svc')],
      [],
    ],
    [
      'RE2 named groups and inline flags',
      [
        routeConfig('r', [
          virtualHost('v', ['*'], [{ regex: '(?i)^/(?P<id>[a-z]+)\\z', cluster: 'api' }]),
        ]),
      ],
      [cluster('api')],
    ],
    ['a TLS secret whose key matches', [tlsSecret('cert')], []],
    [
      'a listener taking its certificate from SDS',
      [listener('https', { port: 443, rds: 'main', tls: sdsTls('cert') })],
      [routeConfig('main', []), tlsSecret('cert')],
    ],
    [
      'an inline DownstreamTlsContext',
      [
        listener('https', {
          port: 443,
          rds: 'main',
          tls: {
            common_tls_context: {
              tls_certificates: [
                {
                  certificate_chain: { inline_string: TEST_CERT },
                  private_key: { inline_bytes: Buffer.from(TEST_KEY).toString('base64') },
                },
              ],
            },
          },
        }),
      ],
      [routeConfig('main', [])],
    ],
  ];
  for (const [name, batch, existing] of cases) {
    test(name, () => assert.deepEqual(validate(batch, existing), { ok: true }));
  }
});

describe('validateBatch rejects', () => {
  const cases: Array<[string, Doc[], Doc[], string]> = [
    [
      'duplicate names in one batch',
      [cluster('api'), cluster('web'), cluster('x'), cluster('web')],
      [],
      'resources[3]: duplicate Cluster "web" (also resources[1])',
    ],
    [
      'a route to a missing cluster',
      [
        cluster('api'),
        routeConfig('main', [
          virtualHost('v', ['*'], [{ prefix: '/a', cluster: 'api' }, { cluster: 'missing' }]),
        ]),
      ],
      [],
      'resources[1](RouteConfiguration "main").virtual_hosts[0].routes[1].route.cluster: cluster "missing" does not exist in group "default"; apply it in the same batch or first',
    ],
    [
      'a weighted cluster that does not exist',
      [routeConfig('main', [virtualHost('v', ['*'], [{ weighted: ['api', 'gone'] }])])],
      [cluster('api')],
      'resources[0](RouteConfiguration "main").virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].name: cluster "gone" does not exist',
    ],
    [
      'a listener naming a missing route configuration',
      [listener('http', { rds: 'nope' })],
      [],
      'resources[0](Listener "http").filter_chains[0].filters[0].typed_config.rds.route_config_name: route configuration "nope" does not exist',
    ],
    [
      'an inline route config naming a missing cluster',
      [
        listener('http', {
          inline: routeConfig('inline', [virtualHost('v', ['*'], [{ cluster: 'ghost' }])]),
        }),
      ],
      [],
      'resources[0](Listener "http").filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster: cluster "ghost" does not exist',
    ],
    [
      'a TCP proxy to a missing cluster',
      [listener('tcp', { tcpCluster: 'db' })],
      [],
      'resources[0](Listener "tcp").filter_chains[0].filters[0].typed_config.cluster: cluster "db" does not exist',
    ],
    [
      'an EDS cluster without endpoints',
      [cluster('web', { eds: 'web-svc' })],
      [loadAssignment('web')],
      'resources[0](Cluster "web").eds_cluster_config.service_name: cluster load assignment (endpoints) "web-svc" does not exist',
    ],
    [
      'an EDS cluster without eds_cluster_config',
      [withoutField(cluster('web', { eds: true }), 'eds_cluster_config')],
      [],
      'resources[0](Cluster "web").eds_cluster_config: required for a cluster of type EDS',
    ],
    [
      'a missing SDS secret',
      [listener('https', { port: 443, rds: 'main', tls: sdsTls('cert') })],
      [routeConfig('main', [])],
      'resources[0](Listener "https").filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name: secret "cert" does not exist',
    ],
    [
      'a regex that does not compile',
      [routeConfig('r', [virtualHost('v', ['*'], [{ regex: '/(unclosed', cluster: 'api' }])])],
      [cluster('api')],
      'resources[0](RouteConfiguration "r").virtual_hosts[0].routes[0].match.safe_regex.regex: regex "/(unclosed": missing closing ) at offset 1',
    ],
    [
      'a lookahead (RE2 has none)',
      [routeConfig('r', [virtualHost('v', ['*'], [{ regex: '/(?!admin).*', cluster: 'api' }])])],
      [cluster('api')],
      'resources[0](RouteConfiguration "r").virtual_hosts[0].routes[0].match.safe_regex.regex: regex "/(?!admin).*": lookahead is not supported (RE2 has no lookaround) at offset 1',
    ],
    [
      'a listener on port 0',
      [listener('http', { port: 0, rds: 'main' })],
      [routeConfig('main', [])],
      'resources[0](Listener "http").address.socket_address.port_value: a listener needs a port in 1..65535 (got 0)',
    ],
    [
      'an endpoint without a port',
      [loadAssignment('web', [0])],
      [],
      'resources[0](ClusterLoadAssignment "web").endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: an endpoint needs a port in 1..65535 (got 0)',
    ],
    [
      'a domain served by two virtual hosts',
      [
        routeConfig('r', [
          virtualHost('a', ['a.example', '*'], [{ cluster: 'api' }]),
          virtualHost('b', ['A.example'], [{ cluster: 'api' }]),
        ]),
      ],
      [cluster('api')],
      'resources[0](RouteConfiguration "r").virtual_hosts[1].domains[0]: domain "a.example" is already served by virtual_hosts[0]',
    ],
    [
      'a certificate that does not parse',
      [tlsSecret('cert', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')],
      [],
      'resources[0](Secret "cert").tls_certificate.certificate_chain.inline_string: certificate 1 does not parse',
    ],
    [
      'a private key that does not parse',
      [tlsSecret('cert', TEST_CERT, 'not a key')],
      [],
      'resources[0](Secret "cert").tls_certificate.private_key.inline_string: not a usable PEM private key',
    ],
    [
      'a private key of another certificate',
      [tlsSecret('cert', TEST_CERT, OTHER_KEY)],
      [],
      'resources[0](Secret "cert").tls_certificate.private_key: does not match the first certificate of certificate_chain',
    ],
  ];
  for (const [name, batch, existing, expected] of cases) {
    test(name, () => {
      const verdict = validate(batch, existing);
      assert.equal(verdict.ok, false);
      assert.equal(verdict.ok ? '' : verdict.code, 'FERRY_INVALID_CONFIG');
      const errors = errorsOf(verdict);
      assert.ok(
        errors.some((e) => e.startsWith(expected)),
        `expected an error starting with\n  ${expected}\ngot\n  ${errors.join('\n  ')}`,
      );
    });
  }

  test('collects every error of the batch, not only the first', () => {
    const errors = errorsOf(
      validate([listener('http', { port: 0, rds: 'nope' }), loadAssignment('x', [0])]),
    );
    assert.equal(errors.length, 3, errors.join('\n'));
  });
});

describe('validateGroupChange on deletes', () => {
  const group = basicGroup().map(candidate);

  test('refuses to delete a cluster a route still uses (FERRY_REFERENCED)', () => {
    const verdict = validateGroupChange({
      group: 'default',
      puts: [],
      deletes: [{ kind: 'Cluster', name: 'api', label: 'resources[0](Cluster "api")' }],
      after: group.filter((r) => r.name !== 'api' || r.type.kind !== 'Cluster'),
    });
    assert.deepEqual(verdict, {
      ok: false,
      code: 'FERRY_REFERENCED',
      errors: [
        'resources[0](Cluster "api"): still referenced by RouteConfiguration "main".virtual_hosts[0].routes[0].route.cluster in group "default"; change or delete that route configuration first, or in the same batch',
      ],
    });
  });

  test('allows deleting a resource together with everything that uses it', () => {
    const remaining = group.filter((r) => r.type.kind === 'Cluster' && r.name === 'web');
    const verdict = validateGroupChange({
      group: 'default',
      puts: [],
      deletes: [
        { kind: 'Cluster', name: 'api', label: 'a' },
        { kind: 'RouteConfiguration', name: 'main', label: 'b' },
        { kind: 'Listener', name: 'http', label: 'c' },
      ],
      after: remaining,
    });
    assert.deepEqual(verdict, { ok: true });
  });
});

describe('checkRe2', () => {
  const table: Array<[string, string | undefined]> = [
    ['^/api/v[0-9]+/.*$', undefined],
    ['[]a]', undefined],
    ['\\pL+', 'Unicode class'],
    ['(?i)caf\u00e9', undefined],
    ['(a+)+$', undefined],
    ['\\Aabc\\z', undefined],
    ['(a)\\1', 'backreference'],
    ['(?<=x)y', 'lookbehind'],
    ['(?=x)', 'lookahead'],
    ['a++', 'bad repetition operator'],
    ['[(?=x)]', undefined],
    ['a{2,1}', 'bad repetition operator'],
    ['(?m)^a', 'multi-line'],
  ];
  for (const [pattern, problem] of table) {
    test(`${pattern} → ${problem ?? 'ok'}`, () => {
      const result = checkRe2(pattern);
      if (problem === undefined) assert.equal(result, undefined);
      else assert.match(result ?? '', new RegExp(problem));
    });
  }
});
