/**
 * Central health checking over HDS: for clusters that opt in, the control plane hands the
 * cluster's active health checks to a few proxies of each group instead of letting every proxy
 * check every endpoint (N proxies × M endpoints of probes), and the quorum rule (quorum.ts) turns
 * what those checkers report into EDS health for the whole group.
 *
 *   metadata:
 *     filter_metadata:
 *       ferry.hds:
 *         checkers: 2        # proxies per group (and per replica) that run the cluster's checks
 *
 * What changes on the wire, all derived from the store's content (equal on every replica):
 * - CDS: the cluster is served without `health_checks` (health-overlay.ts), so proxies don't
 *   check it themselves;
 * - HDS: the chosen checkers get a HealthCheckSpecifier with a ClusterHealthCheck naming the
 *   cluster, its `health_checks` and the endpoints of its stored ClusterLoadAssignment;
 * - EDS: endpoints that more than `unhealthy_percent` of the reporting checkers see down are
 *   served UNHEALTHY (the quorum rule, with `ferry.health_quorum`'s setting or its defaults).
 *
 * Checkers are chosen by rendezvous hashing of (cluster, node id) over the group's proxies that
 * hold an HDS stream to this replica, so a proxy joining or leaving moves only its own share.
 * With several replicas each one picks `checkers` among its own proxies.
 */
import { createHash } from 'node:crypto';
import { fail, ok, type Result } from '@ferry/proto';

export const HDS_METADATA_KEY = 'ferry.hds';

export interface HdsSetting {
  /** Proxies per group that run the cluster's health checks. */
  readonly checkers: number;
}

export const DEFAULT_CHECKERS = 2;

type Json = Record<string, unknown>;

/** Reads a Cluster's (proto3 JSON) HDS setting; undefined when it does not opt in. */
export function hdsSettingOf(cluster: Json): Result<HdsSetting | undefined> {
  const filterMetadata = (cluster.metadata as Json | undefined)?.filter_metadata as
    Json | undefined;
  const raw = filterMetadata?.[HDS_METADATA_KEY];
  if (raw === undefined) return ok(undefined);
  const path = `metadata.filter_metadata["${HDS_METADATA_KEY}"]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail([`${path}: must be an object, e.g. {"checkers": 2}`]);
  }
  const errors: string[] = [];
  let checkers = DEFAULT_CHECKERS;
  for (const [key, value] of Object.entries(raw as Json)) {
    if (key === 'checkers') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        errors.push(`${path}.checkers: must be an integer >= 1, got ${JSON.stringify(value)}`);
      } else checkers = value;
    } else {
      errors.push(`${path}.${key}: unknown field (known: checkers)`);
    }
  }
  const checks = cluster.health_checks;
  if (!Array.isArray(checks) || checks.length === 0) {
    errors.push(`${path}: the cluster needs health_checks for the control plane to hand out`);
  }
  return errors.length > 0 ? fail(errors) : ok({ checkers });
}

/** The `k` checkers of `cluster` among `nodes` (rendezvous hashing; deterministic). */
export function chooseCheckers(cluster: string, nodes: Iterable<string>, k: number): Set<string> {
  const scored = [...new Set(nodes)].map((node) => ({
    node,
    score: createHash('sha256').update(cluster).update('\0').update(node).digest('hex'),
  }));
  scored.sort((a, b) => (a.score < b.score ? 1 : a.score > b.score ? -1 : 0));
  return new Set(scored.slice(0, k).map((s) => s.node));
}

/** What the control plane hands out for one cluster (proto3 JSON pieces). */
export interface HdsClusterWork {
  readonly cluster: string;
  readonly checkers: number;
  /** The Cluster's `health_checks` as stored. */
  readonly healthChecks: readonly Json[];
  /** LocalityEndpoints: `{ locality?, endpoints: Endpoint[] }` from the stored assignment. */
  readonly localityEndpoints: readonly Json[];
}

/** ClusterLoadAssignment (proto3 JSON) → HDS LocalityEndpoints (proto3 JSON). */
export function localityEndpointsOf(assignment: Json): Json[] {
  const out: Json[] = [];
  for (const locality of (assignment.endpoints as Json[] | undefined) ?? []) {
    const endpoints: Json[] = [];
    for (const lb of (locality.lb_endpoints as Json[] | undefined) ?? []) {
      if (lb.endpoint) endpoints.push(lb.endpoint as Json);
    }
    if (endpoints.length === 0) continue;
    out.push({ ...(locality.locality ? { locality: locality.locality } : {}), endpoints });
  }
  return out;
}

/** The ClusterHealthCheck list (proto3 JSON) for `nodeId`, one of the group's `nodes`. */
export function clusterHealthChecksFor(
  work: readonly HdsClusterWork[],
  nodeId: string,
  nodes: readonly string[],
): Json[] {
  const out: Json[] = [];
  for (const w of work) {
    if (w.localityEndpoints.length === 0) continue;
    if (!chooseCheckers(w.cluster, nodes, w.checkers).has(nodeId)) continue;
    out.push({
      cluster_name: w.cluster,
      health_checks: w.healthChecks,
      locality_endpoints: w.localityEndpoints,
    });
  }
  return out;
}
