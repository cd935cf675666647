import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createLogger } from '@ferry/shared';
import type { ClusterModel } from '../config/model.js';
import type { AdminControls, AdminSources, ServerState } from './admin-sources.js';
import { AdminServer } from './admin-server.js';
import { clusterStatuses, renderClustersJson, renderClustersText } from './clusters.js';
import { Certificates } from './certs.js';
import { ConfigDump } from './config-dump.js';
import { PrimaryStats } from './primary-stats.js';
import { LDS, SDS, replaceType } from '../xds/resource-set.js';

const tlsCertificate = (key: Record<string, string>): Record<string, unknown> => ({
  certificate_chain: { inline_string: 'chain' },
  private_key: key,
});

const cluster = {
  name: 'web',
  circuitBreakers: {
    maxConnections: 1024,
    maxPendingRequests: 1024,
    maxRequests: 1024,
    maxRetries: 3,
  },
  localities: [
    {
      locality: { region: 'r', zone: 'z', subZone: '' },
      priority: 0,
      weight: 1,
      endpoints: [
        { host: '127.0.0.1', port: 8080, weight: 2, healthStatus: 'UNHEALTHY', hostname: 'h' },
      ],
    },
  ],
} as unknown as ClusterModel;

class FakeControls implements AdminControls {
  failing = false;
  drained = 0;
  reopened = 0;
  quits = 0;
  level = 'info';
  setHealthcheckFailing(failing: boolean): void {
    this.failing = failing;
  }
  drainListeners(): void {
    this.drained += 1;
  }
  reopenLogs(): void {
    this.reopened += 1;
  }
  quit(): void {
    this.quits += 1;
  }
  logLevel(): string {
    return this.level;
  }
  setLogLevel(level: string): void {
    this.level = level;
  }
}

const backend = new FakeControls();
const state = (): ServerState => (backend.failing ? 'DRAINING' : 'LIVE');
const sources: AdminSources = {
  serverInfo: { state, info: () => ({ state: state() }) },
  configDump: new ConfigDump({
    staticListeners: [],
    staticClusters: [{ name: 'xds' }],
    staticSecrets: [{ name: 'boot', tls_certificate: tlsCertificate({ filename: '/etc/k.pem' }) }],
    resources: () =>
      replaceType(
        replaceType(new Map(), LDS, 'v1', [{ name: 'http' }], 't1'),
        SDS,
        's1',
        [{ name: 'web', tls_certificate: tlsCertificate({ inline_bytes: 'c2VjcmV0' }) }],
        't2',
      ),
    subscribedSecrets: () => ['web', 'later'],
    bootTime: 't0',
  }),
  certs: new Certificates(() => undefined),
  clusters: { rows: () => [{ cluster, addedViaApi: true }] },
  stats: new PrimaryStats(
    () =>
      Promise.resolve({
        counters: [{ name: 'a_total', labels: {}, value: 2 }],
        gauges: [],
        histograms: [],
      }),
    [{ gauges: () => [{ name: 'b', labels: { cluster: 'web' }, value: 5 }] }],
  ),
};
const server = new AdminServer(sources, backend, createLogger('test', 'silent'));
let base = '';

before(async () => {
  const address = await server.listen('127.0.0.1', 0);
  base = `http://127.0.0.1:${address.port}`;
});
after(() => server.close());

function request(
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('/ready follows the state and /healthcheck/fail|ok (POST only)', async () => {
  assert.deepEqual(await request('/ready').then((r) => [r.status, r.body]), [200, 'LIVE\n']);
  assert.equal((await request('/healthcheck/fail')).status, 405);
  assert.equal(backend.failing, false);
  assert.equal((await request('/healthcheck/fail', 'POST')).status, 200);
  assert.deepEqual(await request('/ready').then((r) => [r.status, r.body]), [503, 'DRAINING\n']);
  await request('/healthcheck/ok', 'POST');
  assert.equal((await request('/ready')).status, 200);
});

test('/config_dump has Envoy’s shape', async () => {
  const dump = JSON.parse((await request('/config_dump')).body) as {
    configs: Array<{
      '@type': string;
      static_clusters?: Array<{ cluster: unknown }>;
      dynamic_listeners?: unknown[];
    }>;
  };
  const types = dump.configs.map((c) => String(c['@type']).split('.').pop());
  assert.deepEqual(types, [
    'ClustersConfigDump',
    'EndpointsConfigDump',
    'ListenersConfigDump',
    'RoutesConfigDump',
    'SecretsConfigDump',
  ]);
  assert.deepEqual(dump.configs[0]?.static_clusters?.[0]?.cluster, {
    '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    name: 'xds',
  });
  assert.deepEqual(dump.configs[2]?.dynamic_listeners?.[0], {
    name: 'http',
    active_state: {
      version_info: 'v1',
      listener: { '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', name: 'http' },
      last_updated: 't1',
    },
  });
});

test('/config_dump redacts private keys as Envoy does, static and dynamic secrets alike', async () => {
  const body = (await request('/config_dump')).body;
  assert.ok(!body.includes('c2VjcmV0') && !body.includes('/etc/k.pem'), body);
  const dump = JSON.parse(body) as { configs: Array<Record<string, unknown>> };
  assert.deepEqual(dump.configs[4], {
    '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
    static_secrets: [
      {
        name: 'boot',
        last_updated: 't0',
        secret: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: 'boot',
          tls_certificate: tlsCertificate({ filename: '[redacted]' }),
        },
      },
    ],
    dynamic_active_secrets: [
      {
        name: 'web',
        version_info: 's1',
        last_updated: 't2',
        secret: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: 'web',
          // The bytes of "[redacted]", as Envoy writes a redacted bytes field.
          tls_certificate: tlsCertificate({
            inline_bytes: Buffer.from('[redacted]').toString('base64'),
          }),
        },
      },
    ],
    dynamic_warming_secrets: [{ name: 'later' }],
  });
});

test('/certs answers Envoy’s shape', async () => {
  assert.deepEqual(JSON.parse((await request('/certs')).body), { certificates: [] });
});

test('/clusters text and json', async () => {
  const text = (await request('/clusters')).body;
  assert.ok(
    text.includes('web::127.0.0.1:8080::health_flags::/eds_health_status_unhealthy\n'),
    text,
  );
  assert.ok(text.includes('web::127.0.0.1:8080::weight::2\n'));
  assert.ok(text.includes('web::added_via_api::true\n'));
  const json = JSON.parse((await request('/clusters?format=json')).body) as {
    cluster_statuses: Array<{ host_statuses: Array<{ health_status: Record<string, unknown> }> }>;
  };
  assert.equal(
    json.cluster_statuses[0]?.host_statuses[0]?.health_status.eds_health_status,
    'UNHEALTHY',
  );
});

test('/clusters shows outlier ejections', () => {
  const healthy = {
    ...cluster,
    localities: cluster.localities.map((l) => ({
      ...l,
      endpoints: l.endpoints.map((e) => ({ ...e, healthStatus: 'HEALTHY' })),
    })),
  } as ClusterModel;
  const config = { clusters: { web: healthy } } as unknown as Parameters<typeof clusterStatuses>[0];
  const rows = clusterStatuses(
    config,
    new Set(),
    new Map([
      ['web', new Map([['127.0.0.1:8080', { status: 'UNHEALTHY' as const, pending: false }]])],
    ]),
    new Map([['web', new Set(['127.0.0.1:8080'])]]),
  );
  const text = renderClustersText(rows);
  assert.ok(
    text.includes('web::127.0.0.1:8080::health_flags::/failed_active_hc/failed_outlier_check\n'),
    text,
  );
  const json = renderClustersJson(rows) as {
    cluster_statuses: { host_statuses: { health_status: Record<string, unknown> }[] }[];
  };
  assert.deepEqual(json.cluster_statuses[0]?.host_statuses[0]?.health_status, {
    eds_health_status: 'HEALTHY',
    failed_active_health_check: true,
    failed_outlier_check: true,
  });
  const none = clusterStatuses(config, new Set(), undefined, new Map());
  assert.ok(renderClustersText(none).includes('web::127.0.0.1:8080::health_flags::healthy\n'));
});

test('/stats/prometheus, /logging, /drain_listeners, /reopen_logs, /quitquitquit, unknown paths', async () => {
  const prom = await request('/stats/prometheus');
  assert.match(prom.type, /version=0\.0\.4/);
  assert.match(prom.body, /^ferry_a_total 2$/m);
  assert.match(prom.body, /^ferry_b\{cluster="web"\} 5$/m);
  assert.equal((await request('/logging?level=debug')).status, 405);
  assert.equal((await request('/logging?level=loud', 'POST')).status, 400);
  assert.match((await request('/logging?level=warning', 'POST')).body, /ferry-proxy: warn/);
  assert.equal(backend.level, 'warn');
  assert.equal((await request('/drain_listeners', 'POST')).status, 200);
  assert.equal(backend.drained, 1);
  assert.equal((await request('/reopen_logs')).status, 405);
  assert.equal((await request('/reopen_logs', 'POST')).status, 200);
  assert.equal(backend.reopened, 1);
  assert.equal((await request('/quitquitquit', 'POST')).status, 200);
  assert.equal(backend.quits, 1);
  assert.equal((await request('/nope')).status, 404);
});
