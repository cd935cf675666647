/**
 * The control plane's side of Envoy's Health Discovery Service (`envoy.service.health.v3.
 * HealthDiscoveryService`, hds.proto). Registered on the xDS gRPC server (xds-server.ts).
 *
 * Protocol, per stream: the proxy's first message is a HealthCheckRequest (node + capability);
 * the server answers with one HealthCheckSpecifier; the proxy then sends EndpointHealthResponse
 * reports every `interval`. Each report replaces the node's previous one in the HealthAggregate;
 * when the stream ends the node is forgotten (unless a newer stream of the same node took over).
 *
 * Ferry's choice: the specifier's `cluster_health_checks` is empty. Ferry does not hand out
 * extra health-check work; it asks each proxy to report the endpoints it already checks through
 * its clusters' own `health_checks` (CDS), every `interval`. ferry-proxy implements that reading
 * (data-plane/src/xds/hds-client.ts). Envoy itself checks and reports only the clusters named in
 * a specifier, so an Envoy connected here keeps its stream open but reports no endpoints.
 *
 * Health status mapping: HEALTHY and DEGRADED count as healthy (DEGRADED hosts still take
 * traffic); UNHEALTHY and TIMEOUT as unhealthy; UNKNOWN and DRAINING are not counted.
 */
import {
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from '@ferry/shared';
import { groupOf } from '../xds/fleet.js';
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
}

/** Owns the HDS calls of one gRPC server: implementation + lifecycle (close ends every stream). */
export class HdsService {
  readonly #options: HdsServiceOptions;
  readonly #calls = new Set<ServerDuplexStream<any, any>>();
  /** node id → the stream whose reports are current for it. */
  readonly #owner = new Map<string, ServerDuplexStream<any, any>>();

  constructor(options: HdsServiceOptions) {
    this.#options = options;
  }

  implementation(): UntypedServiceImplementation {
    return {
      StreamHealthCheck: (call: ServerDuplexStream<any, any>) => this.#stream(call),
      FetchHealthCheck: (call: ServerUnaryCall<any, any>, callback: sendUnaryData<any>) => {
        const request = call.request;
        if (request?.request_type === 'endpoint_health_response') {
          callback({
            code: status.INVALID_ARGUMENT,
            details: 'FetchHealthCheck: send a health_check_request; reports need a stream',
          });
          return;
        }
        callback(null, this.#specifier());
      },
    };
  }

  /** Ends every HDS stream (proxies reconnect). Idempotent. */
  close(): void {
    for (const call of [...this.#calls]) this.#end(call, undefined);
  }

  #specifier(): Record<string, unknown> {
    const ms = this.#options.intervalMs ?? DEFAULT_HDS_INTERVAL_MS;
    return {
      cluster_health_checks: [],
      interval: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 },
    };
  }

  #stream(call: ServerDuplexStream<any, any>): void {
    this.#calls.add(call);
    let node: { id: string; group: string } | undefined;
    call.on('data', (message: any) => {
      if (message?.request_type === 'health_check_request') {
        const id = message.health_check_request?.node?.id;
        if (typeof id !== 'string' || id === '') {
          this.#end(call, 'HealthCheckRequest.node.id is required');
          return;
        }
        if (node && node.id !== id) this.#forget(node.id, call);
        node = { id, group: groupOf({ cluster: message.health_check_request.node.cluster }) };
        this.#owner.set(id, call);
        this.#options.metrics?.reportingProxies.set(this.#owner.size);
        this.#options.logger.debug({ node: id, group: node.group }, 'HDS stream opened');
        call.write(this.#specifier());
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
    };
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('finish', finish);
    call.on('cancelled', finish);
  }

  #forget(nodeId: string, call: ServerDuplexStream<any, any>): void {
    if (this.#owner.get(nodeId) !== call) return;
    this.#owner.delete(nodeId);
    this.#options.metrics?.reportingProxies.set(this.#owner.size);
    this.#options.aggregate.forget(nodeId);
  }

  #end(call: ServerDuplexStream<any, any>, invalid: string | undefined): void {
    if (!this.#calls.has(call)) return;
    if (invalid) call.emit('error', { code: status.INVALID_ARGUMENT, details: invalid });
    else call.end();
  }
}

/** EndpointHealthResponse (proto-loader form) → per-cluster reports. */
export function clusterReports(response: any): ClusterHealthReport[] {
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

function endpointAddress(endpoint: any): string | undefined {
  const sa = endpoint?.address?.socket_address;
  if (!sa || typeof sa.address !== 'string' || sa.address === '') return undefined;
  const port = Number(sa.port_value ?? 0);
  return sa.address.includes(':') ? `[${sa.address}]:${port}` : `${sa.address}:${port}`;
}

function reportedHealth(value: unknown): ReportedHealth | undefined {
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
