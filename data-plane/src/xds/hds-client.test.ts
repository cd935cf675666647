import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { jsonToBinary } from '@ferry/proto';
import {
  serviceDefinition,
  type EndpointHealthResponse,
  type HealthCheckRequestOrEndpointHealthResponse,
  type HealthCheckSpecifier,
} from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import { createHealthChecker } from '../health/health-checker-factory.js';
import { endpointHealthResponse, HdsClient, HDS_SERVICE, splitHostKey } from './hds-client.js';

const logger = createLogger('hds-client-test', 'silent');

describe('HDS client reports', () => {
  test('splitHostKey parses IPv4, names and bracketed IPv6', () => {
    assert.deepEqual(splitHostKey('10.0.0.1:80'), { host: '10.0.0.1', port: 80 });
    assert.deepEqual(splitHostKey('backend:8080'), { host: 'backend', port: 8080 });
    assert.deepEqual(splitHostKey('[::1]:9000'), { host: '::1', port: 9000 });
    assert.equal(splitHostKey('no-port'), undefined);
  });

  test('endpointHealthResponse lists every checked host with its status', () => {
    const view = new Map([
      [
        'web',
        new Map([
          ['10.0.0.1:80', { status: 'HEALTHY' as const, pending: false }],
          ['[::1]:81', { status: 'UNHEALTHY' as const, pending: false }],
        ]),
      ],
      ['empty', new Map()],
    ]);
    assert.deepEqual(endpointHealthResponse(view), {
      cluster_endpoints_health: [
        {
          cluster_name: 'web',
          locality_endpoints_health: [
            {
              endpoints_health: [
                {
                  endpoint: {
                    address: { socket_address: { address: '10.0.0.1', port_value: 80 } },
                  },
                  health_status: 'HEALTHY',
                },
                {
                  endpoint: { address: { socket_address: { address: '::1', port_value: 81 } } },
                  health_status: 'UNHEALTHY',
                },
              ],
            },
          ],
        },
        { cluster_name: 'empty', locality_endpoints_health: [{ endpoints_health: [] }] },
      ],
    });
  });
});

type HdsServerCall = ServerDuplexStream<
  HealthCheckRequestOrEndpointHealthResponse,
  HealthCheckSpecifier
>;

/** A HealthCheckSpecifier as the server writes it: proto3 JSON → bytes → proto-loader form. */
function specifier(json: Record<string, unknown>): HealthCheckSpecifier {
  const bytes = jsonToBinary('envoy.service.health.v3.HealthCheckSpecifier', json);
  assert.ok(bytes.ok, bytes.ok ? '' : bytes.errors.join('\n'));
  return serviceDefinition(HDS_SERVICE).StreamHealthCheck!.responseDeserialize(
    Buffer.from(bytes.value),
  ) as HealthCheckSpecifier;
}

function socket(port: number): Record<string, unknown> {
  return { address: { socket_address: { address: '127.0.0.1', port_value: port } } };
}

const CHECK = {
  timeout: '1s',
  interval: '0.05s',
  unhealthy_threshold: 2,
  healthy_threshold: 2,
};
/** Checked once, then not again within any test (a host's first check needs one success). */
const ONCE = { ...CHECK, interval: '3600s', http_health_check: { path: '/healthz' } };

/** cluster → locality zone → "port=STATUS", from one EndpointHealthResponse. */
function summary(report: EndpointHealthResponse): Record<string, Record<string, string[]>> {
  const result: Record<string, Record<string, string[]>> = {};
  for (const cluster of report.cluster_endpoints_health ?? []) {
    const byZone: Record<string, string[]> = {};
    for (const locality of cluster.locality_endpoints_health ?? [])
      byZone[locality.locality?.zone ?? ''] = (locality.endpoints_health ?? []).map(
        (e) => `${e.endpoint?.address?.socket_address?.port_value}=${e.health_status}`,
      );
    result[cluster.cluster_name ?? ''] = byZone;
  }
  return result;
}

/** A listening TCP server that counts connections; port 0 → an ephemeral port. */
async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

describe('HDS client: assigned health checks', () => {
  let server: Server;
  let address = '';
  let call: HdsServerCall | undefined;
  let onCall: (() => void) | undefined;
  const reports: EndpointHealthResponse[] = [];
  let onReport: (() => void) | undefined;
  const backends: (net.Server | http.Server)[] = [];
  let httpPort = 0;
  let httpPort2 = 0;
  let tcpPort = 0;
  let deadPort = 0;

  before(async () => {
    server = new Server();
    server.addService(serviceDefinition(HDS_SERVICE), {
      StreamHealthCheck: (stream: HdsServerCall) => {
        call = stream;
        stream.on('data', (message: HealthCheckRequestOrEndpointHealthResponse) => {
          if (
            message.request_type === 'endpoint_health_response' &&
            message.endpoint_health_response
          ) {
            reports.push(message.endpoint_health_response);
            onReport?.();
          }
        });
        stream.on('error', () => undefined);
        stream.on('end', () => stream.end());
        onCall?.();
      },
      FetchHealthCheck: () => undefined,
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
    const handler: http.RequestListener = (req, res) => {
      res.statusCode = req.url === '/healthz' ? 200 : 404;
      res.end();
    };
    const web = http.createServer(handler);
    const web2 = http.createServer(handler);
    const tcp = net.createServer((socket) => socket.end());
    backends.push(web, web2, tcp);
    httpPort = await listen(web);
    httpPort2 = await listen(web2);
    tcpPort = await listen(tcp);
    deadPort = await refusedPort();
  });

  after(async () => {
    call?.end();
    server.forceShutdown();
    for (const backend of backends) {
      if ('closeAllConnections' in backend) backend.closeAllConnections();
      await new Promise<void>((resolve) => backend.close(() => resolve()));
    }
  });

  /** Resolves with the first report (after `since`) that `accept` takes. */
  function nextReport(
    accept: (report: EndpointHealthResponse) => boolean,
    since = reports.length,
  ): Promise<EndpointHealthResponse> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        onReport = undefined;
        reject(new Error(`no matching report; last: ${JSON.stringify(reports.at(-1))}`));
      }, 10_000);
      const look = (): void => {
        const found = reports.slice(since).find(accept);
        if (found === undefined) return;
        clearTimeout(deadline);
        onReport = undefined;
        resolve(found);
      };
      onReport = look;
      look();
    });
  }

  async function connected(): Promise<HdsServerCall> {
    if (call) return call;
    await new Promise<void>((resolve) => (onCall = resolve));
    onCall = undefined;
    return call!;
  }

  test('checks assigned endpoints, reports them by locality beside its own; a new specifier replaces the work, keeping unchanged sessions', async () => {
    const probedPorts: number[] = [];
    const client = new HdsClient({
      target: address,
      node: { id: 'proxy-1', cluster: 'edge' },
      view: () =>
        new Map([
          ['own', new Map([['10.0.0.9:80', { status: 'HEALTHY' as const, pending: false }]])],
          ['tcp-hc', new Map([['10.0.0.9:81', { status: 'HEALTHY' as const, pending: false }]])],
        ]),
      logger,
      assignedChecks: {
        createChecker: (model) => {
          const real = createHealthChecker(model.checker);
          return {
            check: (target, signal) => {
              probedPorts.push(target.port);
              return real.check(target, signal);
            },
          };
        },
      },
    });
    try {
      client.start();
      const stream = await connected();
      stream.write(
        specifier({
          interval: '0.1s',
          cluster_health_checks: [
            {
              cluster_name: 'web-hc',
              health_checks: [ONCE],
              locality_endpoints: [
                { locality: { zone: 'z1' }, endpoints: [socket(httpPort), socket(deadPort)] },
              ],
            },
            {
              cluster_name: 'tcp-hc',
              health_checks: [{ ...CHECK, tcp_health_check: {} }],
              locality_endpoints: [{ locality: { zone: 'z2' }, endpoints: [socket(tcpPort)] }],
            },
            {
              cluster_name: 'tls-hc',
              health_checks: [{ ...CHECK, tcp_health_check: {} }],
              locality_endpoints: [{ endpoints: [socket(tcpPort)] }],
              transport_socket_matches: [
                { name: 'tls', transport_socket: { name: 'envoy.transport_sockets.tls' } },
              ],
            },
          ],
        }),
      );
      const expected = {
        'web-hc': { z1: [`${httpPort}=HEALTHY`, `${deadPort}=UNHEALTHY`] },
        'tcp-hc': { z2: [`${tcpPort}=HEALTHY`] },
        own: { '': ['80=HEALTHY'] },
      };
      const first = await nextReport(
        (r) => JSON.stringify(summary(r)) === JSON.stringify(expected),
      );
      // The assigned cluster hides the own one of the same name; tls-hc is not run.
      assert.deepEqual(summary(first), expected);
      assert.ok(probedPorts.includes(deadPort));

      // A new specifier: web-hc gains an endpoint, tcp-hc and tls-hc are gone.
      const probes = (port: number): number => probedPorts.filter((p) => p === port).length;
      assert.equal(probes(httpPort), 1);
      stream.write(
        specifier({
          interval: '0.1s',
          cluster_health_checks: [
            {
              cluster_name: 'web-hc',
              health_checks: [ONCE],
              locality_endpoints: [
                {
                  locality: { zone: 'z1' },
                  endpoints: [socket(httpPort), socket(deadPort), socket(httpPort2)],
                },
              ],
            },
          ],
        }),
      );
      const replaced = await nextReport((r) =>
        (summary(r)['web-hc']?.z1 ?? []).includes(`${httpPort2}=HEALTHY`),
      );
      assert.deepEqual(summary(replaced), {
        'web-hc': {
          z1: [`${httpPort}=HEALTHY`, `${deadPort}=UNHEALTHY`, `${httpPort2}=HEALTHY`],
        },
        // No longer assigned: the proxy's own tcp-hc is reported again.
        'tcp-hc': { '': ['81=HEALTHY'] },
        own: { '': ['80=HEALTHY'] },
      });
      // Unchanged sessions kept their state and schedule: a restarted one would have been
      // probed again at once, before the new endpoint (timers of equal delay run in order).
      assert.equal(probes(httpPort), 1);
      assert.equal(probes(deadPort), 1);
      const tcpProbes = probes(tcpPort);
      await nextReport(() => true, reports.length + 2);
      assert.equal(probes(tcpPort), tcpProbes, 'tcp-hc is no longer probed');

      // An empty specifier removes all assigned work; the proxy's own checks are still reported.
      stream.write(specifier({ interval: '0.1s' }));
      const empty = await nextReport((r) => !('web-hc' in summary(r)));
      assert.deepEqual(summary(empty), {
        'tcp-hc': { '': ['81=HEALTHY'] },
        own: { '': ['80=HEALTHY'] },
      });
      assert.deepEqual(client.assignments.view(), []);
    } finally {
      client.close();
      client.close();
      call = undefined;
    }
  });
});
