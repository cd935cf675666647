import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerCertificate } from 'node:tls';
import { loadBootstrap } from '../config/bootstrap.js';
import { TEST_CA_PEM, TEST_CERT_PEM, TEST_KEY_PEM } from './xds-transport-fixtures.js';
import { sanCheck, xdsChannel } from './xds-transport.js';

const indent = (pem: string, n: number): string =>
  pem
    .trimEnd()
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

/** A bootstrap whose xds_cluster has this transport_socket (YAML, indented under the cluster). */
function bootstrap(transportSocket: string): string {
  return `
node: { id: edge-1, cluster: edge }
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services:
    - envoy_grpc: { cluster_name: xds_cluster }
  lds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
  - name: xds_cluster
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: xds_cluster
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 18000 } } }
${transportSocket}
`;
}

const TLS_HEAD = `    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        '@type': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`;

const CLIENT_CERT = `          tls_certificates:
          - certificate_chain:
              inline_string: |
${indent(TEST_CERT_PEM, 16)}
            private_key:
              inline_string: |
${indent(TEST_KEY_PEM, 16)}`;

const TRUSTED_CA = `            trusted_ca:
              inline_string: |
${indent(TEST_CA_PEM, 16)}`;

describe('the xDS cluster transport_socket', () => {
  test('UpstreamTlsContext: client certificate, trusted CA, SNI and SAN matchers', () => {
    const loaded = loadBootstrap(
      bootstrap(`${TLS_HEAD}
        sni: cp.ferry.test
        common_tls_context:
${CLIENT_CERT}
          validation_context:
${TRUSTED_CA}
            match_typed_subject_alt_names:
            - san_type: URI
              matcher: { prefix: 'spiffe://ferry/control-plane' }
          alpn_protocols: [h2]`),
      'bootstrap.yaml',
    );
    if (!loaded.ok) assert.fail(loaded.errors.join('\n'));
    const tls = loaded.value.ads?.tls;
    assert.ok(tls);
    assert.equal(tls.sni, 'cp.ferry.test');
    assert.equal(tls.certificateChainPem, TEST_CERT_PEM);
    assert.equal(tls.trustedCaPem, TEST_CA_PEM);
    assert.deepEqual(tls.sanMatchers, [
      {
        type: 'URI',
        matcher: { kind: 'prefix', value: 'spiffe://ferry/control-plane', ignoreCase: false },
      },
    ]);
    assert.deepEqual([tls.minVersion, tls.maxVersion], ['TLSv1.2', 'TLSv1.2']);
    // The data path never sees the xDS cluster's transport socket.
    const cluster = loaded.value.staticClusters.find((c) => c.name === 'xds_cluster');
    assert.equal(cluster?.transport_socket, undefined);
    const channel = xdsChannel(tls);
    assert.equal(channel.credentials._isSecure(), true);
    assert.deepEqual(channel.options, { 'grpc.ssl_target_name_override': 'cp.ferry.test' });
  });

  test('no transport_socket or RawBuffer: plaintext', () => {
    const plain = loadBootstrap(bootstrap(''), 'b');
    assert.ok(plain.ok && plain.value.ads && plain.value.ads.tls === undefined);
    const raw = loadBootstrap(
      bootstrap(`    transport_socket:
      name: raw
      typed_config: { '@type': type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer }`),
      'b',
    );
    assert.ok(raw.ok && raw.value.ads?.tls === undefined);
    assert.equal(xdsChannel(undefined).credentials._isSecure(), false);
  });

  test('what it cannot honour refuses the bootstrap with field paths', () => {
    const loaded = loadBootstrap(
      bootstrap(`${TLS_HEAD}
        common_tls_context:
          tls_certificate_sds_secret_configs: [{ name: client }]
          alpn_protocols: [http/1.1]
          tls_params: { tls_minimum_protocol_version: TLSv1_3, tls_maximum_protocol_version: TLSv1_2 }
          validation_context:
            match_typed_subject_alt_names:
            - san_type: EMAIL
              matcher: { exact: a@b }`),
      'bootstrap.yaml',
    );
    assert.equal(loaded.ok, false);
    const errors = (loaded as { errors: string[] }).errors.join('\n');
    const at = 'static_resources.clusters[0].transport_socket.typed_config.common_tls_context';
    assert.match(
      errors,
      new RegExp(`${at}.tls_certificate_sds_secret_configs: `.replace(/[.[\]]/g, '\\$&')),
    );
    assert.match(
      errors,
      new RegExp(
        `${at}.alpn_protocols: the xDS connection is gRPC: h2 only`.replace(/[.[\]]/g, '\\$&'),
      ),
    );
    assert.match(
      errors,
      /tls_minimum_protocol_version TLSv1_3 is above tls_maximum_protocol_version TLSv1_2/,
    );
    assert.match(
      errors,
      /match_typed_subject_alt_names\[0\]\.san_type: EMAIL is not supported for the xDS cluster/,
    );
    assert.match(errors, /validation_context\.trusted_ca: required for the xDS cluster/);
  });

  test('a key that is not the certificate’s is refused without printing it', () => {
    const loaded = loadBootstrap(
      bootstrap(`${TLS_HEAD}
        common_tls_context:
          tls_certificates:
          - certificate_chain:
              inline_string: |
${indent(TEST_CA_PEM, 16)}
            private_key:
              inline_string: |
${indent(TEST_KEY_PEM, 16)}
          validation_context:
${TRUSTED_CA}`),
      'b',
    );
    assert.equal(loaded.ok, false);
    const errors = (loaded as { errors: string[] }).errors.join('\n');
    assert.match(errors, /tls_certificates\[0\]\.private_key: does not match certificate_chain/);
    assert.doesNotMatch(errors, /PRIVATE KEY/);
  });
});

describe('SAN check of the control plane certificate', () => {
  const cert = (subjectaltname: string) => ({ subjectaltname }) as PeerCertificate;
  const exact = (value: string) => ({ kind: 'exact' as const, value, ignoreCase: false });

  test('no matchers: any verified certificate (Envoy does not check the host name)', () => {
    assert.equal(sanCheck([])(cert('DNS:other.example')), undefined);
  });

  test('typed matchers compare only their SAN type; one match is enough', () => {
    const check = sanCheck([
      { type: 'URI', matcher: exact('spiffe://ferry/control-plane') },
      { type: 'DNS', matcher: exact('cp.ferry.test') },
    ]);
    assert.equal(check(cert('DNS:cp.ferry.test')), undefined);
    assert.equal(check(cert('URI:spiffe://ferry/control-plane')), undefined);
    assert.match(String(check(cert('DNS:spiffe://ferry/control-plane'))?.message), /match none/);
    assert.match(String(check(cert(''))?.message), /SANs \(none\)/);
  });

  test('the deprecated untyped form matches DNS, URI or IP SANs', () => {
    const check = sanCheck([{ type: undefined, matcher: exact('127.0.0.1') }]);
    assert.equal(check(cert('IP Address:127.0.0.1')), undefined);
    assert.notEqual(check(cert('email:127.0.0.1')), undefined);
  });
});
