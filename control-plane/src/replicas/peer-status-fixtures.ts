/** Fixtures of the tests that ask real HTTP peers for their proxies (test support only). */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeStatus } from '../xds/fleet-status.js';

/** A peer's proxy with every optional field set, NACKED, held by replica cp-b. */
export const NODE: NodeStatus = {
  nodeId: 'edge-7',
  cluster: 'web',
  group: 'web',
  userAgent: 'ferry-proxy',
  address: '10.0.0.7:5000',
  streams: ['ads-delta'],
  connected: true,
  connectedSince: '2026-01-01T00:00:00.000Z',
  lastSeen: '2026-01-01T00:00:01.000Z',
  types: [
    {
      typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      versionSent: 'v2',
      versionAcked: 'v1',
      resources: 2,
      lastNack: { version: 'v2', error: 'clusters[0]: bad', time: '2026-01-01T00:00:01.000Z' },
      versionApplied: 'v1',
      rejectedResources: [
        {
          name: 'c1',
          state: 'NACKED',
          versionRunning: 'v1',
          versionSent: 'v2',
          nack: { version: 'v2', error: 'bad', time: '2026-01-01T00:00:01.000Z' },
        },
      ],
    },
  ],
  replica: 'cp-b',
  rollout: 'rollout-1 stage 1/2: candidate',
};

/** Listens on a free loopback port; resolves with the base URL. */
export function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}
