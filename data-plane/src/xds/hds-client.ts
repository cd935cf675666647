/**
 * The proxy's side of Envoy's Health Discovery Service (hds.proto), run in the primary next to
 * the ADS client and on the same control-plane target.
 *
 * On each stream: send a HealthCheckRequest (node + capability), wait for the server's
 * HealthCheckSpecifier, then send an EndpointHealthResponse right away and every `interval` of
 * the latest specifier. Reports are built from the primary's HealthManager (its own active
 * health checks from `Cluster.health_checks`): Ferry's control plane sends an empty
 * `cluster_health_checks` list, meaning "report what you already check"
 * (control-plane/src/health/hds-server.ts). Clusters a specifier names are not checked
 * separately yet: the report covers the proxy's own checks only.
 *
 * A failed stream is retried with jittered exponential backoff (reset once a specifier arrives).
 * Every timer is unref'd. close()/destroy() are idempotent.
 */
import type { Logger } from '@ferry/shared';
import type { HostHealthView } from '../health/health-manager.js';
import type { BackoffOptions } from './ads-client.js';
import type { JsonObject } from './resource-set.js';
import { durationMs, XdsStreamClientBase, type AdsCall } from './xds-stream-client.js';

export const HDS_SERVICE = 'envoy.service.health.v3.HealthDiscoveryService';

/** What the client reads at each report: cluster name → host key ("host:port") → view. */
export type HealthViewSource = () => ReadonlyMap<string, ReadonlyMap<string, HostHealthView>>;

export interface HdsClientOptions {
  readonly target: string;
  /** envoy.config.core.v3.Node in proto-loader form (nodeMessage in ads-client.ts). */
  readonly node: JsonObject;
  readonly view: HealthViewSource;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
}

/** Shortest report interval honoured, whatever the server asks (protects the control plane). */
const MIN_INTERVAL_MS = 100;

export class HdsClient extends XdsStreamClientBase {
  readonly #options: HdsClientOptions;
  #reportTimer: NodeJS.Timeout | undefined;

  constructor(options: HdsClientOptions) {
    super(options, 'HDS', HDS_SERVICE);
    this.#options = options;
  }

  protected openCall(): AdsCall {
    return this.client.StreamHealthCheck();
  }

  protected onStreamOpened(): void {
    this.write({
      health_check_request: {
        node: this.#options.node,
        // Envoy's Capability lists the protocols it can check for the server; ferry-proxy checks
        // HTTP and TCP (gRPC checks run over HTTP/2 and have no enum value here).
        capability: { health_check_protocols: ['HTTP', 'TCP'] },
      },
    });
  }

  /** A HealthCheckSpecifier: report now, then every `interval`. */
  protected onResponse(specifier: any): void {
    const intervalMs = Math.max(MIN_INTERVAL_MS, durationMs(specifier?.interval) ?? 5_000);
    clearInterval(this.#reportTimer);
    this.#report();
    this.#reportTimer = setInterval(() => this.#report(), intervalMs);
    this.#reportTimer.unref();
  }

  protected override onStreamClosed(): void {
    clearInterval(this.#reportTimer);
    this.#reportTimer = undefined;
  }

  #report(): void {
    this.write({ endpoint_health_response: endpointHealthResponse(this.#options.view()) });
  }
}

/**
 * EndpointHealthResponse (proto-loader form) from a health view: one ClusterEndpointsHealth per
 * checked cluster, its endpoints in one locality entry (the view does not keep localities).
 */
export function endpointHealthResponse(
  view: ReadonlyMap<string, ReadonlyMap<string, HostHealthView>>,
): JsonObject {
  const clusters: JsonObject[] = [];
  for (const [name, hosts] of view) {
    const endpoints: JsonObject[] = [];
    for (const [key, host] of hosts) {
      const parsed = splitHostKey(key);
      if (!parsed) continue;
      endpoints.push({
        endpoint: {
          address: { socket_address: { address: parsed.host, port_value: parsed.port } },
        },
        health_status: host.status === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY',
      });
    }
    clusters.push({
      cluster_name: name,
      locality_endpoints_health: [{ endpoints_health: endpoints }],
    });
  }
  return { cluster_endpoints_health: clusters };
}

/** "host:port" or "[v6]:port" → parts. */
export function splitHostKey(key: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(key);
  if (!match) return undefined;
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}
