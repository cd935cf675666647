/**
 * The control plane's side of Envoy's Load Reporting Service (`envoy.service.load_stats.v3.
 * LoadReportingService`, lrs.proto). Registered on the xDS gRPC server (xds/xds-server.ts).
 *
 * Protocol, per stream: the proxy's first LoadStatsRequest carries the node (and usually no
 * stats); the server answers one LoadStatsResponse with `send_all_clusters: true` (report every
 * cluster that has `lrs_server` set) and `load_reporting_interval`; the proxy then sends a
 * LoadStatsRequest with `cluster_stats` every interval. Each report is added to the
 * LoadAggregate under the stream's node; when the stream ends the node is forgotten (unless a
 * newer stream of the same node took over).
 */
import { status } from '@grpc/grpc-js';
import type { LiteServerCall, LiteServiceImplementation } from '../grpc-lite/server-call.js';
import type {
  ClusterStatsMessage,
  EndpointLoadMetricStatsMessage,
  DurationMessage,
  LoadStatsRequest,
  LoadStatsResponse,
  UpstreamEndpointStatsMessage,
} from '@ferry/proto/grpc';
import { formatHostPort, type Logger } from '@ferry/shared';
import { groupOf } from '../xds/fleet.js';
import type {
  ClusterLoadReport,
  EndpointLoadReport,
  LoadAggregate,
  LoadMetricReport,
  LocalityLoadReport,
} from './load-aggregate.js';

export const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';

/** Default load_reporting_interval asked of proxies. */
export const DEFAULT_LRS_INTERVAL_MS = 10_000;

export interface LrsServiceOptions {
  readonly aggregate: LoadAggregate;
  readonly logger: Logger;
  /** load_reporting_interval sent to proxies (default 10 s). */
  readonly intervalMs?: number;
}

type LrsCall = LiteServerCall;

/** Owns the LRS calls of one gRPC server: implementation + lifecycle (close ends every stream). */
export class LrsService {
  readonly #options: LrsServiceOptions;
  readonly #calls = new Set<LrsCall>();
  /** node id → the stream whose reports are current for it. */
  readonly #owner = new Map<string, LrsCall>();

  constructor(options: LrsServiceOptions) {
    this.#options = options;
  }

  implementation(): LiteServiceImplementation {
    return { StreamLoadStats: (call) => this.#stream(call) };
  }

  /** Ends every LRS stream (proxies reconnect). Idempotent. */
  close(): void {
    for (const call of [...this.#calls]) {
      this.#calls.delete(call);
      call.end();
    }
  }

  #response(): LoadStatsResponse {
    const ms = this.#options.intervalMs ?? DEFAULT_LRS_INTERVAL_MS;
    return {
      clusters: [],
      send_all_clusters: true,
      load_reporting_interval: {
        seconds: String(Math.floor(ms / 1000)),
        nanos: (ms % 1000) * 1_000_000,
      },
    };
  }

  #stream(call: LrsCall): void {
    this.#calls.add(call);
    let node: { id: string; group: string } | undefined;
    call.on('data', (request: LoadStatsRequest) => {
      if (!node) {
        const id = request?.node?.id;
        if (typeof id !== 'string' || id === '') {
          this.#calls.delete(call);
          call.emit('error', {
            code: status.INVALID_ARGUMENT,
            details: 'the first LoadStatsRequest must carry node.id',
          });
          return;
        }
        node = { id, group: groupOf({ cluster: request.node?.cluster }) };
        this.#owner.set(id, call);
        this.#options.logger.debug({ node: id, group: node.group }, 'LRS stream opened');
        call.write(this.#response());
      }
      const stats = clusterLoadReports(request?.cluster_stats);
      if (stats.length === 0) return;
      this.#owner.set(node.id, call);
      this.#options.aggregate.report(node.id, node.group, stats);
    });
    const finish = (): void => {
      this.#calls.delete(call);
      if (node && this.#owner.get(node.id) === call) {
        this.#owner.delete(node.id);
        this.#options.aggregate.forget(node.id);
      }
    };
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('close', finish);
    call.on('cancelled', finish);
  }
}

/** LoadStatsRequest.cluster_stats (proto-loader form: int64 as strings) → internal reports. */
export function clusterLoadReports(
  clusterStats: readonly ClusterStatsMessage[] | undefined,
): ClusterLoadReport[] {
  if (!Array.isArray(clusterStats)) return [];
  const reports: ClusterLoadReport[] = [];
  for (const stats of clusterStats as readonly (ClusterStatsMessage | undefined)[]) {
    const cluster = typeof stats?.cluster_name === 'string' ? stats.cluster_name : '';
    if (!cluster) continue;
    const localities: LocalityLoadReport[] = [];
    for (const l of stats?.upstream_locality_stats ?? []) {
      localities.push({
        locality: {
          region: String(l?.locality?.region ?? ''),
          zone: String(l?.locality?.zone ?? ''),
          subZone: String(l?.locality?.sub_zone ?? ''),
        },
        successful: count(l?.total_successful_requests),
        error: count(l?.total_error_requests),
        issued: count(l?.total_issued_requests),
        inProgress: count(l?.total_requests_in_progress),
        metrics: loadMetrics(l?.load_metric_stats),
        endpoints: endpointLoads(l?.upstream_endpoint_stats),
      });
    }
    const intervalMs = durationMs(stats?.load_report_interval);
    reports.push({
      cluster,
      localities,
      dropped: count(stats?.total_dropped_requests),
      ...(intervalMs !== undefined ? { intervalMs } : {}),
    });
  }
  return reports;
}

/**
 * A locality's UpstreamEndpointStats that carry named load metrics, by `host:port` (what the
 * control plane keeps of them: ferry-proxy's outlier metrics); others are skipped.
 */
function endpointLoads(stats: unknown): EndpointLoadReport[] {
  if (!Array.isArray(stats)) return [];
  const out: EndpointLoadReport[] = [];
  for (const e of stats as readonly (UpstreamEndpointStatsMessage | undefined)[]) {
    const socket = e?.address?.socket_address;
    const host = typeof socket?.address === 'string' ? socket.address : '';
    const port = Number(socket?.port_value ?? 0);
    const metrics = loadMetrics(e?.load_metric_stats);
    if (host === '' || !Number.isInteger(port) || port < 0 || port > 65535 || metrics.length === 0)
      continue;
    out.push({ address: formatHostPort(host, port), metrics });
  }
  return out;
}

/** The named load metrics of a locality; nameless or malformed entries are skipped. */
function loadMetrics(stats: unknown): LoadMetricReport[] {
  if (!Array.isArray(stats)) return [];
  const out: LoadMetricReport[] = [];
  for (const m of stats as readonly (EndpointLoadMetricStatsMessage | undefined)[]) {
    const name = typeof m?.metric_name === 'string' ? m.metric_name : '';
    const total = Number(m?.total_metric_value ?? 0);
    if (name === '' || !Number.isFinite(total) || total < 0) continue;
    out.push({ name, requests: count(m?.num_requests_finished_with_metric), total });
  }
  return out;
}

function count(value: unknown): number {
  const n = Number(value ?? 0);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

function durationMs(duration: DurationMessage | undefined): number | undefined {
  if (!duration || typeof duration !== 'object') return undefined;
  const ms = Number(duration.seconds ?? 0) * 1000 + Math.floor(Number(duration.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) ? ms : undefined;
}
