/**
 * What the health-checking tests share: two restartable backends ("a" and "b") behind one
 * cluster "web" checked by the harness's fast HTTP health check, either on a proxy's static
 * config (active checks in the proxy) or in a control plane's EDS cluster whose metadata opts in
 * to central checking or the health quorum (HDS reports every 200 ms), with proxies of group
 * "default" on it.
 */
import { after, before } from 'node:test';
import {
  RestartableBackend,
  apiApply,
  edsClusterResource,
  endpointsResource,
  fastHealthCheck,
  freePort,
  httpListener,
  httpRequest,
  inlineRouteConfig,
  proxyBootstrap,
  routeAllTo,
  startControlPlane,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

/** A host's health_status in a proxy's /clusters?format=json (Envoy's admin HostHealthStatus). */
export interface HostHealth {
  failed_active_health_check?: boolean;
  pending_active_hc?: boolean;
}

/** Cluster `cluster`'s hosts in `proxy`'s /clusters?format=json, by port. */
export async function hostStatuses(
  proxy: Proxy,
  cluster = 'web',
): Promise<Map<number, HostHealth>> {
  const res = await httpRequest(`${proxy.adminUrl}/clusters?format=json`);
  const body = JSON.parse(res.body) as {
    cluster_statuses: {
      name: string;
      host_statuses: {
        address: { socket_address: { port_value: number } };
        health_status: HostHealth;
      }[];
    }[];
  };
  const found = body.cluster_statuses.find((c) => c.name === cluster);
  return new Map(
    (found?.host_statuses ?? []).map((h) => [h.address.socket_address.port_value, h.health_status]),
  );
}

/** Checked and passed: neither failed nor still waiting for its first result. */
export function isHealthy(s: HostHealth | undefined): boolean {
  return s !== undefined && s.failed_active_health_check !== true && s.pending_active_hc !== true;
}

/** Started in the calling suite's `before`; every field is set once it ran. */
export interface CheckedSite {
  proxy: Proxy;
  listenerPort: number;
  a: RestartableBackend;
  b: RestartableBackend;
}

/**
 * Backends a and b, and a proxy (two workers) on static config: listener "http" routing every
 * request to STATIC cluster "web" of both, health-checked (fastHealthCheck). `action` adds
 * RouteAction fields (retry_policy, ...) and `cluster` Cluster fields (circuit_breakers, ...).
 * Started in the calling suite's `before`, stopped (every harness process, and both backends) in
 * its `after`; `beforeStop` runs first there.
 */
export function useCheckedSite(
  nodeId: string,
  opts: { action?: Json; cluster?: Json; beforeStop?: () => Promise<void> } = {},
): CheckedSite {
  const site = {} as CheckedSite;
  before(async () => {
    [site.a, site.b, site.listenerPort] = await Promise.all([
      RestartableBackend.start('a'),
      RestartableBackend.start('b'),
      freePort(),
    ]);
    const routes = inlineRouteConfig(routeAllTo('main', 'web', { action: opts.action ?? {} }));
    site.proxy = await startProxy({
      concurrency: 2,
      bootstrap: staticBootstrap({
        nodeId,
        listeners: [httpListener('http', site.listenerPort, { routeConfig: routes })],
        clusters: [
          staticClusterResource('web', [site.a.port, site.b.port], {
            health_checks: [fastHealthCheck()],
            ...opts.cluster,
          }),
        ],
      }),
    });
  });
  after(async () => {
    await opts.beforeStop?.();
    await stopAll();
    await Promise.all([site.a?.stop(), site.b?.stop()]);
  });
  return site;
}

/** Started in the calling suite's `before`; every field is set once it ran. */
export interface HealthFleet {
  cp: ControlPlane;
  a: RestartableBackend;
  b: RestartableBackend;
  proxies: Proxy[];
}

/**
 * Backends a and b; a control plane asking for HDS reports every 200 ms; EDS cluster "web" of
 * both, health-checked (fastHealthCheck), with `metadata` (its opt-in to central checking or to
 * the health quorum); and ferry-proxies `nodeIds` in group "default". Started in the calling
 * suite's `before`, stopped in its `after`.
 */
export function useHealthFleet(nodeIds: readonly string[], metadata: Json): HealthFleet {
  const fleet = { proxies: [] as Proxy[] } as unknown as HealthFleet;
  before(async () => {
    [fleet.a, fleet.b, fleet.cp] = await Promise.all([
      RestartableBackend.start(),
      RestartableBackend.start(),
      startControlPlane({ args: ['--hds-interval-ms', '200'] }),
    ]);
    await apiApply(fleet.cp.apiUrl, [
      edsClusterResource('web', { health_checks: [fastHealthCheck()], metadata }),
      endpointsResource('web', [fleet.a.port, fleet.b.port]),
    ]);
    fleet.proxies.push(
      ...(await Promise.all(
        nodeIds.map((nodeId) =>
          startProxy({ bootstrap: proxyBootstrap({ nodeId, xdsAddress: fleet.cp.xdsAddress }) }),
        ),
      )),
    );
  });
  after(async () => {
    await stopAll();
    await Promise.all([fleet.a?.stop(), fleet.b?.stop()]);
  });
  return fleet;
}
