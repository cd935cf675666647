/**
 * SDS in translation: SdsSecretConfigs resolved against secrets received over ADS and the
 * bootstrap's static secrets, warming of listeners and clusters whose secrets have not arrived,
 * combined_validation_context merging, the NACKs (with field paths) for what cannot be applied,
 * and what the primary watches on disk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildProxyConfig, type JsonObject, type XdsResources } from './translate.js';
import { OTHER_KEY, TEST_CERT, TEST_KEY, resourcesOf } from './translate-test-fixtures.js';
import type { ProxyConfig } from './model.js';
import { sdsSecretNames } from '../xds/resource-set.js';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import type { KeyPair } from '../listener/tcp-test-fixtures.js';

const T = 'type.googleapis.com/';
const TLS = `${T}envoy.extensions.transport_sockets.tls.v3.`;
const PREFIX = 'filter_chains[0].transport_socket.typed_config.common_tls_context';

let dir: string;
let other: KeyPair;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sds-'));
  other = selfSigned(dir, 'other.test');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function build(input: XdsResources, previous?: ProxyConfig): ProxyConfig {
  const r = buildProxyConfig(input, previous);
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.value;
}

function errorsOf(input: XdsResources): string[] {
  const r = buildProxyConfig(input);
  assert.equal(r.ok, false, 'expected translation to fail');
  return r.ok ? [] : r.errors;
}

const ADS_REF = (name: string): JsonObject => ({
  name,
  sds_config: { ads: {}, resource_api_version: 'V3' },
});

function tlsListener(name: string, common: JsonObject, extra: JsonObject = {}): JsonObject {
  return {
    '@type': 'envoy.config.listener.v3.Listener',
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': `${TLS}DownstreamTlsContext`,
            common_tls_context: common,
            ...extra,
          },
        },
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: {
              '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
              stat_prefix: name,
              cluster: 'backend',
            },
          },
        ],
      },
    ],
  };
}

const BACKEND: JsonObject = {
  '@type': 'envoy.config.cluster.v3.Cluster',
  name: 'backend',
  load_assignment: {
    cluster_name: 'backend',
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } },
        ],
      },
    ],
  },
};

function certSecret(name: string, cert = TEST_CERT, key = TEST_KEY): JsonObject {
  return {
    '@type': `${TLS}Secret`,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: cert },
      private_key: { inline_string: key },
    },
  };
}

function caSecret(name: string, validation: JsonObject): JsonObject {
  return { '@type': `${TLS}Secret`, name, validation_context: validation };
}

function withStatic(input: XdsResources, staticSecrets: JsonObject[]): XdsResources {
  return { ...input, staticSecrets: resourcesOf(staticSecrets).secrets ?? [] };
}

describe('SDS: certificates from secrets', () => {
  test('an ADS secret supplies the chain’s certificate, labelled with its name', () => {
    const config = build(
      resourcesOf([
        tlsListener('web', { tls_certificate_sds_secret_configs: [ADS_REF('web-cert')] }),
        BACKEND,
        certSecret('web-cert'),
      ]),
    );
    assert.deepEqual(config.listeners[0]!.filterChains[0]!.tls!.certificates, [
      { certificateChainPem: TEST_CERT, privateKeyPem: TEST_KEY, secretName: 'web-cert' },
    ]);
    assert.equal(config.warming, undefined);
  });

  test('a name without sds_config is a static secret of the bootstrap, as in Envoy', () => {
    const input = resourcesOf([
      tlsListener('web', { tls_certificate_sds_secret_configs: [{ name: 'boot-cert' }] }),
      BACKEND,
    ]);
    const config = build(withStatic(input, [certSecret('boot-cert')]));
    assert.equal(
      config.listeners[0]!.filterChains[0]!.tls!.certificates[0]!.secretName,
      'boot-cert',
    );
    // An ADS secret of that name does not stand in for a static one.
    assert.deepEqual(
      errorsOf({ ...input, secrets: resourcesOf([certSecret('boot-cert')]).secrets ?? [] }),
      [
        `Listener "web": ${PREFIX}.tls_certificate_sds_secret_configs[0].name: no static secret "boot-cert" in static_resources.secrets (add sds_config: {ads: {}} to receive it over SDS)`,
      ],
    );
  });

  test('sources other than ADS are NACKed with the field path', () => {
    const apiSource = {
      name: 'c',
      sds_config: {
        api_config_source: {
          api_type: 'GRPC',
          grpc_services: [{ envoy_grpc: { cluster_name: 'sds' } }],
        },
      },
    };
    assert.deepEqual(
      errorsOf(
        resourcesOf([
          tlsListener('web', { tls_certificate_sds_secret_configs: [apiSource] }),
          BACKEND,
        ]),
      ),
      [
        `Listener "web": ${PREFIX}.tls_certificate_sds_secret_configs[0].sds_config.api_config_source: not supported by ferry-proxy`,
      ],
    );
  });

  test('a broken secret is one error under its own name; the wrong kind is an error at the reference', () => {
    assert.deepEqual(
      errorsOf(
        resourcesOf([
          tlsListener('web', { tls_certificate_sds_secret_configs: [ADS_REF('bad')] }),
          BACKEND,
          certSecret('bad', TEST_CERT, OTHER_KEY),
        ]),
      ),
      ['Secret "bad": tls_certificate.private_key: does not match the certificate'],
    );
    assert.deepEqual(
      errorsOf(
        resourcesOf([
          tlsListener('web', { tls_certificate_sds_secret_configs: [ADS_REF('ca')] }),
          BACKEND,
          caSecret('ca', { trusted_ca: { inline_string: TEST_CERT } }),
        ]),
      ),
      [
        `Listener "web": ${PREFIX}.tls_certificate_sds_secret_configs[0]: secret "ca" has no tls_certificate`,
      ],
    );
  });

  test('watched_directory is accepted in a Secret only', () => {
    assert.deepEqual(
      errorsOf(
        resourcesOf([
          tlsListener('web', {
            tls_certificates: [
              {
                certificate_chain: { inline_string: TEST_CERT },
                private_key: { inline_string: TEST_KEY },
                watched_directory: { path: dir },
              },
            ],
          }),
          BACKEND,
        ]),
      ),
      [
        `Listener "web": ${PREFIX}.tls_certificates[0].watched_directory: only in an SDS Secret (static_resources.secrets or over ADS)`,
      ],
    );
  });
});

describe('SDS: warming', () => {
  const waiting = (): XdsResources =>
    resourcesOf([
      tlsListener('web', { tls_certificate_sds_secret_configs: [ADS_REF('web-cert')] }),
      BACKEND,
    ]);

  test('a new listener whose secret has not arrived is not served, and says what it waits for', () => {
    const config = build(waiting());
    assert.deepEqual(config.listeners, []);
    assert.deepEqual(config.warming, { listeners: { web: ['web-cert'] }, clusters: {} });
    // The secret arrives: the listener is served.
    const ready = build(
      { ...waiting(), secrets: resourcesOf([certSecret('web-cert')]).secrets },
      config,
    );
    assert.deepEqual(
      ready.listeners.map((l) => l.name),
      ['web'],
    );
    assert.equal(ready.warming, undefined);
  });

  test('an updated listener waiting for a new secret keeps serving its previous version', () => {
    const first = build(
      resourcesOf([
        tlsListener('web', { tls_certificate_sds_secret_configs: [ADS_REF('v1')] }),
        BACKEND,
        certSecret('v1'),
      ]),
    );
    const updated = build(
      resourcesOf([
        tlsListener('web', { tls_certificate_sds_secret_configs: [ADS_REF('v2')] }),
        BACKEND,
        certSecret('v1'),
      ]),
      first,
    );
    assert.deepEqual(updated.listeners, first.listeners);
    assert.deepEqual(updated.warming?.listeners, { web: ['v2'] });
  });

  test('a new cluster whose client certificate has not arrived is left out until it does', () => {
    const cluster: JsonObject = {
      ...BACKEND,
      name: 'mtls',
      load_assignment: { ...(BACKEND.load_assignment as JsonObject), cluster_name: 'mtls' },
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': `${TLS}UpstreamTlsContext`,
          common_tls_context: { tls_certificate_sds_secret_configs: [ADS_REF('client')] },
        },
      },
    };
    const config = build(resourcesOf([cluster, BACKEND]));
    assert.deepEqual(Object.keys(config.clusters), ['backend']);
    assert.deepEqual(config.warming?.clusters, { mtls: ['client'] });
    const ready = build(resourcesOf([cluster, BACKEND, certSecret('client')]), config);
    assert.equal(ready.clusters.mtls?.tls?.certificate?.secretName, 'client');
  });

  test('the names subscribed to are the SdsSecretConfigs with an sds_config', () => {
    const docs = resourcesOf([
      tlsListener('web', {
        tls_certificate_sds_secret_configs: [ADS_REF('b'), { name: 'static-only' }],
        combined_validation_context: {
          default_validation_context: {},
          validation_context_sds_secret_config: ADS_REF('a'),
        },
      }),
    ]);
    assert.deepEqual(sdsSecretNames(docs.listeners), ['a', 'b']);
  });
});

describe('SDS: validation contexts', () => {
  const mtls = (validation: JsonObject): JsonObject =>
    tlsListener(
      'web',
      {
        tls_certificates: [
          {
            certificate_chain: { inline_string: TEST_CERT },
            private_key: { inline_string: TEST_KEY },
          },
        ],
        ...validation,
      },
      { require_client_certificate: true },
    );

  test('validation_context_sds_secret_config supplies trusted_ca', () => {
    const config = build(
      resourcesOf([
        mtls({ validation_context_sds_secret_config: ADS_REF('ca') }),
        BACKEND,
        caSecret('ca', { trusted_ca: { inline_string: other.cert } }),
      ]),
    );
    assert.equal(config.listeners[0]!.filterChains[0]!.tls!.trustedCaPem, other.cert);
  });

  test('a secret with upstream-only checks is refused where a listener uses it, not silently narrowed', () => {
    const sanSecret = caSecret('ca', {
      trusted_ca: { inline_string: other.cert },
      match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'client.example' } }],
    });
    const errors = errorsOf(
      resourcesOf([
        mtls({ validation_context_sds_secret_config: ADS_REF('ca') }),
        BACKEND,
        sanSecret,
      ]),
    );
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(
      errors[0]!,
      /^Listener "web": .*validation_context_sds_secret_config: Secret "ca" cannot be used here: .*match_typed_subject_alt_names: client certificate SAN matching is not supported/,
    );
  });

  test('require_client_certificate needs a trusted_ca once the secret is there, not before', () => {
    const ref = { validation_context_sds_secret_config: ADS_REF('ca') };
    assert.deepEqual(build(resourcesOf([mtls(ref), BACKEND])).warming?.listeners, {
      web: ['ca'],
    });
    const caDir = fs.mkdtempSync(path.join(dir, 'no-ca-'));
    assert.deepEqual(
      errorsOf(
        resourcesOf([mtls(ref), BACKEND, caSecret('ca', { watched_directory: { path: caDir } })]),
      ),
      [
        'Listener "web": filter_chains[0].transport_socket.typed_config.require_client_certificate: needs a trusted_ca (common_tls_context.validation_context, or one from SDS) to verify client certificates',
      ],
    );
  });

  test('combined_validation_context: what the secret sets replaces the default’s (MergeFrom)', () => {
    const combined = {
      combined_validation_context: {
        default_validation_context: { trusted_ca: { inline_string: TEST_CERT } },
        validation_context_sds_secret_config: ADS_REF('ca'),
      },
    };
    const overridden = build(
      resourcesOf([
        mtls(combined),
        BACKEND,
        caSecret('ca', { trusted_ca: { inline_string: other.cert } }),
      ]),
    );
    assert.equal(overridden.listeners[0]!.filterChains[0]!.tls!.trustedCaPem, other.cert);
    // A secret that sets no trusted_ca leaves the default's in force.
    const caDir = fs.mkdtempSync(path.join(dir, 'watch-'));
    const kept = build(
      resourcesOf([
        mtls(combined),
        BACKEND,
        caSecret('ca', { watched_directory: { path: caDir } }),
      ]),
    );
    assert.equal(kept.listeners[0]!.filterChains[0]!.tls!.trustedCaPem, TEST_CERT);
    // Until the secret arrives, the listener warms (Envoy waits for the combined context).
    assert.deepEqual(build(resourcesOf([mtls(combined), BACKEND])).warming?.listeners, {
      web: ['ca'],
    });
  });
});

describe('SDS: files the primary watches', () => {
  test('filename sources by directory and name; watched_directory as a whole directory', () => {
    const certDir = fs.mkdtempSync(path.join(dir, 'certs-'));
    const swapDir = fs.mkdtempSync(path.join(dir, 'swap-'));
    fs.writeFileSync(path.join(certDir, 'tls.crt'), TEST_CERT);
    fs.writeFileSync(path.join(certDir, 'tls.key'), TEST_KEY);
    fs.writeFileSync(path.join(swapDir, 'ca.crt'), TEST_CERT);
    const config = build(
      resourcesOf([
        tlsListener('web', {
          tls_certificate_sds_secret_configs: [ADS_REF('files')],
          validation_context_sds_secret_config: ADS_REF('ca'),
        }),
        BACKEND,
        {
          '@type': `${TLS}Secret`,
          name: 'files',
          tls_certificate: {
            certificate_chain: { filename: path.join(certDir, 'tls.crt') },
            private_key: { filename: path.join(certDir, 'tls.key') },
          },
        },
        caSecret('ca', {
          trusted_ca: { filename: path.join(swapDir, 'ca.crt') },
          watched_directory: { path: swapDir },
        }),
      ]),
    );
    assert.deepEqual(
      config.secretWatches,
      [{ directory: certDir, names: ['tls.crt', 'tls.key'] }, { directory: swapDir }].sort((a, b) =>
        a.directory.localeCompare(b.directory),
      ),
    );
    const tls = config.listeners[0]!.filterChains[0]!.tls!;
    assert.equal(tls.certificates[0]!.certificateChainPath, path.join(certDir, 'tls.crt'));
    assert.equal(tls.trustedCaPath, path.join(swapDir, 'ca.crt'));
  });
});
