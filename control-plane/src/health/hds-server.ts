/**
 * The control plane's side of Envoy's Health Discovery Service (`envoy.service.health.v3.
 * HealthDiscoveryService`, hds.proto). Registered on the xDS gRPC server (xds-server.ts).
 *
 * Protocol, per stream: the proxy's first message is a HealthCheckRequest (node + capability);
 * the server answers with one HealthCheckSpecifier; the proxy then sends EndpointHealthResponse
 * reports every `interval`. Each report replaces the node's previous one in the HealthAggregate;
 * when the stream ends the node is forgotten (unless a newer stream of the same node took over).
 *
 * Work handed out: the specifier's `cluster_health_checks` names the clusters that opt in to
 * central checking (`ferry.hds`, hds-assignment.ts) for which this node is one of the group's
 * chosen checkers, with their health checks and endpoints; a new specifier is sent on the open
 * stream whenever that changes (a cluster or its endpoints changed, a proxy of the group came or
 * went). ferry-proxy also reports the endpoints it checks through its clusters' own
 * `health_checks` (CDS) (data-plane/src/xds/hds-client.ts); Envoy reports only the clusters a
 * specifier names.
 *
 * Health status mapping: HEALTHY and DEGRADED count as healthy (DEGRADED hosts still take
 * traffic); UNHEALTHY and TIMEOUT as unhealthy; UNKNOWN and DRAINING are not counted.
 */
import { status } from '@grpc/grpc-js';
import type { Logger } from '@ferry/shared';
import type { LiteServerCall, LiteServiceImplementation } from '../grpc-lite/server-call.js';
import { jsonToBinary } from '@ferry/proto';
import {
  serviceDefinition,
  type EndpointHealthResponse,
  type HealthCheckRequestOrEndpointHealthResponse,
  type HealthStatusValue,
} from '@ferry/proto/grpc';
import { groupOf } from '../xds/fleet.js';
import { clusterHealthChecksFor, type HdsClusterWork } from './hds-assignment.js';
import { endpointAddress } from './quorum.js';
import type { ClusterHealthReport, HealthAggregate, ReportedHealth } from './health-aggregate.js';
import type { HealthMetrics } from './health-metrics.js';

export const HDS_SERVICE = 'envoy.service.health.v3.HealthDiscoveryService';

/** Default report interval asked of proxies. */
export const DEFAULT_HDS_INTERVAL_MS = 5_000;

export interface HdsServiceOptions {
  readonly aggregate: HealthAggregate;
  readonly logger: Logger;
  /** Report interval sent in the HealthCheckSpecifier (default 5 s). */
  readonly intervalMs?: number;
  readonly metrics?: HealthMetrics;
  /** The group's clusters whose checks are handed out (health-overlay.ts); none by default. */
  readonly work?: (group: string) => HdsClusterWork[];
}

type HdsCall = LiteServerCall;

interface HdsNode {
  readonly id: string;
  readonly group: string;
  /** JSON of the cluster_health_checks last sent on this stream. */
  sent: string;
}

/** Owns the HDS calls of one gRPC server: implementation + lifecycle (close ends every stream). */
export class HdsService {
  readonly #options: HdsServiceOptions;
  readonly #calls = new Set<HdsCall>();
  /** node id → the stream whose reports are current for it. */
  readonly #owner = new Map<string, HdsCall>();
  /** The node of each stream that has identified itself. */
  readonly #nodes = new Map<HdsCall, HdsNode>();

  constructor(options: HdsServiceOptions) {
    this.#options = options;
  }

  implementation(): LiteServiceImplementation {
    return {
      StreamHealthCheck: (call) => this.#stream(call),
      FetchHealthCheck: (call, callback) => {
        const request = call.request as HealthCheckRequestOrEndpointHealthResponse | undefined;
        if (request?.request_type === 'endpoint_health_response') {
          callback({
            code: status.INVALID_ARGUMENT,
            details: 'FetchHealthCheck: send a health_check_request; reports need a stream',
          });
          return;
        }
        const id = request?.health_check_request?.node?.id;
        const group = groupOf({ cluster: request?.health_check_request?.node?.cluster });
        const nodes = this.#nodesOf(group);
        callback(
          null,
          this.#specifier(
            typeof id === 'string' ? this.#clusterChecks(id, group, [...nodes, id].sort()) : [],
          ),
        );
      },
    };
  }

  /** Ends every HDS stream (proxies reconnect). Idempotent. */
  close(): void {
    for (const call of [...this.#calls]) this.#end(call, undefined);
  }

  /**
   * Sends a new specifier to each stream of `group` whose work changed (called when the group's
   * HDS work or its set of proxies changed).
   */
  reassign(group: string): void {
    const nodes = this.#nodesOf(group);
    for (const [call, node] of this.#nodes) {
      if (node.group !== group || this.#owner.get(node.id) !== call) continue;
      const checks = this.#clusterChecks(node.id, group, nodes);
      const json = JSON.stringify(checks);
      if (json === node.sent) continue;
      node.sent = json;
      this.#options.logger.debug(
        { node: node.id, group, clusters: checks.map((c) => c.cluster_name) },
        'HDS work reassigned',
      );
      call.write(this.#specifier(checks));
    }
  }

  /** Node ids of `group` with a current stream, sorted. */
  #nodesOf(group: string): string[] {
    const ids: string[] = [];
    for (const [call, node] of this.#nodes) {
      if (node.group === group && this.#owner.get(node.id) === call) ids.push(node.id);
    }
    return ids.sort();
  }

  #clusterChecks(
    nodeId: string,
    group: string,
    nodes: readonly string[],
  ): Record<string, unknown>[] {
    const work = this.#options.work?.(group) ?? [];
    return work.length === 0 ? [] : clusterHealthChecksFor(work, nodeId, nodes);
  }

  /**
   * A HealthCheckSpecifier in the form the gRPC server writes (proto-loader objects). The health
   * checks are stored as proto3 JSON, so the message is built in JSON, encoded with the registry
   * and decoded by the service's own deserializer (durations, wrappers and Any done right).
   */
  #specifier(clusterChecks: readonly Record<string, unknown>[]): Record<string, unknown> {
    const ms = this.#options.intervalMs ?? DEFAULT_HDS_INTERVAL_MS;
    const spec = { cluster_health_checks: clusterChecks, interval: `${ms / 1000}s` };
    const bytes = jsonToBinary('envoy.service.health.v3.HealthCheckSpecifier', spec);
    if (!bytes.ok) {
      // Validated on apply; only a store written by another version could get here.
      this.#options.logger.error(
        { errors: bytes.errors },
        'HDS: cannot encode the health checks to hand out; sending none',
      );
      return this.#specifier([]);
    }
    return specifierCodec().responseDeserialize(Buffer.from(bytes.value)) as Record<
      string,
      unknown
    >;
  }

  #stream(call: HdsCall): void {
    this.#calls.add(call);
    let node: { id: string; group: string } | undefined;
    call.on('data', (message: HealthCheckRequestOrEndpointHealthResponse) => {
      if (message?.request_type === 'health_check_request') {
        const id = message.health_check_request?.node?.id;
        if (typeof id !== 'string' || id === '') {
          this.#end(call, 'HealthCheckRequest.node.id is required');
          return;
        }
        if (node && node.id !== id) this.#forget(node.id, call);
        const group = groupOf({ cluster: message.health_check_request?.node?.cluster });
        const previousOwner = this.#owner.get(id);
        this.#owner.set(id, call);
        const nodes = this.#nodesOf(group);
        if (!nodes.includes(id)) nodes.push(id);
        nodes.sort();
        const checks = this.#clusterChecks(id, group, nodes);
        const hdsNode: HdsNode = { id, group, sent: JSON.stringify(checks) };
        node = hdsNode;
        this.#nodes.set(call, hdsNode);
        this.#options.metrics?.reportingProxies.set(this.#owner.size);
        this.#options.logger.debug({ node: id, group }, 'HDS stream opened');
        call.write(this.#specifier(checks));
        // A new checker may take work from others (rendezvous choice over the group).
        if (previousOwner === undefined) this.reassign(group);
        return;
      }
      if (message?.request_type === 'endpoint_health_response') {
        if (!node) {
          this.#end(call, 'the first HDS message must be a health_check_request with the node');
          return;
        }
        this.#owner.set(node.id, call);
        this.#options.metrics?.reports.inc();
        this.#options.aggregate.report(
          node.id,
          node.group,
          clusterReports(message.endpoint_health_response),
        );
      }
    });
    const finish = (): void => {
      this.#calls.delete(call);
      if (node) this.#forget(node.id, call);
      this.#nodes.delete(call);
    };
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('close', finish);
    call.on('cancelled', finish);
  }

  #forget(nodeId: string, call: HdsCall): void {
    if (this.#owner.get(nodeId) !== call) return;
    const group = this.#nodes.get(call)?.group;
    this.#owner.delete(nodeId);
    this.#options.metrics?.reportingProxies.set(this.#owner.size);
    this.#options.aggregate.forget(nodeId);
    // Its share of the work goes to the next checker.
    if (group !== undefined) this.reassign(group);
  }

  #end(call: HdsCall, invalid: string | undefined): void {
    if (!this.#calls.has(call)) return;
    if (invalid) call.emit('error', { code: status.INVALID_ARGUMENT, details: invalid });
    else call.end();
  }
}

/** EndpointHealthResponse (proto-loader form) → per-cluster reports. */
export function clusterReports(
  response: EndpointHealthResponse | undefined,
): ClusterHealthReport[] {
  const reports: ClusterHealthReport[] = [];
  for (const cluster of response?.cluster_endpoints_health ?? []) {
    const name = typeof cluster?.cluster_name === 'string' ? cluster.cluster_name : '';
    if (!name) continue;
    const endpoints = new Map<string, ReportedHealth>();
    for (const locality of cluster.locality_endpoints_health ?? []) {
      for (const eh of locality?.endpoints_health ?? []) {
        const address = endpointAddress(eh?.endpoint);
        const health = reportedHealth(eh?.health_status);
        if (!address || !health) continue;
        if (endpoints.get(address) !== 'UNHEALTHY') endpoints.set(address, health);
      }
    }
    reports.push({ cluster: name, endpoints });
  }
  return reports;
}

function reportedHealth(value: HealthStatusValue | undefined): ReportedHealth | undefined {
  switch (value) {
    case 'HEALTHY':
    case 'DEGRADED':
    case 1:
    case 5:
      return 'HEALTHY';
    case 'UNHEALTHY':
    case 'TIMEOUT':
    case 2:
    case 4:
      return 'UNHEALTHY';
    default:
      return undefined;
  }
}

let codec: { responseDeserialize: (bytes: Buffer) => unknown } | undefined;
function specifierCodec(): { responseDeserialize: (bytes: Buffer) => unknown } {
  codec ??= serviceDefinition(HDS_SERVICE).StreamHealthCheck as unknown as {
    responseDeserialize: (bytes: Buffer) => unknown;
  };
  return codec;
}
