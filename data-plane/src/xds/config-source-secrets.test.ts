/**
 * The config source's side of SDS, with the real translation: the secret names it subscribes
 * to, the initial fetch waiting for them, Envoy's keep-the-last-secret on removal, and rebuilding
 * from the same resources when secret files change.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildProxyConfig } from '../config/translate.js';
import { TEST_CERT, TEST_KEY } from '../config/translate-test-fixtures.js';
import type { ProxyConfig } from '../config/model.js';
import { ConfigSource, type AppliedConfig, type BuildInput } from './config-source.js';
import { CDS, LDS, SDS, type JsonObject } from './resource-set.js';
import { selfSigned } from '@ferry/shared/testing/test-pki';

const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-sds-source-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function listener(secret: string): JsonObject {
  return {
    name: 'web',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': `${TLS}DownstreamTlsContext`,
            common_tls_context: {
              tls_certificate_sds_secret_configs: [{ name: secret, sds_config: { ads: {} } }],
            },
          },
        },
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              stat_prefix: 'web',
              cluster: 'web',
            },
          },
        ],
      },
    ],
  };
}

const secret = (name: string, cert = TEST_CERT, key = TEST_KEY): JsonObject => ({
  name,
  tls_certificate: {
    certificate_chain: { inline_string: cert },
    private_key: { inline_string: key },
  },
});

function source(applied: AppliedConfig[] = [], staticSecrets: JsonObject[] = []): ConfigSource {
  return new ConfigSource({
    staticListeners: [],
    staticClusters: [],
    staticSecrets,
    build: (input: BuildInput, previous?: ProxyConfig) =>
      buildProxyConfig(input as Parameters<typeof buildProxyConfig>[0], previous),
    onConfig: (a) => applied.push(a),
  });
}

const certOf = (config: ProxyConfig | undefined): string | undefined =>
  config?.listeners[0]?.filterChains[0]?.tls?.certificates[0]?.certificateChainPem;

describe('ConfigSource: SDS', () => {
  test('subscribes to the secrets listeners refer to; the initial fetch waits for them', () => {
    const s = source();
    assert.deepEqual(s.onResponse(CDS, 'c1', []).errors, []);
    assert.deepEqual(s.onResponse(LDS, 'l1', [listener('web-cert')]).errors, []);
    assert.deepEqual(s.subscribedNames(SDS), ['web-cert']);
    assert.equal(s.initialFetchDone(), false, 'waits for the SDS answer');
    assert.deepEqual(s.applied?.config.listeners, [], 'the listener warms meanwhile');
    assert.deepEqual(s.onResponse(SDS, 's1', [secret('web-cert')]).errors, []);
    assert.equal(s.initialFetchDone(), true);
    assert.equal(certOf(s.applied?.config), TEST_CERT);
  });

  test('a secret removed while referred to stays in force with its last version, as in Envoy', () => {
    const s = source();
    s.onResponse(LDS, 'l1', [listener('web-cert')]);
    s.onResponse(SDS, 's1', [secret('web-cert')]);
    assert.deepEqual(s.onResponse(SDS, 's2', []).errors, []);
    assert.equal(certOf(s.applied?.config), TEST_CERT);
    assert.deepEqual(s.onDeltaResponse(SDS, 's3', [], ['web-cert']).errors, []);
    assert.equal(certOf(s.applied?.config), TEST_CERT);
    assert.ok(s.resources.get(SDS)?.resources.has('web-cert'));
  });

  test('reload() re-reads secret files and announces a config only when they changed', () => {
    const certPath = path.join(dir, 'tls.crt');
    const keyPath = path.join(dir, 'tls.key');
    fs.writeFileSync(certPath, TEST_CERT);
    fs.writeFileSync(keyPath, TEST_KEY);
    const applied: AppliedConfig[] = [];
    const s = source(applied);
    s.onResponse(LDS, 'l1', [listener('files')]);
    s.onResponse(SDS, 's1', [
      {
        name: 'files',
        tls_certificate: {
          certificate_chain: { filename: certPath },
          private_key: { filename: keyPath },
        },
      },
    ]);
    const before = s.applied!.config;
    assert.deepEqual(before.secretWatches, [{ directory: dir, names: ['tls.crt', 'tls.key'] }]);
    assert.equal(s.reload()?.ok, true);
    assert.equal(s.applied!.config, before, 'unchanged files: the same config');

    const next = selfSigned(dir, 'next.test');
    // Half-written rotation (new certificate, old key): the last good config stays.
    fs.writeFileSync(certPath, next.cert);
    const broken = s.reload();
    assert.equal(broken?.ok, false);
    assert.equal(certOf(s.applied?.config), TEST_CERT);
    fs.writeFileSync(keyPath, next.key);
    assert.equal(s.reload()?.ok, true);
    assert.equal(certOf(s.applied?.config), next.cert);
    assert.equal(applied.at(-1)?.config, s.applied?.config);
  });
});
