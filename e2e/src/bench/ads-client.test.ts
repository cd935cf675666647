/**
 * The simulated ADS client against a scripted in-process HTTP/2 server: checks the request
 * sequence a real control plane sees (node once, CDS → EDS(names) → LDS → RDS(names), every
 * response ACKed with its version and nonce) and that a pushed EDS version is ACKed once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { decodeJsonWith, encodeBinary, requireMessageSchema } from '@ferry/proto';
import { serviceDefinition, type DiscoveryRequest } from '@ferry/proto/grpc';
import { AdsClient, type ClientCounters } from './ads-client.js';
import {
  baseConfig,
  clusterName,
  hasUpdatedEndpoint,
  ROUTE_CONFIG_NAME,
  updatedConfig,
} from './bench-config.js';
import { frameMessage, MessageDeframer } from './grpc-framing.js';
import { ADS_PATH, TYPE_URL, XdsCodec } from './xds-codec.js';

interface SeenRequest {
  typeUrl: string;
  versionInfo: string;
  responseNonce: string;
  resourceNames: string[];
  nodeId: string | undefined;
}

const responseSchema = requireMessageSchema('envoy.service.discovery.v3.DiscoveryResponse');
const config = { clusters: 2, endpointsPerCluster: 2 };

// Requests are decoded as the control plane decodes them (proto-loader, grpc-messages.ts's form),
// not with the client's own codec; a field left off the wire reads as its proto3 default.
const adsMethod = serviceDefinition(
  'envoy.service.discovery.v3.AggregatedDiscoveryService',
).StreamAggregatedResources!;

function seenRequest(bytes: Buffer): SeenRequest {
  const req = adsMethod.requestDeserialize(bytes) as DiscoveryRequest;
  return {
    typeUrl: req.type_url ?? '',
    versionInfo: req.version_info ?? '',
    responseNonce: req.response_nonce ?? '',
    resourceNames: [...(req.resource_names ?? [])],
    nodeId: req.node === undefined ? undefined : (req.node.id ?? ''),
  };
}

function response(
  typeUrl: string,
  version: string,
  nonce: string,
  docs: Record<string, unknown>[],
): Buffer {
  const decoded = decodeJsonWith(responseSchema, {
    version_info: version,
    type_url: typeUrl,
    nonce,
    resources: docs.filter((d) => d['@type'] === typeUrl),
  });
  if (!decoded.ok) throw new Error(decoded.errors.join('; '));
  return frameMessage(encodeBinary(responseSchema, decoded.value));
}

const servers: http2.Http2Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

for (const h2 of ['raw', 'node'] as const)
  test(`subscribes like Envoy, ACKs every response and follows an EDS push (${h2} HTTP/2 client)`, async () => {
    const seen: SeenRequest[] = [];
    let seenWaiter: { count: number; resolve: () => void } | undefined;
    const requestsSeen = (count: number): Promise<void> =>
      seen.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => (seenWaiter = { count, resolve }));
    let push: (() => void) | undefined;
    const server = http2.createServer();
    servers.push(server);
    // The client's destroy() at the end may reset the connection under unread bytes.
    server.on('session', (session) => session.on('error', () => undefined));
    server.on('stream', (stream, headers) => {
      assert.equal(headers[':path'], ADS_PATH);
      assert.equal(headers['content-type'], 'application/grpc');
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      const deframer = new MessageDeframer();
      let nonce = 0;
      stream.on('data', (chunk: Buffer) => {
        for (const bytes of deframer.push(chunk)) {
          const req = seenRequest(bytes);
          seen.push(req);
          if (seenWaiter && seen.length >= seenWaiter.count) seenWaiter.resolve();
          // Answer subscriptions (first request of a type), not ACKs.
          if (req.responseNonce === '')
            stream.write(response(req.typeUrl, 'v1', `n${++nonce}`, baseConfig(config)));
        }
      });
      push = () =>
        stream.write(response(TYPE_URL.endpoint, 'v2', `n${++nonce}`, updatedConfig(config)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;

    const counters: ClientCounters = { bytesReceived: 0, bytesSent: 0, responses: 0, requests: 0 };
    const acks: string[] = [];
    let updateVerified = false;
    const codec = new XdsCodec();
    let onReady: () => void = () => undefined;
    let onUpdate: () => void = () => undefined;
    const client = new AdsClient({
      address: `127.0.0.1:${port}`,
      nodeId: 'node-1',
      nodeCluster: 'default',
      codec,
      counters,
      h2,
      events: {
        onAck(_c, typeUrl, version, _at, res) {
          acks.push(`${typeUrl.split('.').pop()}@${version}`);
          if (version === 'v2') {
            updateVerified = hasUpdatedEndpoint(codec.resourcesJson(res));
            onUpdate();
          }
        },
        onReady: () => onReady(),
        onFailed: (_c, err) => assert.fail(err),
      },
    });
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    client.start();
    try {
      await ready;
      // 4 subscriptions + 4 ACKs; the last ACK is written before onReady but may still be in flight.
      await requestsSeen(8);

      const clusters = [clusterName(0), clusterName(1)];
      const expected = [
        {
          typeUrl: TYPE_URL.cluster,
          versionInfo: '',
          responseNonce: '',
          resourceNames: [],
          nodeId: 'node-1',
        },
        {
          typeUrl: TYPE_URL.cluster,
          versionInfo: 'v1',
          responseNonce: 'n1',
          resourceNames: [],
          nodeId: undefined,
        },
        {
          typeUrl: TYPE_URL.endpoint,
          versionInfo: '',
          responseNonce: '',
          resourceNames: clusters,
          nodeId: undefined,
        },
        {
          typeUrl: TYPE_URL.listener,
          versionInfo: '',
          responseNonce: '',
          resourceNames: [],
          nodeId: undefined,
        },
      ];
      assert.deepEqual(seen.slice(0, 4), expected);
      const later = seen
        .slice(4)
        .map(
          (r) =>
            `${r.typeUrl.split('.').pop()} ${r.versionInfo} ${r.responseNonce || '-'} ${r.resourceNames.join(',')}`,
        );
      assert.deepEqual(
        new Set(later),
        new Set([
          `ClusterLoadAssignment v1 n2 ${clusters.join(',')}`,
          'Listener v1 n3 ',
          `RouteConfiguration  - ${ROUTE_CONFIG_NAME}`,
          `RouteConfiguration v1 n4 ${ROUTE_CONFIG_NAME}`,
        ]),
      );
      assert.equal(client.ackedVersion(TYPE_URL.route), 'v1');

      const updated = new Promise<void>((resolve) => (onUpdate = resolve));
      push!();
      await updated;
      assert.equal(updateVerified, true);
      assert.equal(client.ackedVersion(TYPE_URL.endpoint), 'v2');
      assert.equal(acks.filter((a) => a.endsWith('@v2')).length, 1);
      assert.equal(counters.responses, 5);
      assert.ok(counters.bytesReceived > 0 && counters.bytesSent > 0);
      await requestsSeen(9);
      assert.deepEqual(seen[8], {
        typeUrl: TYPE_URL.endpoint,
        versionInfo: 'v2',
        responseNonce: 'n5',
        resourceNames: clusters,
        nodeId: undefined,
      });
    } finally {
      client.destroy();
    }
    assert.equal(client.isLive(), false);
  });
