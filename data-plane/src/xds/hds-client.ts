/**
 * The proxy's side of Envoy's Health Discovery Service (hds.proto), run in the primary next to
 * the ADS client and on the same control-plane target. Behaves as Envoy's HdsDelegate:
 *
 * - On each stream: send a HealthCheckRequest (node + capability), then take every
 *   HealthCheckSpecifier the server streams. A specifier equal to the last one applied changes
 *   nothing; otherwise its `cluster_health_checks` replace the assigned work (an empty list
 *   removes it all): each cluster's `health_checks` run against its `locality_endpoints`
 *   (health/hds-specifier.ts says what is honoured and what is skipped with a warning — HDS has
 *   no NACK; health/hds-assignments.ts runs them). Assigned checks are only reported: they never
 *   change the proxy's own load balancing, as Envoy's HDS clusters are apart from its CDS ones.
 * - Report an EndpointHealthResponse every `interval` of the latest specifier (default 1 s).
 *   As in Envoy, there is no report on receipt of a specifier: the first one goes out one
 *   interval after the first specifier of a stream, and the timer restarts only when the
 *   interval changes. A report has, per assigned cluster, its localities and endpoints as
 *   given with HEALTHY, UNHEALTHY or TIMEOUT; then, beyond Envoy, the clusters the proxy checks
 *   itself (`Cluster.health_checks`, the primary's HealthManager: Ferry's control plane reads
 *   those as the proxy's view), each in one locality entry, unless a cluster of the same name is
 *   assigned (the assigned one is reported).
 *
 * A failed stream is retried with jittered exponential backoff (reset once a specifier arrives);
 * assigned checks keep running meanwhile (Envoy keeps its HDS clusters) and the next stream's
 * specifier replaces them. Every timer is unref'd. close()/destroy() are idempotent and stop the
 * assigned checks.
 */
import { binaryToJson } from '@ferry/proto';
import {
  serviceDefinition,
  type ClusterEndpointsHealthMessage,
  type EndpointHealthMessage,
  type EndpointHealthResponse,
  type HealthCheckRequestOrEndpointHealthResponse,
  type HealthCheckSpecifier,
  type NodeMessage,
} from '@ferry/proto/grpc';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '@ferry/shared';
import type { JsonObject as ProtoJsonObject } from '../config/translate-common.js';
import type { HostHealthView } from '../health/health-manager.js';
import {
  HdsAssignments,
  type AssignedClusterHealth,
  type HdsAssignmentsOptions,
} from '../health/hds-assignments.js';
import { translateHdsSpecifier } from '../health/hds-specifier.js';
import type { BackoffOptions } from './ads-client.js';
import { XdsStreamClientBase } from './xds-stream-client.js';
import type { XdsEndpointPicker } from './xds-endpoints.js';
import type { XdsChannel } from './xds-transport.js';

export const HDS_SERVICE = 'envoy.service.health.v3.HealthDiscoveryService';

const SPECIFIER_TYPE = 'envoy.service.health.v3.HealthCheckSpecifier';

/** What the client reads at each report: cluster name → host key ("host:port") → view. */
export type HealthViewSource = () => ReadonlyMap<string, ReadonlyMap<string, HostHealthView>>;

export interface HdsClientOptions {
  /** The control planes, shared with the ADS client (xds-endpoints.ts); or one `target`. */
  readonly endpoints?: XdsEndpointPicker;
  readonly target?: string;
  /** envoy.config.core.v3.Node in proto-loader form (nodeMessage in ads-client.ts). */
  readonly node: NodeMessage;
  /** The proxy's own active health checks (CDS), reported beside the assigned ones. */
  readonly view: HealthViewSource;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** The xDS cluster's transport (xds-transport.ts); default plaintext. */
  readonly channel?: XdsChannel;
  /** How assigned checks probe (tests: fixed jitter, fake checkers); real checkers by default. */
  readonly assignedChecks?: Pick<HdsAssignmentsOptions, 'random' | 'createChecker'>;
}

/** Shortest report interval honoured, whatever the server asks (protects the control plane). */
const MIN_INTERVAL_MS = 100;

export class HdsClient extends XdsStreamClientBase<
  HealthCheckRequestOrEndpointHealthResponse,
  HealthCheckSpecifier
> {
  readonly #options: HdsClientOptions;
  readonly #assignments: HdsAssignments;
  #reportTimer: NodeJS.Timeout | undefined;
  /** Interval of the running report timer; undefined while none runs (no specifier yet). */
  #reportIntervalMs: number | undefined;
  /** Proto3 JSON of the specifier last applied, to ignore repeats (Envoy: specifier_hash_). */
  #appliedSpecifier: string | undefined;

  constructor(options: HdsClientOptions) {
    super(options, 'HDS', HDS_SERVICE);
    this.#options = options;
    this.#assignments = new HdsAssignments({ logger: options.logger, ...options.assignedChecks });
  }

  /** The work the control plane assigned, as last applied. */
  get assignments(): HdsAssignments {
    return this.#assignments;
  }

  override close(): void {
    super.close();
    this.#assignments.close();
  }

  protected openCall(): ClientDuplexStream<
    HealthCheckRequestOrEndpointHealthResponse,
    HealthCheckSpecifier
  > {
    return this.client.stream('StreamHealthCheck');
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

  /** A HealthCheckSpecifier (proto-loader form): apply it if new, (re)start the report timer. */
  protected onResponse(message: HealthCheckSpecifier): void {
    let json: string;
    try {
      // Back to bytes, then proto3 JSON: the form translate-health-check.ts reads (as for CDS).
      const bytes = serviceDefinition(HDS_SERVICE).StreamHealthCheck!.responseSerialize(message);
      json = JSON.stringify(binaryToJson(SPECIFIER_TYPE, bytes));
    } catch (err) {
      // Envoy: a specifier that fails validation is logged and ignored.
      this.#options.logger.warn({ err }, 'HDS: unreadable HealthCheckSpecifier ignored');
      return;
    }
    if (json === this.#appliedSpecifier && this.#reportIntervalMs !== undefined) return;
    const specifier = translateHdsSpecifier(JSON.parse(json) as ProtoJsonObject);
    if (json !== this.#appliedSpecifier) {
      this.#appliedSpecifier = json;
      for (const warning of specifier.warnings)
        this.#options.logger.warn({ detail: warning }, 'HDS: assigned health check not run');
      this.#assignments.apply(specifier.clusters);
      this.#options.logger.info(
        { clusters: specifier.clusters.map((c) => c.name), interval_ms: specifier.intervalMs },
        'HDS: health-check assignment applied',
      );
    }
    const intervalMs = Math.max(MIN_INTERVAL_MS, specifier.intervalMs);
    if (intervalMs === this.#reportIntervalMs) return;
    clearInterval(this.#reportTimer);
    this.#reportIntervalMs = intervalMs;
    this.#reportTimer = setInterval(() => this.#report(), intervalMs);
    this.#reportTimer.unref();
  }

  protected override onStreamClosed(): void {
    clearInterval(this.#reportTimer);
    this.#reportTimer = undefined;
    this.#reportIntervalMs = undefined;
  }

  #report(): void {
    this.write({
      endpoint_health_response: endpointHealthResponse(
        this.#options.view(),
        this.#assignments.view(),
      ),
    });
  }
}

/**
 * EndpointHealthResponse (proto-loader form): first each assigned cluster, its localities and
 * endpoints in the specifier's order; then each cluster the proxy checks itself (`own`) that is
 * not assigned, its endpoints in one locality entry (the view does not keep localities).
 */
export function endpointHealthResponse(
  own: ReadonlyMap<string, ReadonlyMap<string, HostHealthView>>,
  assigned: readonly AssignedClusterHealth[] = [],
): EndpointHealthResponse {
  const clusters: ClusterEndpointsHealthMessage[] = assigned.map((cluster) => ({
    cluster_name: cluster.name,
    locality_endpoints_health: cluster.localities.map((locality) => ({
      ...(locality.locality ? { locality: locality.locality } : {}),
      endpoints_health: locality.endpoints.map((endpoint) =>
        endpointHealth(endpoint.host, endpoint.port, endpoint.status),
      ),
    })),
  }));
  const assignedNames = new Set(assigned.map((cluster) => cluster.name));
  for (const [name, hosts] of own) {
    if (assignedNames.has(name)) continue;
    const endpoints: EndpointHealthMessage[] = [];
    for (const [key, host] of hosts) {
      const parsed = splitHostKey(key);
      if (!parsed) continue;
      const status =
        host.status === 'HEALTHY' ? 'HEALTHY' : host.timedOut ? 'TIMEOUT' : 'UNHEALTHY';
      endpoints.push(endpointHealth(parsed.host, parsed.port, status));
    }
    clusters.push({
      cluster_name: name,
      locality_endpoints_health: [{ endpoints_health: endpoints }],
    });
  }
  return { cluster_endpoints_health: clusters };
}

function endpointHealth(host: string, port: number, status: string): EndpointHealthMessage {
  return {
    endpoint: { address: { socket_address: { address: host, port_value: port } } },
    health_status: status,
  };
}

/** "host:port" or "[v6]:port" → parts. */
export function splitHostKey(key: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(key);
  if (!match) return undefined;
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}
