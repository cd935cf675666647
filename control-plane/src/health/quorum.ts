/**
 * The health quorum rule: for clusters that opt in, endpoints that more than a given
 * share of a group's proxies see unhealthy are served as UNHEALTHY in the group's EDS, so every
 * proxy of the group (and a real Envoy or a proxyless gRPC client in it, which may not check
 * health at all) stops sending them traffic.
 *
 * Opting in is per cluster, in the Cluster resource itself, under a metadata namespace that
 * Envoy and gRPC ignore:
 *
 *   metadata:
 *     filter_metadata:
 *       ferry.health_quorum:
 *         unhealthy_percent: 50   # marked when MORE than 50% of the proxies checking it see it down
 *         min_proxies: 2          # and at least 2 proxies check it
 *
 * Replicas: each proxy's view of those clusters is stored as a NodeHealthReport
 * (proto/ferry/v1/health.proto), a leased record of the store held by the replica holding the
 * proxy's HDS stream (health-report-writer.ts), and the verdict is a pure function of the store's
 * content, so every replica serves the same EDS bytes and versions (health-overlay.ts applies it). The proxies' reports come from their own active
 * checks only, never from EDS health_status, so a marked endpoint is still checked and comes back
 * once enough proxies see it healthy again.
 */
import {
  binaryToJson,
  contentVersion,
  fail,
  jsonToBinary,
  ok,
  sortKeysDeep,
  type Result,
} from '@ferry/proto';
import type { EndpointMessage } from '@ferry/proto/grpc';
import { formatHostPort } from '@ferry/shared';

export const QUORUM_METADATA_KEY = 'ferry.health_quorum';
/**
 * The type URL under which versions before leased records stored the reports as resources; only
 * read to remove such leftovers (health-report-writer.ts).
 */
export const NODE_HEALTH_REPORT_TYPE = 'type.googleapis.com/ferry.v1.NodeHealthReport';
/** The leased-record namespace of the reports (ResourceStore.putLeased), keyed by node id. */
export const HEALTH_REPORTS_NAMESPACE = 'health-reports';
export const NODE_HEALTH_REPORT_MESSAGE = 'ferry.v1.NodeHealthReport';

export interface QuorumSetting {
  /** Marked when more than this percentage of the proxies checking an endpoint see it unhealthy. */
  readonly unhealthyPercent: number;
  /** And at least this many proxies check it. */
  readonly minProxies: number;
}

export const DEFAULT_QUORUM: QuorumSetting = { unhealthyPercent: 50, minProxies: 1 };

type Json = Record<string, unknown>;

/**
 * Reads a Cluster's (proto3 JSON) quorum setting; undefined when it does not opt in. Errors name
 * the field path, e.g. `metadata.filter_metadata["ferry.health_quorum"].min_proxies: ...`.
 */
export function quorumSettingOf(cluster: Json): Result<QuorumSetting | undefined> {
  const filterMetadata = (cluster.metadata as Json | undefined)?.filter_metadata as
    Json | undefined;
  const raw = filterMetadata?.[QUORUM_METADATA_KEY];
  if (raw === undefined) return ok(undefined);
  const path = `metadata.filter_metadata["${QUORUM_METADATA_KEY}"]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail([`${path}: must be an object with unhealthy_percent and/or min_proxies`]);
  }
  const errors: string[] = [];
  let unhealthyPercent = DEFAULT_QUORUM.unhealthyPercent;
  let minProxies = DEFAULT_QUORUM.minProxies;
  for (const [key, value] of Object.entries(raw as Json)) {
    if (key === 'unhealthy_percent') {
      if (typeof value !== 'number' || !(value >= 0 && value < 100)) {
        errors.push(
          `${path}.unhealthy_percent: must be a number in [0, 100), got ${JSON.stringify(value)}`,
        );
      } else unhealthyPercent = value;
    } else if (key === 'min_proxies') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        errors.push(`${path}.min_proxies: must be an integer >= 1, got ${JSON.stringify(value)}`);
      } else minProxies = value;
    } else {
      errors.push(`${path}.${key}: unknown field (known: unhealthy_percent, min_proxies)`);
    }
  }
  return errors.length > 0 ? fail(errors) : ok({ unhealthyPercent, minProxies });
}

/** One proxy's view of one cluster: endpoints it checks and the ones it sees unhealthy. */
export interface ClusterView {
  readonly checked: ReadonlySet<string>;
  readonly unhealthy: ReadonlySet<string>;
}

/** The endpoints ("host:port") the quorum rule marks unhealthy, given every proxy's view. */
export function quorumUnhealthy(setting: QuorumSetting, views: Iterable<ClusterView>): Set<string> {
  const checkedBy = new Map<string, number>();
  const unhealthyBy = new Map<string, number>();
  for (const view of views) {
    for (const a of view.checked) checkedBy.set(a, (checkedBy.get(a) ?? 0) + 1);
    for (const a of view.unhealthy) unhealthyBy.set(a, (unhealthyBy.get(a) ?? 0) + 1);
  }
  const marked = new Set<string>();
  for (const [address, unhealthy] of unhealthyBy) {
    const checked = checkedBy.get(address) ?? 0;
    if (checked >= setting.minProxies && unhealthy * 100 > setting.unhealthyPercent * checked) {
      marked.add(address);
    }
  }
  return marked;
}

/** A NodeHealthReport as stored (proto3 JSON form). */
export interface NodeHealthReportJson {
  node_id: string;
  group: string;
  replica: string;
  clusters: Array<{ cluster: string; checked: string[]; unhealthy: string[] }>;
}

export function encodeNodeHealthReport(report: NodeHealthReportJson): {
  value: Uint8Array;
  version: string;
} {
  const bytes = jsonToBinary(NODE_HEALTH_REPORT_MESSAGE, sortKeysDeep(report));
  if (!bytes.ok) throw new Error(`NodeHealthReport: ${bytes.errors.join('; ')}`);
  return { value: bytes.value, version: contentVersion(bytes.value) };
}

export function decodeNodeHealthReport(value: Uint8Array): NodeHealthReportJson {
  const json = binaryToJson(NODE_HEALTH_REPORT_MESSAGE, value) as Partial<NodeHealthReportJson>;
  return {
    node_id: json.node_id ?? '',
    group: json.group ?? '',
    replica: json.replica ?? '',
    clusters: (json.clusters ?? []).map((c) => ({
      cluster: c.cluster ?? '',
      checked: c.checked ?? [],
      unhealthy: c.unhealthy ?? [],
    })),
  };
}

/**
 * An Endpoint's socket address as the health views key it: "host:port", "[v6]:port"; undefined
 * without one. Reads proto3 JSON and proto-loader objects alike (same field names).
 */
export function endpointAddress(endpoint: unknown): string | undefined {
  const sa = (endpoint as EndpointMessage | undefined)?.address?.socket_address;
  if (!sa || typeof sa.address !== 'string' || sa.address === '') return undefined;
  const port = Number(sa.port_value ?? 0);
  return formatHostPort(sa.address, port);
}
