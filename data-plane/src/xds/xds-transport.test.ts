import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { loadBootstrap } from '../config/bootstrap.js';
import { TEST_CA_PEM, TEST_CERT_PEM, TEST_KEY_PEM } from './xds-transport-fixtures.js';
import { controlPlaneIdentityCheck, xdsChannel, type XdsTlsModel } from './xds-transport.js';

const indent = (pem: string, n: number): string =>
  pem
    .trimEnd()
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

/** A bootstrap whose xds_cluster has this transport_socket (YAML, indented under the cluster). */
function bootstrap(transportSocket: string, secrets = ''): string {
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
${secrets}  clusters:
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

const esc = (s: string): string => s.replace(/[.[\]()]/g, '\\$&');
const AT = 'static_resources.clusters[0].transport_socket.typed_config.common_tls_context';

function errorsOf(text: string): string {
  const loaded = loadBootstrap(text, 'bootstrap.yaml');
  assert.equal(loaded.ok, false, 'the bootstrap must be refused');
  return (loaded as { errors: string[] }).errors.join('\n');
}

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
    assert.equal(tls.certificate?.certificateChainPem, TEST_CERT_PEM);
    assert.equal(tls.certificate?.privateKeyPem, TEST_KEY_PEM);
    assert.equal(tls.trustedCaPem, TEST_CA_PEM);
    assert.deepEqual(tls.sanMatchers, [
      {
        sanType: 'URI',
        matcher: { kind: 'prefix', value: 'spiffe://ferry/control-plane', ignoreCase: false },
      },
    ]);
    assert.deepEqual([tls.minVersion, tls.maxVersion], ['TLSv1.2', 'TLSv1.2']);
    // The data path uses the same TLS: a route to the xDS cluster is never plaintext.
    assert.equal(loaded.value.ads?.cluster.tls?.trustedCaPem, TEST_CA_PEM);
    assert.equal(loaded.value.ads?.cluster.tls?.sni, 'cp.ferry.test');
    const channel = xdsChannel(tls);
    assert.equal(channel.credentials._isSecure(), true);
    assert.deepEqual(channel.options, { 'grpc.ssl_target_name_override': 'cp.ferry.test' });
  });

  test('static secrets: certificate and validation context by name', () => {
    const secrets = `  secrets:
  - name: xds-client
    tls_certificate:
      certificate_chain:
        inline_string: |
${indent(TEST_CERT_PEM, 10)}
      private_key:
        inline_string: |
${indent(TEST_KEY_PEM, 10)}
  - name: xds-ca
    validation_context:
      trusted_ca:
        inline_string: |
${indent(TEST_CA_PEM, 10)}
      match_typed_subject_alt_names:
      - san_type: DNS
        matcher: { exact: cp.ferry.test }
      verify_certificate_spki: [${JSON.stringify(spkiOf(TEST_CERT_PEM))}]
`;
    const loaded = loadBootstrap(
      bootstrap(
        `${TLS_HEAD}
        common_tls_context:
          tls_certificate_sds_secret_configs: [{ name: xds-client }]
          validation_context_sds_secret_config: { name: xds-ca }
          tls_params: { cipher_suites: [ECDHE-ECDSA-AES128-GCM-SHA256] }`,
        secrets,
      ),
      'bootstrap.yaml',
    );
    if (!loaded.ok) assert.fail(loaded.errors.join('\n'));
    const expected: XdsTlsModel = {
      sni: '',
      alpnProtocols: [],
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'],
      trustedCaPem: TEST_CA_PEM,
      certificate: {
        certificateChainPem: TEST_CERT_PEM,
        privateKeyPem: TEST_KEY_PEM,
        secretName: 'xds-client',
      },
      sanMatchers: [
        { sanType: 'DNS', matcher: { kind: 'exact', value: 'cp.ferry.test', ignoreCase: false } },
      ],
      certificateHashes: [],
      spkiHashes: [spkiOf(TEST_CERT_PEM)],
    };
    assert.deepEqual(loaded.value.ads?.tls, expected);
    assert.equal(xdsChannel(loaded.value.ads?.tls).credentials._isSecure(), true);
  });

  test('a secret only ADS could deliver is refused with the reference', () => {
    const errors = errorsOf(
      bootstrap(`${TLS_HEAD}
        common_tls_context:
          tls_certificate_sds_secret_configs: [{ name: client, sds_config: { ads: {} } }]
          validation_context:
${TRUSTED_CA}`),
    );
    assert.equal(
      errors,
      'bootstrap.yaml: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: "xds_cluster" waits for SDS secrets (client) that only ADS itself could deliver; give the ADS cluster inline certificates or static secrets',
    );
  });

  test('an unknown static secret is refused at its reference', () => {
    const errors = errorsOf(
      bootstrap(`${TLS_HEAD}
        common_tls_context:
          validation_context_sds_secret_config: { name: nowhere }`),
    );
    assert.match(
      errors,
      new RegExp(
        esc(`${AT}.validation_context_sds_secret_config.name: no static secret "nowhere"`),
      ),
    );
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
    const errors = errorsOf(
      bootstrap(`${TLS_HEAD}
        common_tls_context:
          alpn_protocols: [http/1.1]
          tls_params: { tls_minimum_protocol_version: TLSv1_3, tls_maximum_protocol_version: TLSv1_2 }
          validation_context:
            match_typed_subject_alt_names:
            - san_type: OTHER_NAME
              matcher: { exact: a@b }
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        '@type': type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
        upstream_http_protocol_options: { auto_sni: true }`),
    );
    assert.match(
      errors,
      new RegExp(esc(`${AT}.alpn_protocols: the xDS connection is gRPC: h2 only`)),
    );
    assert.match(errors, /tls_minimum_protocol_version TLSv1.3 is above the maximum TLSv1.2/);
    assert.match(
      errors,
      new RegExp(
        esc(`${AT}.validation_context.match_typed_subject_alt_names[0].san_type: OTHER_NAME`),
      ),
    );
    assert.match(
      errors,
      new RegExp(
        esc(
          'static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.upstream_http_protocol_options.auto_sni: not supported on the xDS cluster',
        ),
      ),
    );
  });

  test('HTTP/2 and common protocol options grpc-js cannot take are refused; keepalive is not', () => {
    const typed =
      'static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
    const errors = errorsOf(
      bootstrap(`    max_requests_per_connection: 10
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        '@type': type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        common_http_protocol_options: { idle_timeout: 60s }
        explicit_http_config:
          http2_protocol_options:
            max_concurrent_streams: 10
            initial_stream_window_size: 1048576
            connection_keepalive: { interval: 30s, timeout: 5s }`),
    );
    for (const field of [
      `${typed}.explicit_http_config.http2_protocol_options.max_concurrent_streams`,
      `${typed}.explicit_http_config.http2_protocol_options.initial_stream_window_size`,
      `${typed}.common_http_protocol_options.idle_timeout`,
      'static_resources.clusters[0].max_requests_per_connection',
    ])
      assert.match(errors, new RegExp(esc(`${field}: not applied to the xDS connection`)));
    assert.doesNotMatch(errors, /connection_keepalive:/);
    const deprecated = errorsOf(
      bootstrap(`    http2_protocol_options: { initial_connection_window_size: 1048576 }`),
    );
    assert.match(
      deprecated,
      new RegExp(
        esc(
          'static_resources.clusters[0].http2_protocol_options.initial_connection_window_size: not applied to the xDS connection',
        ),
      ),
    );
    const keepaliveOnly = loadBootstrap(
      bootstrap(
        `    http2_protocol_options: { connection_keepalive: { interval: 30s, timeout: 5s } }`,
      ),
      'bootstrap.yaml',
    );
    assert.equal(keepaliveOnly.ok, true);
  });

  test('trusted_ca is required, inline or from the secret', () => {
    const inline = errorsOf(
      bootstrap(`${TLS_HEAD}
        common_tls_context:
${CLIENT_CERT}`),
    );
    assert.match(
      inline,
      new RegExp(
        esc(`${AT}.validation_context.trusted_ca: trusted_ca is required for the xDS cluster`),
      ),
    );
    const fromSecret = errorsOf(
      bootstrap(
        `${TLS_HEAD}
        common_tls_context:
          validation_context_sds_secret_config: { name: sans-only }`,
        `  secrets:
  - name: sans-only
    validation_context:
      match_typed_subject_alt_names: [{ san_type: DNS, matcher: { exact: cp } }]
`,
      ),
    );
    assert.match(
      fromSecret,
      new RegExp(esc(`${AT}.validation_context_sds_secret_config: trusted_ca is required`)),
    );
  });

  test('a static secret that asks to be reloaded is refused: the channel reads it once', () => {
    const errors = errorsOf(
      bootstrap(
        `${TLS_HEAD}
        common_tls_context:
          validation_context_sds_secret_config: { name: rotating-ca }`,
        `  secrets:
  - name: rotating-ca
    validation_context:
      watched_directory: { path: /etc/ferry/ca }
      trusted_ca:
        inline_string: |
${indent(TEST_CA_PEM, 10)}
`,
      ),
    );
    assert.match(
      errors,
      new RegExp(
        esc(
          `${AT}.validation_context_sds_secret_config: static secret "rotating-ca" sets watched_directory`,
        ),
      ),
    );
  });

  test('a key that is not the certificate’s is refused without printing it', () => {
    const errors = errorsOf(
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
    );
    assert.match(errors, /tls_certificates\[0\]\.private_key: does not match the certificate/);
    assert.doesNotMatch(errors, /PRIVATE KEY/);
  });
});

function spkiOf(pem: string): string {
  return createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

describe("the control plane's certificate check", () => {
  // TEST_CERT_PEM carries the SAN URI:spiffe://ferry/group/edge/node/edge-1.
  const peer = { raw: new X509Certificate(TEST_CERT_PEM).raw } as PeerCertificate;
  const model = (over: Partial<XdsTlsModel>): XdsTlsModel => ({
    sni: '',
    alpnProtocols: [],
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    cipherSuites: [],
    trustedCaPem: TEST_CA_PEM,
    sanMatchers: [],
    certificateHashes: [],
    spkiHashes: [],
    ...over,
  });
  const uri = (value: string) => ({
    sanType: 'URI' as const,
    matcher: { kind: 'prefix' as const, value, ignoreCase: false },
  });

  test('no matchers and no pins: a chain-verified certificate passes (no host name check)', () => {
    assert.equal(controlPlaneIdentityCheck(model({}))('elsewhere.example', peer), undefined);
  });

  test('SAN matchers as for data clusters: one match is enough, none is refused', () => {
    const check = controlPlaneIdentityCheck(
      model({ sanMatchers: [uri('spiffe://ferry/control-plane'), uri('spiffe://ferry/group/')] }),
    );
    assert.equal(check('cp', peer), undefined);
    const refused = controlPlaneIdentityCheck(
      model({ sanMatchers: [uri('spiffe://ferry/control-plane')] }),
    )('cp', peer);
    assert.match(
      String(refused?.message),
      /^the control plane's certificate fails the xDS cluster's validation_context: no subject alt name matches .*spiffe:\/\/ferry\/group\/edge\/node\/edge-1/,
    );
  });

  test('certificate hash and SPKI pins', () => {
    const hash = new X509Certificate(TEST_CERT_PEM).fingerprint256
      .replaceAll(':', '')
      .toLowerCase();
    assert.equal(
      controlPlaneIdentityCheck(model({ certificateHashes: [hash] }))('cp', peer),
      undefined,
    );
    assert.equal(
      controlPlaneIdentityCheck(model({ spkiHashes: [spkiOf(TEST_CERT_PEM)] }))('cp', peer),
      undefined,
    );
    const other = controlPlaneIdentityCheck(model({ spkiHashes: [spkiOf(TEST_CA_PEM)] }))(
      'cp',
      peer,
    );
    assert.match(
      String(other?.message),
      /neither verify_certificate_hash nor verify_certificate_spki/,
    );
  });
});
