/**
 * The example configs the README points to stay valid: examples/demo.yaml, then
 * examples/tracing.yaml, are applied with ferryctl to a real control plane, and a real
 * ferry-proxy ACKs every resource type (no NACK).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  ROOT,
  eventually,
  ferryctl,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  stopAll,
} from './harness.js';

after(stopAll);

test('examples/demo.yaml + examples/tracing.yaml apply and a proxy ACKs them', async () => {
  const cp = await startControlPlane();
  // As the README and docs/tracing.md say: the demo, then tracing on top as its own apply.
  for (const file of ['demo.yaml', 'tracing.yaml']) {
    const applied = await ferryctl(cp.apiUrl, ['apply', '-f', path.join(ROOT, 'examples', file)]);
    assert.equal(applied.code, 0, `${file}: ${applied.stderr}`);
  }
  // The proxy's listener ports are shifted so the test never collides with a running demo.
  await startProxy({
    bootstrap: proxyBootstrap({ nodeId: 'examples', xdsAddress: cp.xdsAddress }),
    args: ['--listener-port-offset', '31000'],
  });
  const node = await eventually(async () => {
    const status = await ferryctl(cp.apiUrl, ['status', '-o', 'json']);
    const body = JSON.parse(status.stdout) as {
      nodes: {
        node_id: string;
        types: {
          type_url: string;
          version_sent: string;
          version_acked: string;
          last_nack?: unknown;
        }[];
      }[];
    };
    const found = body.nodes.find((n) => n.node_id === 'examples');
    const acked =
      found !== undefined &&
      found.types.length >= 4 &&
      found.types.every((t) => t.version_sent !== '' && t.version_sent === t.version_acked);
    return acked ? found : undefined;
  }, 'the proxy ACKs LDS, RDS, CDS and EDS of the examples');
  assert.deepEqual(
    node.types.filter((t) => t.last_nack !== undefined),
    [],
  );
});
