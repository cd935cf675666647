/**
 * Per-resource acceptance end to end (docs/architecture.md, "Per-resource acceptance"): a real
 * control plane configured with ferryctl, a real ferry-proxy and two real backends. Two listeners
 * route to backend alpha; then one apply moves both to beta, but makes listener "api" one that
 * ferry-proxy cannot run (use_original_dst, a valid Envoy field it NACKs as unsupported). The
 * proxy applies "web" (requests reach beta), keeps "api" on its previous version (requests still
 * reach alpha), NACKs naming "api", and `ferryctl status NODE` shows per resource which one is
 * NACKED and which version each runs. Once over state-of-the-world ADS, once over delta.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  eventually,
  ferryctl,
  httpListener,
  httpRequest,
  staticClusterResource,
  type Json,
} from './harness.js';
import { useFleet } from './fixtures.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

interface ResourceStatusJson {
  name: string;
  state: string;
  version_running: string;
  version_sent: string;
  nack?: { version: string; error: string };
}
interface StatusJson {
  nodes: {
    node_id: string;
    streams: string[];
    types: {
      type_url: string;
      version_sent: string;
      version_acked: string;
      version_applied?: string;
      resource_statuses?: ResourceStatusJson[];
    }[];
  }[];
}

/** The backend that answered GET / on 127.0.0.1:port, or undefined if the request failed. */
async function backendOf(port: number): Promise<string | undefined> {
  try {
    const res = await httpRequest(`http://127.0.0.1:${port}/`);
    return res.status === 200 ? String(res.headers['x-backend']) : undefined;
  } catch {
    return undefined;
  }
}

for (const apiType of ['GRPC', 'DELTA_GRPC'] as const)
  describe(`ferry-proxy: per-resource acceptance through the control plane (${apiType})`, () => {
    const NODE = `per-resource-${apiType.toLowerCase()}`;
    const fleet = useFleet({
      backends: ['alpha', 'beta'],
      ports: 2,
      proxies: [NODE],
      proxy: { apiType },
      listeners: ['web', 'api'],
      config: (f) => [
        staticClusterResource('alpha', [f.backend('alpha').port]),
        staticClusterResource('beta', [f.backend('beta').port]),
        httpListener('web', f.port, { cluster: 'alpha' }),
        httpListener('api', f.port + 1, { cluster: 'alpha' }),
      ],
    });
    const webPort = (): number => fleet.port;
    const apiPort = (): number => fleet.port + 1;

    const ldsStatus = async (): Promise<StatusJson['nodes'][number]['types'][number]> => {
      const r = await ferryctl(fleet.cp.apiUrl, ['status', NODE, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const status = JSON.parse(r.stdout) as StatusJson;
      assert.deepEqual(status.nodes[0]?.streams, [apiType === 'GRPC' ? 'ads-sotw' : 'ads-delta']);
      const lds = status.nodes[0]?.types.find((t) => t.type_url === LDS);
      assert.ok(lds, `LDS status of ${NODE}: ${r.stdout}`);
      return lds;
    };

    test('the good listener changes, the bad one keeps serving, the NACK names it', async () => {
      await eventually(
        async () =>
          (await backendOf(webPort())) === 'alpha' && (await backendOf(apiPort())) === 'alpha'
            ? true
            : undefined,
        'both listeners serving alpha',
      );
      const before = await eventually(async () => {
        const lds = await ldsStatus();
        return lds.version_acked !== '' && lds.version_acked === lds.version_sent ? lds : undefined;
      }, 'the first LDS version ACKed');
      const v1 = before.version_acked;

      // The pre-flight would refuse an apply the proxy rejects in part: --force pushes it.
      await fleet.apply(
        [
          httpListener('web', webPort(), { cluster: 'beta' }),
          httpListener(
            'api',
            apiPort(),
            { cluster: 'beta' },
            { listener: { use_original_dst: true } },
          ),
        ],
        ['--force'],
      );

      // The proxy NACKs the new version naming "api"; the control plane records it per resource.
      const lds = await eventually(async () => {
        const s = await ldsStatus();
        const api = s.resource_statuses?.find((r) => r.name === 'api');
        return s.version_sent !== v1 && api?.state === 'NACKED' ? s : undefined;
      }, 'listener "api" NACKED in ferryctl status');
      const byName = new Map((lds.resource_statuses ?? []).map((r) => [r.name, r]));
      const web = byName.get('web');
      const api = byName.get('api');
      assert.equal(web?.state, 'ACKED');
      assert.equal(web?.version_running, lds.version_sent, 'web runs the new version');
      assert.equal(api?.version_running, v1, 'api runs the version it had');
      assert.equal(api?.nack?.version, lds.version_sent);
      assert.match(api?.nack?.error ?? '', /Listener "api": use_original_dst: not supported/);
      assert.doesNotMatch(api?.nack?.error ?? '', /"web"/);
      assert.equal(lds.version_acked, v1, 'the new version was not ACKed as a whole');
      assert.equal(lds.version_applied, lds.version_sent);

      // Requests show it: web reaches beta, api still reaches alpha.
      await eventually(
        async () => ((await backendOf(webPort())) === 'beta' ? true : undefined),
        'web serving beta',
      );
      for (let i = 0; i < 3; i++) assert.equal(await backendOf(apiPort()), 'alpha');

      // The table form names the state and the versions of each resource.
      const table = await ferryctl(fleet.cp.apiUrl, ['status', NODE]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^LDS\s+api\s+NACKED\s+\S+\s+\S+\s+v=\S+: Listener "api"/m);
      assert.match(table.stdout, /^LDS\s+web\s+ACKED\s/m);
      const all = await ferryctl(fleet.cp.apiUrl, ['status']);
      assert.match(all.stdout, /resources rejected alone/);
      assert.match(all.stdout, new RegExp(`^${NODE}\\s+LDS\\s+api\\s`, 'm'));

      // The proxy's own view: the rejected listener carries error_state in /config_dump.
      const dump = JSON.parse(
        (await httpRequest(`${fleet.proxies[0]!.adminUrl}/config_dump`)).body,
      ) as {
        configs: { '@type': string; dynamic_listeners?: Json[] }[];
      };
      const listeners = dump.configs.find((c) => c['@type'].endsWith('ListenersConfigDump'));
      const dumped = new Map((listeners?.dynamic_listeners ?? []).map((l) => [l.name, l]));
      assert.match(JSON.stringify(dumped.get('api')?.error_state), /use_original_dst/);
      assert.equal(dumped.get('web')?.error_state, undefined);
    });
  });
