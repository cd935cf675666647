import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResourceJson, resourceTypeByKind } from '@ferry/proto';
import { proxyVersion } from '@ferry/data-plane/translator';
import type { Mutation } from '../store/store.js';
import type { PreviewableOverlay } from '../xds/snapshot-overlay-chain.js';
import {
  basicGroup,
  cluster,
  listener,
  loadAssignment,
  routeConfig,
  virtualHost,
  type Doc,
} from '../validation/test-fixtures.js';
import {
  Preflight,
  preflightKey,
  refusalDetails,
  type PreflightFleet,
  type PreflightNodeIdentity,
  type PreflightResource,
} from './preflight.js';

const RDS = resourceTypeByKind('RouteConfiguration').typeUrl;
const CDS = resourceTypeByKind('Cluster').typeUrl;
const LDS = resourceTypeByKind('Listener').typeUrl;
const VERSION = proxyVersion();

/** A route configuration ferry-proxy NACKs (runtime_fraction) that the protos accept. */
function badRoutes(name = 'main'): Doc {
  const config = routeConfig(name, [virtualHost('all', ['*'], [{ prefix: '/', cluster: 'api' }])]);
  const vhosts = config.virtual_hosts as Array<{ routes: Array<{ match: Doc }> }>;
  vhosts[0]!.routes[0]!.match.runtime_fraction = {
    default_value: { numerator: 50 },
    runtime_key: 'r',
  };
  return config;
}

function resources(docs: readonly Doc[]): PreflightResource[] {
  return docs.map((doc) => {
    const parsed = parseResourceJson(doc);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.join('\n'));
    const p = parsed.value;
    return {
      typeUrl: p.type.typeUrl,
      name: p.name,
      version: p.version,
      value: p.bytes,
      json: p.json,
    };
  });
}

function fleet(nodes: PreflightNodeIdentity[]): PreflightFleet {
  return { connectedNodes: (group) => (group === 'web' ? nodes : []) };
}

const FERRY = (id: string, version = VERSION): PreflightNodeIdentity => ({
  id,
  user_agent_name: 'ferry-proxy',
  user_agent_version: version,
});

function keys(...pairs: Array<[string, string]>): Set<string> {
  return new Set(pairs.map(([t, n]) => preflightKey(t, n)));
}

describe('Preflight', () => {
  test('a clean group: every pre-checked proxy would ACK, nothing to report', () => {
    const preflight = new Preflight({ fleet: fleet([FERRY('p1')]) });
    const report = preflight.run({
      group: 'web',
      after: resources(basicGroup()),
      changed: keys([LDS, 'http']),
      before: () => assert.fail('not needed when nothing is rejected'),
    });
    assert.equal(report.refuse, false);
    assert.equal(report.checkedResources, 5);
    assert.deepEqual(report.resources, []);
    assert.deepEqual(report.warnings, []);
    assert.deepEqual(
      report.proxies.map((p) => [p.nodeId, p.preChecked, p.wouldAck, p.note]),
      [['p1', true, true, 'pre-checked: would ACK']],
    );
  });

  test('a changed resource ferry-proxy rejects: refused, with field paths, naming only the pre-checked proxies', () => {
    const preflight = new Preflight({
      fleet: fleet([
        FERRY('p2'),
        FERRY('p1'),
        FERRY('old', '0.0.1-other'),
        { id: 'envoy', user_agent_name: 'envoy', user_agent_version: '1.31.0' },
        { id: 'grpc' },
      ]),
    });
    const group = basicGroup().filter((d) => d.name !== 'main');
    const report = preflight.run({
      group: 'web',
      after: resources([...group, badRoutes()]),
      changed: keys([RDS, 'main']),
      before: () => assert.fail('not needed: the rejected resource is changed'),
    });
    assert.equal(report.refuse, true);
    assert.equal(report.resources.length, 1);
    const [finding] = report.resources;
    assert.equal(finding!.kind, 'RouteConfiguration');
    assert.equal(finding!.name, 'main');
    assert.equal(finding!.changed, true);
    assert.equal(finding!.blocking, true);
    assert.deepEqual(finding!.rejectedBy, ['p1', 'p2']);
    assert.equal(finding!.errors.length, 1);
    assert.match(
      finding!.errors[0]!,
      /^virtual_hosts\[0\]\.routes\[0\]\.match\.runtime_fraction: not supported by ferry-proxy/,
    );
    const byId = new Map(report.proxies.map((p) => [p.nodeId, p]));
    assert.deepEqual(
      [...byId.keys()],
      ['envoy', 'grpc', 'old', 'p1', 'p2'],
      'every connected proxy is named, sorted',
    );
    assert.equal(byId.get('p1')!.preChecked, true);
    assert.equal(byId.get('p1')!.wouldAck, false);
    assert.equal(byId.get('p1')!.note, 'pre-checked: would NACK RouteConfiguration "main"');
    for (const id of ['envoy', 'grpc', 'old']) {
      assert.equal(byId.get(id)!.preChecked, false, id);
      assert.match(byId.get(id)!.note, /^not pre-checked: /, id);
    }
    assert.match(byId.get('old')!.note, /ferry-proxy 0\.0\.1-other is not the control plane's/);
    assert.equal(byId.get('envoy')!.userAgent, 'envoy/1.31.0');
    const details = refusalDetails(report);
    assert.match(details[0]!, /^RouteConfiguration "main": virtual_hosts\[0\]\.routes\[0\]/);
    assert.match(details.at(-1)!, /p1, p2 \(ferry-proxy /);
  });

  test('no pre-checked proxy connected: the findings are warnings, not a refusal', () => {
    const preflight = new Preflight({
      fleet: fleet([{ id: 'envoy', user_agent_name: 'envoy', user_agent_version: '1.31.0' }]),
    });
    const report = preflight.run({
      group: 'web',
      after: resources([...basicGroup().filter((d) => d.name !== 'main'), badRoutes()]),
      changed: keys([RDS, 'main']),
      before: () => [],
    });
    assert.equal(report.refuse, false);
    assert.equal(report.resources[0]!.errors.length, 1);
    assert.deepEqual(report.resources[0]!.rejectedBy, []);
    assert.equal(report.resources[0]!.blocking, false);
    assert.match(report.warnings[0]!, /no connected proxy of group "web" is ferry-proxy/);
  });

  test('a resource already rejected before the change is reported but does not refuse it', () => {
    const preflight = new Preflight({ fleet: fleet([FERRY('p1')]) });
    const before = [...basicGroup().filter((d) => d.name !== 'main'), badRoutes()];
    let beforeRead = 0;
    const report = preflight.run({
      group: 'web',
      after: resources([...before, cluster('extra')]),
      changed: keys([CDS, 'extra']),
      before: () => {
        beforeRead++;
        return resources(before);
      },
    });
    assert.equal(beforeRead, 1);
    assert.equal(report.refuse, false);
    assert.equal(report.resources[0]!.name, 'main');
    assert.equal(report.resources[0]!.changed, false);
    assert.equal(report.resources[0]!.blocking, false);
    assert.deepEqual(report.resources[0]!.rejectedBy, ['p1'], 'still named: they NACK it');
  });

  test('a change that breaks a resource it does not put is refused (accepted before, rejected after)', () => {
    const preflight = new Preflight({ fleet: fleet([FERRY('p1')]) });
    // Two listeners on one address: the second one in the proxy's order is rejected.
    const before = [...basicGroup()];
    const clash = listener('a-first', { port: 10000, rds: 'main' });
    const report = preflight.run({
      group: 'web',
      after: resources([clash, ...before]),
      changed: keys([LDS, 'a-first']),
      before: () => resources(before),
    });
    const rejected = report.resources.filter((r) => r.errors.length > 0);
    assert.deepEqual(
      rejected.map((r) => [r.name, r.changed, r.blocking]),
      [['http', false, true]],
    );
    assert.equal(report.refuse, true);
  });

  test('host DataSources are never read: reported as unchecked, no error', () => {
    const preflight = new Preflight({ fleet: fleet([FERRY('p1')]) });
    const missing = '/nonexistent/ferry-preflight/cert.pem';
    const tls = {
      common_tls_context: {
        tls_certificates: [
          {
            certificate_chain: { filename: missing },
            private_key: { environment_variable: 'FERRY_PREFLIGHT_UNSET_VARIABLE' },
          },
        ],
        validation_context: { trusted_ca: { filename: missing } },
      },
      require_client_certificate: true,
    };
    const group = [...basicGroup().filter((d) => d.name !== 'http')];
    const report = preflight.run({
      group: 'web',
      after: resources([...group, listener('https', { port: 10443, rds: 'main', tls })]),
      changed: keys([LDS, 'https']),
      before: () => assert.fail('nothing is rejected'),
    });
    assert.equal(report.refuse, false);
    assert.equal(report.resources.length, 1);
    const [finding] = report.resources;
    assert.deepEqual(finding!.errors, []);
    const prefix = 'filter_chains[0].transport_socket.typed_config.common_tls_context';
    assert.deepEqual(finding!.unchecked, [
      `${prefix}.tls_certificates[0].certificate_chain.filename`,
      `${prefix}.tls_certificates[0].private_key.environment_variable`,
      `${prefix}.validation_context.trusted_ca.filename`,
    ]);
    assert.match(report.warnings.join('\n'), /not read/);
  });

  test('only what ferry-proxy would receive is checked: an unreferenced route configuration is not', () => {
    const preflight = new Preflight({ fleet: fleet([FERRY('p1')]) });
    const report = preflight.run({
      group: 'web',
      after: resources([...basicGroup(), badRoutes('spare')]),
      changed: keys([RDS, 'spare']),
      before: () => [],
    });
    assert.equal(report.checkedResources, 5);
    assert.equal(report.refuse, false);
    assert.deepEqual(report.resources, []);
  });

  test('resources are checked as served: the overlay’s preview is translated', () => {
    // An overlay that serves the EDS cluster "web" with a field ferry-proxy rejects.
    const overlay: PreviewableOverlay = {
      typeUrls: new Set([CDS]),
      observe: (_m: Mutation) => [],
      // transform records what is served: a write that may be refused must not reach it.
      transform: () => assert.fail('the pre-flight uses preview, never transform'),
      preview: (group, typeUrl, r) => {
        assert.equal(group, 'web');
        assert.equal(typeUrl, CDS);
        if (r.name !== 'api') return r;
        const served = resources([
          cluster('api', { extra: { lb_policy: 'CLUSTER_PROVIDED' } }),
        ])[0]!;
        return { name: r.name, version: served.version, value: Buffer.from(served.value) };
      },
    };
    const preflight = new Preflight({ fleet: fleet([FERRY('p1')]), overlay });
    const report = preflight.run({
      group: 'web',
      after: resources([...basicGroup(), loadAssignment('other')]),
      changed: keys([CDS, 'api']),
      before: () => [],
    });
    assert.deepEqual(
      report.resources.map((r) => [r.kind, r.name]),
      [['Cluster', 'api']],
    );
    assert.match(report.resources[0]!.errors[0]!, /^lb_policy: CLUSTER_PROVIDED is not supported/);
    assert.equal(report.refuse, true);
  });
  test('a large fleet: the report names the first proxies by node id and counts them all', () => {
    const nodes = ['p5', 'p4', 'p3', 'p2', 'p1'].map((id) => FERRY(id));
    const preflight = new Preflight({
      fleet: fleet([...nodes, { id: 'e1', user_agent_name: 'envoy' }]),
      listLimit: 2,
    });
    const report = preflight.run({
      group: 'web',
      after: resources([...basicGroup().filter((d) => d.name !== 'main'), badRoutes()]),
      changed: keys([RDS, 'main']),
      before: () => [],
    });
    assert.deepEqual(
      report.proxies.map((p) => p.nodeId),
      ['e1', 'p1'],
    );
    assert.equal(report.preCheckedProxies, 5);
    assert.equal(report.otherProxies, 1);
    assert.deepEqual(report.resources[0]!.rejectedBy, ['p1', 'p2']);
    assert.match(
      report.warnings.join('\n'),
      /6 proxies of group "web" are connected \(5 pre-checked\)/,
    );
    assert.match(refusalDetails(report).at(-1)!, /: p1, p2 and 3 more \(ferry-proxy /);
  });
  test('a large fleet: the named proxies are those a sort of the whole fleet by node id puts first', () => {
    // Mixed case and digits, in an order unrelated to the ids: a collation, not code units.
    const ids = Array.from(
      { length: 500 },
      (_, i) => `${i % 3 === 0 ? 'P' : 'p'}-${(i * 7919) % 500}`,
    );
    const nodes = ids.map((id, i) => (i % 2 === 0 ? FERRY(id) : { id, user_agent_name: 'envoy' }));
    const report = new Preflight({ fleet: fleet(nodes), listLimit: 7 }).run({
      group: 'web',
      after: resources([...basicGroup().filter((d) => d.name !== 'main'), badRoutes()]),
      changed: keys([RDS, 'main']),
      before: () => [],
    });
    const sorted = [...nodes].sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(
      report.proxies.map((p) => p.nodeId),
      sorted.slice(0, 7).map((n) => n.id),
    );
    assert.deepEqual(
      report.resources[0]!.rejectedBy,
      sorted
        .filter((n) => n.user_agent_name === 'ferry-proxy')
        .slice(0, 7)
        .map((n) => n.id),
    );
    assert.equal(report.preCheckedProxies, 250);
    assert.equal(report.otherProxies, 250);
  });
});
