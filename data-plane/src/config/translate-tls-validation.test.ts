import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterModel } from './model.js';
import { buildProxyConfig } from './translate.js';
import { resourcesOf } from './translate-test-fixtures.js';

const T = 'type.googleapis.com/';

function clusterWith(extra: Record<string, unknown>): ClusterModel {
  const r = buildProxyConfig(
    resourcesOf([
      {
        '@type': 'envoy.config.cluster.v3.Cluster',
        name: 'c',
        type: 'STATIC',
        load_assignment: {
          cluster_name: 'c',
          endpoints: [
            {
              lb_endpoints: [
                {
                  endpoint: {
                    address: { socket_address: { address: '10.0.0.1', port_value: 443 } },
                  },
                },
              ],
            },
          ],
        },
        ...extra,
      },
    ]),
  );
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.value.clusters.c!;
}

function upstreamTls(common: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
        common_tls_context: common,
        ...extra,
      },
    },
  };
}

describe('UpstreamTlsContext validation_context translation', () => {
  test('typed SAN matchers keep their type and StringMatcher', () => {
    const c = clusterWith(
      upstreamTls({
        validation_context: {
          match_typed_subject_alt_names: [
            { san_type: 'DNS', matcher: { exact: 'api.test' } },
            { san_type: 'URI', matcher: { prefix: 'spiffe://td/' } },
            { san_type: 'EMAIL', matcher: { suffix: '@test', ignore_case: true } },
            { san_type: 'IP_ADDRESS', matcher: { safe_regex: { regex: '10\\..*' } } },
          ],
        },
      }),
    );
    assert.deepEqual(c.tls!.sanMatchers, [
      { sanType: 'DNS', matcher: { kind: 'exact', value: 'api.test', ignoreCase: false } },
      { sanType: 'URI', matcher: { kind: 'prefix', value: 'spiffe://td/', ignoreCase: false } },
      { sanType: 'EMAIL', matcher: { kind: 'suffix', value: '@test', ignoreCase: true } },
      { sanType: 'IP_ADDRESS', matcher: { kind: 'regex', value: '10\\..*', ignoreCase: false } },
    ]);
  });

  test('deprecated match_subject_alt_names applies to DNS, URI, EMAIL and IP SANs', () => {
    const c = clusterWith(
      upstreamTls({ validation_context: { match_subject_alt_names: [{ exact: 'a.test' }] } }),
    );
    assert.deepEqual(
      c.tls!.sanMatchers.map((m) => m.sanType),
      ['DNS', 'URI', 'EMAIL', 'IP_ADDRESS'],
    );
  });

  test('pins are normalised: hex hash without colons, lowercase; SPKI as base64', () => {
    const hex = 'AB'.repeat(32);
    const colons = hex.match(/../g)!.join(':');
    const spki = Buffer.alloc(32, 7).toString('base64');
    const c = clusterWith(
      upstreamTls({
        validation_context: {
          verify_certificate_hash: [hex, colons],
          verify_certificate_spki: [spki],
        },
      }),
    );
    assert.deepEqual(c.tls!.certificateHashes, ['ab'.repeat(32), 'ab'.repeat(32)]);
    assert.deepEqual(c.tls!.spkiHashes, [spki]);
  });

  test('cipher_suites: Envoy equal-preference groups are flattened in order', () => {
    const c = clusterWith(
      upstreamTls({
        tls_params: {
          cipher_suites: [
            '[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]',
            'ECDHE-RSA-AES256-GCM-SHA384',
          ],
        },
      }),
    );
    assert.deepEqual(c.tls!.cipherSuites, [
      'ECDHE-ECDSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-CHACHA20-POLY1305',
      'ECDHE-RSA-AES256-GCM-SHA384',
    ]);
  });

  test('auto_sni / auto_san_validation / override_auto_sni_header', () => {
    const c = clusterWith({
      ...upstreamTls({
        validation_context: {
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'x' } }],
        },
      }),
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
          explicit_http_config: { http_protocol_options: {} },
          upstream_http_protocol_options: {
            auto_sni: true,
            auto_san_validation: true,
            override_auto_sni_header: 'X-SNI',
          },
        },
      },
    });
    assert.deepEqual(c.upstreamHostName, {
      autoSni: true,
      autoSanValidation: true,
      header: 'x-sni',
    });
  });
});
