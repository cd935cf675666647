/**
 * The pre-flight end to end (docs/architecture.md, "Pre-flight"): a real control plane, a real
 * ferry-proxy connected to it, ferryctl. A config the control plane's own validation accepts but
 * ferry-proxy rejects (a route's runtime_fraction) is refused with its field path and the proxy's
 * name, and never reaches the proxy; --dry-run prints the report; a good apply passes and reaches
 * the proxy; --force pushes the bad one and the proxy NACKs it.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, ferryctl, httpRequest, webConfig, yamlDocs, type Proxy } from './harness.js';
import { useFleet } from './fixtures.js';

const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const NODE = 'preflight-e2e';
const RUNTIME_FRACTION = {
  runtime_fraction: { default_value: { numerator: 50 }, runtime_key: 'r' },
};

interface StatusJson {
  readonly revision: number;
  readonly nodes: readonly {
    readonly node_id: string;
    readonly connected: boolean;
    readonly types: readonly {
      readonly type_url: string;
      readonly version_sent: string;
      readonly version_acked: string;
      readonly last_nack?: { readonly error: string };
    }[];
  }[];
}

interface PreflightJson {
  readonly group: string;
  readonly refuse: boolean;
  readonly resources: readonly {
    readonly kind: string;
    readonly name: string;
    readonly errors: readonly string[];
    readonly rejected_by: readonly string[];
  }[];
  readonly proxies: readonly {
    readonly node_id: string;
    readonly pre_checked: boolean;
    readonly would_ack: boolean;
    readonly note: string;
  }[];
}

interface ServerInfoJson {
  readonly xds: { readonly last_rejection: { readonly errors: readonly string[] } | null } | null;
}

describe('pre-flight against a connected ferry-proxy', () => {
  const fleet = useFleet({
    backends: ['a', 'b'],
    proxies: [NODE],
    config: (f) => webConfig(f.port, f.backend('a').port),
  });
  const proxy = (): Proxy => fleet.proxies[0]!;

  async function status(): Promise<StatusJson> {
    const s = await ferryctl(fleet.cp.apiUrl, ['status', '-o', 'json']);
    assert.equal(s.code, 0, s.stderr);
    return JSON.parse(s.stdout) as StatusJson;
  }

  async function rdsStatus(): Promise<StatusJson['nodes'][number]['types'][number] | undefined> {
    const node = (await status()).nodes.find((n) => n.node_id === NODE && n.connected);
    return node?.types.find((t) => t.type_url === RDS);
  }

  async function rejectedUpdates(): Promise<number> {
    const prom = (await httpRequest(`${proxy().adminUrl}/stats/prometheus`)).body;
    const line = prom
      .split('\n')
      .find((l) => l.startsWith(`ferry_xds_update_rejected_total{type_url="${RDS}"}`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  before(async () => {
    // No proxy connected yet: the pre-flight had nobody to pre-check.
    assert.match(fleet.firstApply?.stdout ?? '', /no proxy of group "default" is connected/);
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${fleet.port}/ready`);
      return res.body === 'a /ready' ? true : undefined;
    }, 'the proxy to serve the first config');
    await eventually(async () => {
      const t = await rdsStatus();
      return t && t.version_acked !== '' && t.version_acked === t.version_sent ? t : undefined;
    }, 'the proxy to ACK the route configuration');
  });

  test('an apply ferry-proxy would reject is refused with the field path and the proxy, and never reaches it', async () => {
    const revision = (await status()).revision;
    const rdsBefore = await rdsStatus();
    const refused = await ferryctl(
      fleet.cp.apiUrl,
      ['apply', '-f', '-'],
      yamlDocs(webConfig(fleet.port, fleet.backend('b').port, RUNTIME_FRACTION)),
    );
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /FERRY_PREFLIGHT_REJECTED/);
    assert.match(refused.stderr, /apply to group "default" refused by pre-flight/);
    assert.match(
      refused.stderr,
      /RouteConfiguration "main": virtual_hosts\[0\]\.routes\[0\]\.match\.runtime_fraction: not supported by ferry-proxy/,
    );
    assert.match(refused.stderr, new RegExp(`would reject it: ${NODE} `));

    // Nothing was stored, so nothing is published: the store's revision and what the proxy was
    // sent are unchanged, and the proxy has counted no rejection.
    const after = await status();
    assert.equal(after.revision, revision);
    assert.deepEqual(await rdsStatus(), rdsBefore);
    assert.equal(await rejectedUpdates(), 0);
    const info = JSON.parse(
      (await httpRequest(`${proxy().adminUrl}/server_info`)).body,
    ) as ServerInfoJson;
    assert.equal(info.xds?.last_rejection ?? null, null);
    assert.equal((await httpRequest(`http://127.0.0.1:${fleet.port}/still`)).body, 'a /still');
  });

  test('--dry-run prints the report naming the proxy, and exits 1 as the apply would be refused', async () => {
    const bad = yamlDocs(webConfig(fleet.port, fleet.backend('b').port, RUNTIME_FRACTION));
    const dry = await ferryctl(fleet.cp.apiUrl, ['apply', '--dry-run', '-f', '-'], bad);
    assert.equal(dry.code, 1, dry.stdout + dry.stderr);
    assert.match(
      dry.stdout,
      /pre-flight of group "default" with ferry-proxy \S+ translator: 4 resources checked, 1 rejected \(the write is refused unless forced\)/,
    );
    assert.match(
      dry.stdout,
      new RegExp(`routeconfiguration/main: would be rejected by ${NODE}\\n`),
    );
    assert.match(
      dry.stdout,
      /\n {4}virtual_hosts\[0\]\.routes\[0\]\.match\.runtime_fraction: not supported by ferry-proxy/,
    );
    assert.match(
      dry.stdout,
      new RegExp(
        `proxy ${NODE} \\(ferry-proxy/\\S+\\): pre-checked: would NACK RouteConfiguration "main"`,
      ),
    );
    assert.match(dry.stderr, /dry run: the pre-flight would refuse this write/);

    const json = await ferryctl(
      fleet.cp.apiUrl,
      ['apply', '--dry-run', '-o', 'json', '-f', '-'],
      bad,
    );
    assert.equal(json.code, 1, json.stderr);
    const report = (JSON.parse(json.stdout) as { preflight: PreflightJson[] }).preflight[0]!;
    assert.equal(report.refuse, true);
    assert.deepEqual(
      report.resources.map((r) => [r.kind, r.name, r.rejected_by]),
      [['RouteConfiguration', 'main', [NODE]]],
    );
    assert.deepEqual(
      report.proxies.map((p) => [p.node_id, p.pre_checked, p.would_ack]),
      [[NODE, true, false]],
    );
  });

  test('a good apply passes the pre-flight and reaches the proxy', async () => {
    const good = await ferryctl(
      fleet.cp.apiUrl,
      ['apply', '-f', '-'],
      yamlDocs(webConfig(fleet.port, fleet.backend('b').port)),
    );
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /none rejected/);
    assert.match(
      good.stdout,
      new RegExp(`proxy ${NODE} \\(ferry-proxy/\\S+\\): pre-checked: would ACK`),
    );
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${fleet.port}/moved`);
      return res.body === 'b /moved' ? true : undefined;
    }, 'the proxy to route to b');
  });

  test('--force pushes what the pre-flight refuses, and the proxy NACKs it', async () => {
    assert.equal(await rejectedUpdates(), 0);
    const forced = await ferryctl(
      fleet.cp.apiUrl,
      ['apply', '--force', '-f', '-'],
      yamlDocs(webConfig(fleet.port, fleet.backend('b').port, RUNTIME_FRACTION)),
    );
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /\(the write is refused unless forced\)/);
    const nack = await eventually(async () => (await rdsStatus())?.last_nack, 'the proxy to NACK');
    assert.match(nack.error, /runtime_fraction: not supported by ferry-proxy/);
    await eventually(
      async () => ((await rejectedUpdates()) === 1 ? true : undefined),
      'the proxy to count the rejection',
    );
    // The last good config keeps serving.
    assert.equal((await httpRequest(`http://127.0.0.1:${fleet.port}/kept`)).body, 'b /kept');
  });
});
