import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  GrpcClient,
  type HealthCheckRequestOrEndpointHealthResponse,
  type HealthCheckSpecifier,
} from '@ferry/proto/grpc';
import { startHarness, waitFor, within, type Harness } from '../xds/test-support.js';
import { clusterReports, HDS_SERVICE } from './hds-server.js';

const NODE = { id: 'proxy-1', cluster: 'edge' };

/** An HDS stream whose answers are awaited in order. */
function openStream(address: string): {
  call: ClientDuplexStream<HealthCheckRequestOrEndpointHealthResponse, HealthCheckSpecifier>;
  next(): Promise<HealthCheckSpecifier>;
  ended: Promise<{ code: number }>;
  close(): void;
} {
  const client = new GrpcClient(HDS_SERVICE, address, credentials.createInsecure());
  const call = client.stream<HealthCheckRequestOrEndpointHealthResponse, HealthCheckSpecifier>(
    'StreamHealthCheck',
  );
  const queued: HealthCheckSpecifier[] = [];
  const waiters: Array<(m: HealthCheckSpecifier) => void> = [];
  call.on('data', (m: HealthCheckSpecifier) => {
    const w = waiters.shift();
    if (w) w(m);
    else queued.push(m);
  });
  const ended = new Promise<{ code: number }>((resolve) => {
    call.on('status', (s: { code: number }) => resolve(s));
    call.on('error', () => undefined);
  });
  return {
    call,
    next: () => {
      const m = queued.shift();
      return m !== undefined
        ? Promise.resolve(m)
        : within(new Promise<HealthCheckSpecifier>((r) => waiters.push(r)), 'HDS response');
    },
    // Bounded where it is awaited: a timer started here would fail tests that never await it.
    get ended() {
      return within(ended, 'end of the HDS stream', 10_000);
    },
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

function endpointHealth(address: string, port: number, health_status: string) {
  return {
    endpoint: { address: { socket_address: { address, port_value: port } } },
    health_status,
  };
}

describe('HDS server', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => {
    await harness.close();
  });

  test('answers the HealthCheckRequest with an empty specifier and an interval', async () => {
    const s = openStream(harness.address);
    s.call.write({ health_check_request: { node: NODE, capability: {} } });
    try {
      const specifier = await s.next();
      // proto-loader leaves an empty repeated field out (defaults: false).
      assert.deepEqual(specifier.cluster_health_checks ?? [], []);
      assert.equal(Number(specifier.interval?.seconds), 5);
    } finally {
      s.close();
    }
  });

  test('records reports per node and group; forgets the node when its stream ends', async () => {
    const s = openStream(harness.address);
    s.call.write({ health_check_request: { node: NODE } });
    await s.next();
    s.call.write({
      endpoint_health_response: {
        cluster_endpoints_health: [
          {
            cluster_name: 'web',
            locality_endpoints_health: [
              {
                endpoints_health: [
                  endpointHealth('10.0.0.1', 80, 'HEALTHY'),
                  endpointHealth('10.0.0.2', 80, 'UNHEALTHY'),
                ],
              },
            ],
          },
        ],
      },
    });
    // Barrier: messages are handled in order, so this answer comes after the report was recorded.
    s.call.write({ health_check_request: { node: NODE } });
    await s.next();
    const health = harness.server.health();
    assert.deepEqual(
      health
        .clusters()
        .map((c) => [c.group, c.cluster, c.endpoints.map((e) => [e.address, e.status])]),
      [
        [
          'edge',
          'web',
          [
            ['10.0.0.1:80', 'HEALTHY'],
            ['10.0.0.2:80', 'UNHEALTHY'],
          ],
        ],
      ],
    );
    assert.deepEqual(
      health.nodes().map((n) => n.nodeId),
      ['proxy-1'],
    );
    s.call.end();
    await s.ended;
    // The server sees the stream end a little after the client does.
    await waitFor(() => health.nodes().length === 0, 'the node to be forgotten');
    assert.deepEqual(health.clusters(), []);
    s.close();
  });

  test('a report before the HealthCheckRequest ends the stream with INVALID_ARGUMENT', async () => {
    const s = openStream(harness.address);
    s.call.write({ endpoint_health_response: { cluster_endpoints_health: [] } });
    assert.equal((await s.ended).code, 3);
    s.close();
  });
});

describe('clusterReports', () => {
  test('maps statuses, formats IPv6 and skips what cannot be counted', () => {
    const reports = clusterReports({
      cluster_endpoints_health: [
        {
          cluster_name: 'web',
          locality_endpoints_health: [
            {
              endpoints_health: [
                endpointHealth('::1', 8080, 'DEGRADED'),
                endpointHealth('10.0.0.1', 80, 'TIMEOUT'),
                endpointHealth('10.0.0.2', 80, 'DRAINING'),
                { health_status: 'HEALTHY' },
              ],
            },
          ],
        },
        { cluster_name: '' },
      ],
    });
    assert.equal(reports.length, 1);
    assert.deepEqual(
      [...reports[0]!.endpoints],
      [
        ['[::1]:8080', 'HEALTHY'],
        ['10.0.0.1:80', 'UNHEALTHY'],
      ],
    );
  });
});
