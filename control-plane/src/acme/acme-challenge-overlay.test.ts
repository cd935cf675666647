/**
 * HTTP-01 through the fleet, below the network: the challenge route derived into served
 * RouteConfigurations (virtual host selection in Envoy's order, a dedicated virtual host when none
 * matches, removal), the stored resources untouched, and the readiness rule the order waits on
 * (every connected proxy of the group ACKed a version carrying the tokens).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryToJson, combinedVersion, parseResourceJson } from '@ferry/proto';
import { MemoryStore } from '../store/store-memory.js';
import type { Mutation } from '../store/store.js';
import { FleetTracker } from '../xds/fleet.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { SnapshotOverlayChain } from '../xds/snapshot-overlay-chain.js';
import { listener, routeConfig, virtualHost } from '../validation/test-fixtures.js';
import {
  AcmeChallengeOverlay,
  CHALLENGE_PATH_PREFIX,
  LDS_TYPE,
  RDS_TYPE,
  selectVirtualHost,
} from './acme-challenge-overlay.js';
import { challengeReadiness } from './acme-fleet-wait.js';
import { challengeMutation } from './acme-records.js';

type Json = Record<string, unknown>;

function put(doc: Json, group = 'edge'): Mutation {
  const parsed = parseResourceJson(doc);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.join('; '));
  const { type, name, bytes, version } = parsed.value;
  return { op: 'put', typeUrl: type.typeUrl, group, name, value: bytes, version };
}

const challenge = (token: string, domain: string): Mutation =>
  challengeMutation('edge', {
    token,
    keyAuthorization: `${token}.thumbprint`,
    domain,
    certificate: 'edge/web',
  });

const ROUTES = routeConfig('main', [
  virtualHost('exact', ['web.example.com'], [{ prefix: '/', cluster: 'web' }]),
  virtualHost('suffix', ['*.example.com'], [{ prefix: '/', cluster: 'web' }]),
  virtualHost('any', ['*'], [{ prefix: '/', cluster: 'web' }]),
]);

function served(cache: SnapshotCache, name = 'main'): Json {
  const r = cache.snapshot('edge', RDS_TYPE).resources.get(name);
  assert.ok(r, `route configuration ${name} served`);
  return binaryToJson('envoy.config.route.v3.RouteConfiguration', r.resource.value) as Json;
}

function firstRoutes(rc: Json): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const vh of rc.virtual_hosts as Json[]) out[vh.name as string] = (vh.routes as Json[])[0]!;
  return out;
}

void describe('AcmeChallengeOverlay', () => {
  void test('virtual host selection follows Envoy: exact, longest suffix, longest prefix, *', () => {
    const vhosts = [
      { domains: ['*'] },
      { domains: ['*.example.com'] },
      { domains: ['*.web.example.com'] },
      { domains: ['web.*'] },
      { domains: ['web.example.com', 'WWW.example.com'] },
    ];
    const cases: Array<[string, number | undefined]> = [
      ['web.example.com', 4],
      ['www.example.com', 4],
      ['a.web.example.com', 2],
      ['api.example.com', 1],
      ['web.other.org', 3],
      ['other.org', 0],
    ];
    for (const [host, want] of cases) assert.equal(selectVirtualHost(vhosts, host), want, host);
    assert.equal(selectVirtualHost([{ domains: ['*.example.com'] }], 'other.org'), undefined);
    assert.equal(selectVirtualHost([{ domains: ['*.example.com'] }], '.example.com'), undefined);
  });

  void test('serves the challenge first in the selected virtual host, without writing the stored route', async () => {
    const store = new MemoryStore();
    const overlay = new AcmeChallengeOverlay();
    const cache = new SnapshotCache({
      store,
      debounceMs: 0,
      overlay: new SnapshotOverlayChain([overlay]),
    });
    await store.apply([put(ROUTES)]);
    await cache.start();
    const before = cache.snapshot('edge', RDS_TYPE).version;

    await store.apply([
      challenge('tok-a', 'web.example.com'),
      challenge('tok-b', 'api.example.com'),
    ]);
    const first = firstRoutes(served(cache));
    assert.deepEqual(first.exact, {
      name: 'ferry-acme-http-01',
      match: { path: `${CHALLENGE_PATH_PREFIX}tok-a` },
      direct_response: { status: 200, body: { inline_string: 'tok-a.thumbprint' } },
    });
    assert.equal((first.suffix!.match as Json).path, `${CHALLENGE_PATH_PREFIX}tok-b`);
    assert.deepEqual(first.any!.match, { prefix: '/' }, 'the catch-all host is not selected');
    const stored = (await store.list({ typeUrl: RDS_TYPE })).resources[0]!;
    assert.doesNotMatch(
      JSON.stringify(binaryToJson('envoy.config.route.v3.RouteConfiguration', stored.value)),
      /acme/,
    );
    const version = cache.snapshot('edge', RDS_TYPE).version;
    assert.notEqual(version, before);
    const r = cache.snapshot('edge', RDS_TYPE).resources.get('main')!;
    assert.equal(overlay.carries('edge', RDS_TYPE, 'main', r.version, ['tok-a', 'tok-b']), true);
    assert.equal(overlay.carries('edge', RDS_TYPE, 'main', r.version, ['tok-c']), false);
    // The challenge record itself is never served.
    assert.deepEqual(
      cache.snapshot('edge', 'type.googleapis.com/ferry.v1.AcmeChallenge').resources.size,
      0,
    );

    await store.apply([
      { op: 'delete', typeUrl: challenge('tok-a', '').typeUrl, group: 'edge', name: 'tok-a' },
      { op: 'delete', typeUrl: challenge('tok-b', '').typeUrl, group: 'edge', name: 'tok-b' },
    ]);
    assert.equal(
      cache.snapshot('edge', RDS_TYPE).version,
      before,
      'removing them restores the stored form',
    );
    cache.close();
  });

  void test('a route configuration with no matching virtual host gets a dedicated one', async () => {
    const store = new MemoryStore();
    const overlay = new AcmeChallengeOverlay();
    const cache = new SnapshotCache({ store, debounceMs: 0, overlay });
    await store.apply([
      put(
        routeConfig('main', [
          virtualHost('web', ['web.example.com'], [{ prefix: '/', cluster: 'web' }]),
        ]),
      ),
      challenge('tok', 'other.example.org'),
    ]);
    await cache.start();
    const vhosts = served(cache).virtual_hosts as Json[];
    assert.equal(vhosts.length, 2);
    assert.deepEqual(vhosts[1], {
      name: 'ferry-acme-http-01-other.example.org',
      domains: ['other.example.org'],
      routes: [
        {
          name: 'ferry-acme-http-01',
          match: { path: `${CHALLENGE_PATH_PREFIX}tok` },
          direct_response: { status: 200, body: { inline_string: 'tok.thumbprint' } },
        },
      ],
    });
    // Challenges of another group change nothing here.
    await store.apply([
      challengeMutation('other', {
        token: 'x',
        keyAuthorization: 'x.y',
        domain: 'web.example.com',
        certificate: 'other/web',
      }),
    ]);
    assert.equal((served(cache).virtual_hosts as Json[]).length, 2);
    cache.close();
  });

  void test('readiness waits for every connected proxy of the group to ACK a version carrying the tokens', async () => {
    const store = new MemoryStore();
    const overlay = new AcmeChallengeOverlay();
    const cache = new SnapshotCache({ store, debounceMs: 0, overlay });
    const fleet = new FleetTracker();
    const ready = (): string => {
      const r = challengeReadiness(cache, overlay, fleet.views(), 'edge', ['tok']);
      return r.ready ? 'ready' : r.waitingFor;
    };
    await cache.start();
    assert.match(ready(), /has no route configuration \(RDS, or inline in a listener\)/);
    await store.apply([put(ROUTES)]);
    assert.match(ready(), /challenge routes to be published/);
    await store.apply([challenge('tok', 'web.example.com')]);
    assert.match(ready(), /a proxy of group "edge" to connect/);

    const snapshot = cache.snapshot('edge', RDS_TYPE);
    const wildcard = { wildcard: true, names: new Set<string>() };
    const named = { wildcard: false, names: new Set(['main']) };
    const a = fleet.connect({ id: 'a', cluster: 'edge' }, 'ads-sotw', 'p1');
    const b = fleet.connect({ id: 'b', cluster: 'edge' }, 'ads-sotw', 'p2');
    fleet.connect({ id: 'c', cluster: 'other' }, 'ads-sotw', 'p3');
    assert.equal(ready(), 'proxies of group "edge" to ACK the challenge routes: a, b');
    a.sent(RDS_TYPE, snapshot.version, 1, wildcard);
    a.acked(RDS_TYPE, snapshot.version);
    assert.equal(ready(), 'proxies of group "edge" to ACK the challenge routes: b');
    // b names its route configuration (SotW): the version of that selection counts.
    const selection = combinedVersion([['main', snapshot.resources.get('main')!.version]]);
    b.sent(RDS_TYPE, selection, 1, named);
    assert.notEqual(ready(), 'ready', 'sent is not ACKed');
    b.acked(RDS_TYPE, selection);
    assert.equal(ready(), 'ready');
    // A proxy still on the version from before the challenge holds it back.
    const late = fleet.connect({ id: 'late', cluster: 'edge' }, 'ads-sotw', 'p4');
    late.acked(RDS_TYPE, 'version-before');
    assert.equal(ready(), 'proxies of group "edge" to ACK the challenge routes: late');
    late.disconnect();
    assert.equal(ready(), 'ready');
    cache.close();
  });

  void test('listeners with an inline route configuration carry the challenge too, and are waited for', async () => {
    const store = new MemoryStore();
    const overlay = new AcmeChallengeOverlay();
    const cache = new SnapshotCache({ store, debounceMs: 0, overlay });
    const fleet = new FleetTracker();
    const ready = (): string => {
      const r = challengeReadiness(cache, overlay, fleet.views(), 'edge', ['tok']);
      return r.ready ? 'ready' : r.waitingFor;
    };
    await store.apply([
      put(listener('inline', { port: 8080, inline: ROUTES })),
      put(listener('other', { port: 8081, tcpCluster: 'web' })),
      challenge('tok', 'web.example.com'),
    ]);
    await cache.start();
    const served = cache.snapshot('edge', LDS_TYPE).resources.get('inline')!;
    const json = binaryToJson('envoy.config.listener.v3.Listener', served.resource.value) as Json;
    const hcm = ((json.filter_chains as Json[])[0]!.filters as Json[])[0]!.typed_config as Json;
    const first = firstRoutes(hcm.route_config as Json);
    assert.equal((first.exact!.match as Json).path, `${CHALLENGE_PATH_PREFIX}tok`);
    const other = cache.snapshot('edge', LDS_TYPE).resources.get('other')!;
    const stored = (await store.list({ typeUrl: LDS_TYPE, name: 'other' })).resources[0]!;
    assert.equal(
      other.version,
      stored.version,
      'a listener without inline routes is served as stored',
    );

    const node = fleet.connect({ id: 'a', cluster: 'edge' }, 'ads-sotw', 'p1');
    assert.equal(ready(), 'proxies of group "edge" to ACK the challenge routes: a');
    const lds = cache.snapshot('edge', LDS_TYPE).version;
    node.sent(LDS_TYPE, lds, 2, { wildcard: true, names: new Set() });
    node.acked(LDS_TYPE, lds);
    assert.equal(ready(), 'ready', 'no RDS in the group: the LDS ACK is what counts');
    cache.close();
  });
  void test('preview serves what transform would, and records nothing that carries() reads', () => {
    const overlay = new AcmeChallengeOverlay();
    overlay.observe(challenge('tok-a', 'web.example.com'));
    const stored = put(ROUTES) as Mutation & { value: Uint8Array; version: string };
    const resource = { name: 'main', version: stored.version, value: Buffer.from(stored.value) };
    const servedNow = overlay.transform('edge', RDS_TYPE, resource);
    assert.equal(overlay.carries('edge', RDS_TYPE, 'main', servedNow.version, ['tok-a']), true);

    // A candidate (a write being pre-checked, which may be refused): same rendering, no record.
    const changed = put(
      routeConfig('main', [
        virtualHost('exact', ['web.example.com'], [{ prefix: '/x', cluster: 'web' }]),
      ]),
    ) as Mutation & { value: Uint8Array; version: string };
    const candidate = { name: 'main', version: changed.version, value: Buffer.from(changed.value) };
    const previewed = overlay.preview('edge', RDS_TYPE, candidate);
    assert.notEqual(previewed.version, servedNow.version);
    const first = firstRoutes(
      binaryToJson('envoy.config.route.v3.RouteConfiguration', previewed.value) as Json,
    );
    assert.equal((first.exact!.match as Json).path, `${CHALLENGE_PATH_PREFIX}tok-a`);
    assert.equal(overlay.carries('edge', RDS_TYPE, 'main', servedNow.version, ['tok-a']), true);
    assert.equal(overlay.carries('edge', RDS_TYPE, 'main', previewed.version, ['tok-a']), false);
    assert.deepEqual(overlay.transform('edge', RDS_TYPE, candidate), previewed);
  });
});
