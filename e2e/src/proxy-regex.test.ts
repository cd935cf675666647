/**
 * Config regexes run in linear time, end to end: control plane ← ferryctl apply → ADS →
 * ferry-proxy (two workers) → a backend. A route's safe_regex `/(a+)+$` takes time exponential
 * in the path on a backtracking engine (2^38 steps for the crafted 40-character path below, far
 * beyond the test's timeout); on the linear engine the proxy answers at once and keeps serving.
 * A pattern RE2 rejects is refused by the control plane with its field path.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  edsClusterResource,
  endpointsResource,
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  type Backend,
  type ControlPlane,
  type Json,
} from './harness.js';

function resources(port: number, backendPort: number, regex: string): Json[] {
  return [
    listenerResource('regex-listener', port, [{ filters: [hcmFilter({ rds: 'regex-routes' })] }]),
    routeConfigResource('regex-routes', [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          {
            match: { safe_regex: { regex } },
            direct_response: { status: 200, body: { inline_string: 'regex route' } },
          },
          { match: { prefix: '/' }, route: { cluster: 'backend' } },
        ],
      },
    ]),
    edsClusterResource('backend'),
    endpointsResource('backend', [backendPort]),
  ];
}

const asYaml = (docs: Json[]): string => docs.map((d) => JSON.stringify(d)).join('\n---\n');

describe('linear-time config regexes', () => {
  let cp: ControlPlane;
  let backend: Backend;
  let port: number;

  before(async () => {
    cp = await startControlPlane();
    backend = await startBackend('web');
    port = await freePort();
    const applied = await ferryctl(
      cp.apiUrl,
      ['apply', '-f', '-'],
      asYaml(resources(port, backend.port, '/(a+)+$')),
    );
    assert.equal(applied.code, 0, applied.stderr);
    await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'regex-e2e', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    await eventually(
      async () =>
        (await httpRequest(`http://127.0.0.1:${port}/ready`)).status === 200 ? true : undefined,
      'the proxy to serve the routes',
    );
  });

  after(async () => {
    await stopAll();
    await backend?.close();
  });

  test('a crafted path on /(a+)+$ is answered, and the proxy keeps serving', async () => {
    const crafted = '/' + 'a'.repeat(38) + '!';
    assert.equal(crafted.length, 40);
    // Several at once, so that every worker gets some.
    const results = await Promise.all(
      Array.from({ length: 4 }, () => httpRequest(`http://127.0.0.1:${port}${crafted}`)),
    );
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.body, `web ${crafted}`, 'no full match: the prefix route serves it');
    }
    const matched = await httpRequest(`http://127.0.0.1:${port}/${'a'.repeat(39)}`);
    assert.equal(matched.body, 'regex route');
    const after = await httpRequest(`http://127.0.0.1:${port}/still-serving`);
    assert.equal(after.status, 200);
    assert.equal(after.body, 'web /still-serving');
  });

  test('a pattern RE2 rejects is refused with its field path and reason', async () => {
    const applied = await ferryctl(
      cp.apiUrl,
      ['apply', '-f', '-'],
      asYaml(resources(port, backend.port, '/(?!admin).*')),
    );
    assert.notEqual(applied.code, 0);
    assert.match(
      applied.stderr + applied.stdout,
      /virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: .*lookahead is not supported/,
    );
    // The applied routes stay.
    const r = await httpRequest(`http://127.0.0.1:${port}/${'a'.repeat(10)}`);
    assert.equal(r.body, 'regex route');
  });
});
