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
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { serviceClient } from '@ferry/proto/grpc';
import type { Logger } from '@ferry/shared';
import type { HostHealthView } from '../health/health-manager.js';
import type { BackoffOptions } from './ads-client.js';
import type { JsonObject } from './resource-set.js';

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

export class HdsClient {
  readonly #options: HdsClientOptions;
  readonly #client: any;
  readonly #backoff: BackoffOptions;
  #call: ClientDuplexStream<any, any> | undefined;
  #reportTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;

  constructor(options: HdsClientOptions) {
    this.#options = options;
    const Client = serviceClient(HDS_SERVICE);
    this.#client = new Client(options.target, credentials.createInsecure());
    this.#backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
  }

  start(): void {
    if (this.#closed || this.#call) return;
    this.#open();
  }

  /** Ends the stream and stops reporting and reconnecting. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#reportTimer);
    const call = this.#call;
    this.#call = undefined;
    if (call) {
      call.removeAllListeners();
      call.on('error', () => undefined);
      call.cancel();
    }
    this.#client.close();
  }

  destroy(): void {
    this.close();
  }

  #open(): void {
    const call: ClientDuplexStream<any, any> = this.#client.StreamHealthCheck();
    this.#call = call;
    call.on('data', (specifier: any) => this.#onSpecifier(call, specifier));
    call.on('error', (err: Error) => this.#onEnd(call, err.message));
    call.on('end', () => this.#onEnd(call, 'stream ended by the server'));
    call.write({
      health_check_request: {
        node: this.#options.node,
        // Envoy's Capability lists the protocols it can check for the server; ferry-proxy checks
        // HTTP and TCP (gRPC checks run over HTTP/2 and have no enum value here).
        capability: { health_check_protocols: ['HTTP', 'TCP'] },
      },
    });
  }

  #onSpecifier(call: ClientDuplexStream<any, any>, specifier: any): void {
    if (call !== this.#call) return;
    this.#attempt = 0;
    const intervalMs = Math.max(MIN_INTERVAL_MS, durationMs(specifier?.interval) ?? 5_000);
    clearInterval(this.#reportTimer);
    this.#report(call);
    this.#reportTimer = setInterval(() => this.#report(call), intervalMs);
    this.#reportTimer.unref();
  }

  #report(call: ClientDuplexStream<any, any>): void {
    if (call !== this.#call) return;
    call.write({ endpoint_health_response: endpointHealthResponse(this.#options.view()) });
  }

  #onEnd(call: ClientDuplexStream<any, any>, reason: string): void {
    if (call !== this.#call) return;
    this.#call = undefined;
    clearInterval(this.#reportTimer);
    call.removeAllListeners();
    call.on('error', () => undefined);
    call.cancel();
    if (this.#closed) return;
    const delay = Math.min(
      this.#backoff.maxMs,
      this.#backoff.initialMs * 2 ** Math.min(this.#attempt, 16),
    );
    this.#attempt += 1;
    const jittered = Math.floor(delay * (0.5 + Math.random() * 0.5));
    this.#options.logger.debug(
      { target: this.#options.target, reason, retry_in_ms: jittered },
      'HDS stream failed; reconnecting',
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#closed) this.#open();
    }, jittered);
    this.#retryTimer.unref();
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

function durationMs(duration: any): number | undefined {
  if (!duration || typeof duration !== 'object') return undefined;
  const ms = Number(duration.seconds ?? 0) * 1000 + Math.floor(Number(duration.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
