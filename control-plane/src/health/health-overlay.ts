/**
 * The health rules' effect on what the xDS layer serves (a SnapshotOverlay, ../xds/snapshot-cache.ts):
 * - EDS: endpoints a quorum of the group's proxies sees unhealthy are served UNHEALTHY (quorum.ts);
 * - CDS: clusters whose health checks the control plane hands out over HDS (hds-assignment.ts)
 *   are served without `health_checks`.
 * It also keeps, per group, the HDS work to hand out, and tells the HDS server when it changes.
 *
 * Everything here is a pure function of the store's content (Clusters and ClusterLoadAssignments,
 * from its revisions, and the proxies' health reports, leased records of the namespace
 * HEALTH_REPORTS_NAMESPACE), so every replica serves the same bytes and versions for the same store
 * content (docs/architecture.md, "The store").
 */
import { binaryToJson, contentVersion, jsonToBinary, sortKeysDeep } from '@ferry/proto';
import type { LeasedEvent, Mutation } from '../store/store.js';
import type { SnapshotOverlay } from '../xds/snapshot-cache.js';
import { hdsSettingOf, localityEndpointsOf, type HdsClusterWork } from './hds-assignment.js';
import {
  DEFAULT_QUORUM,
  decodeNodeHealthReport,
  endpointAddress,
  quorumSettingOf,
  quorumUnhealthy,
  type ClusterView,
  type QuorumSetting,
} from './quorum.js';

const CDS_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const CDS_MESSAGE = 'envoy.config.cluster.v3.Cluster';
const EDS_MESSAGE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';

type Json = Record<string, unknown>;

/** A served resource, as the snapshot cache holds it. */
export interface OverlayResource {
  readonly name: string;
  readonly version: string;
  readonly value: Buffer;
}

interface ClusterRules {
  readonly quorum: QuorumSetting | undefined;
  readonly hds: { checkers: number; healthChecks: Json[] } | undefined;
}

export interface HealthOverlayOptions {
  /** A stored resource the rules cannot use (a bad setting from an older version's store). */
  readonly onInvalid?: (message: string) => void;
  /** The HDS work of `group` changed (a cluster opted in or out, its checks or endpoints changed). */
  readonly onHdsWorkChanged?: (group: string) => void;
}

export class HealthOverlay implements SnapshotOverlay {
  readonly typeUrls: ReadonlySet<string> = new Set([EDS_TYPE, CDS_TYPE]);
  /** group → cluster → rules (only clusters with at least one rule). */
  readonly #rules = new Map<string, Map<string, ClusterRules>>();
  /** group → cluster → LocalityEndpoints of the stored assignment (HDS clusters only). */
  readonly #endpoints = new Map<string, Map<string, Json[]>>();
  /** group → stored assignment bytes by cluster, kept for clusters that may opt in later. */
  readonly #assignments = new Map<string, Map<string, Uint8Array>>();
  /** group → node id → cluster → view. */
  readonly #reports = new Map<string, Map<string, Map<string, ClusterView>>>();
  /** node id → the group its report is in. */
  readonly #reportGroups = new Map<string, string>();
  /** Last transform per (type, group, name): reused while neither input changed. */
  readonly #memo = new Map<string, { key: string; out: OverlayResource }>();
  readonly #onInvalid: (message: string) => void;
  onHdsWorkChanged: ((group: string) => void) | undefined;

  constructor(options: HealthOverlayOptions = {}) {
    this.#onInvalid = options.onInvalid ?? (() => {});
    this.onHdsWorkChanged = options.onHdsWorkChanged;
  }

  observe(m: Mutation): ReadonlyArray<readonly [string, string]> {
    if (m.typeUrl === CDS_TYPE) return this.#observeCluster(m);
    if (m.typeUrl === EDS_TYPE) {
      this.#observeAssignment(m);
      return [];
    }
    // NodeHealthReport resources left by an older version are ignored: reports are leased
    // records now (observeReports).
    return [];
  }

  /**
   * The proxies' reports changed (a watch of the leased namespace HEALTH_REPORTS_NAMESPACE, keyed
   * by node id); names the snapshots to rebuild.
   */
  observeReports(event: LeasedEvent): ReadonlyArray<readonly [string, string]> {
    const groups = new Set<string>();
    if (event.reset) {
      for (const group of this.#reports.keys()) groups.add(group);
      this.#reports.clear();
      this.#reportGroups.clear();
    }
    for (const key of event.deletes) {
      const group = this.#dropReport(key);
      if (group !== undefined) groups.add(group);
    }
    for (const record of event.puts) {
      const before = this.#dropReport(record.key);
      if (before !== undefined) groups.add(before);
      let report;
      try {
        report = decodeNodeHealthReport(record.value);
      } catch (err) {
        this.#onInvalid(`health report of node "${record.key}": ${(err as Error).message}`);
        continue;
      }
      const byCluster = new Map<string, ClusterView>();
      for (const c of report.clusters) {
        byCluster.set(c.cluster, { checked: new Set(c.checked), unhealthy: new Set(c.unhealthy) });
      }
      let byNode = this.#reports.get(report.group);
      if (!byNode) {
        this.#reports.set(report.group, (byNode = new Map<string, Map<string, ClusterView>>()));
      }
      byNode.set(record.key, byCluster);
      this.#reportGroups.set(record.key, report.group);
      groups.add(report.group);
    }
    return [...groups].map((group) => [group, EDS_TYPE] as const);
  }

  /** The quorum setting of a cluster that uses the rule (explicitly, or through HDS). */
  setting(group: string, cluster: string): QuorumSetting | undefined {
    return this.#rules.get(group)?.get(cluster)?.quorum;
  }

  /** The endpoints the quorum marks in `cluster` of `group`. */
  marked(group: string, cluster: string): Set<string> {
    const setting = this.setting(group, cluster);
    if (!setting) return new Set();
    const views: ClusterView[] = [];
    for (const byCluster of this.#reports.get(group)?.values() ?? []) {
      const view = byCluster.get(cluster);
      if (view) views.push(view);
    }
    return quorumUnhealthy(setting, views);
  }

  /** The clusters of `group` whose checks are handed out over HDS, sorted by name. */
  hdsWork(group: string): HdsClusterWork[] {
    const work: HdsClusterWork[] = [];
    for (const [cluster, rules] of this.#rules.get(group) ?? []) {
      if (!rules.hds) continue;
      work.push({
        cluster,
        checkers: rules.hds.checkers,
        healthChecks: rules.hds.healthChecks,
        localityEndpoints: this.#endpoints.get(group)?.get(cluster) ?? [],
      });
    }
    return work.sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  }

  transform(group: string, typeUrl: string, resource: OverlayResource): OverlayResource {
    if (typeUrl === EDS_TYPE) return this.#transformAssignment(group, resource, true);
    if (typeUrl === CDS_TYPE) return this.#transformCluster(group, resource, true);
    return resource;
  }

  /**
   * What `transform` would serve for `resource` (one that may never be stored: the pre-flight's),
   * leaving the overlay's memo untouched.
   */
  preview(group: string, typeUrl: string, resource: OverlayResource): OverlayResource {
    if (typeUrl === EDS_TYPE) return this.#transformAssignment(group, resource, false);
    if (typeUrl === CDS_TYPE) return this.#transformCluster(group, resource, false);
    return resource;
  }

  /** Endpoints the quorum marks get health_status UNHEALTHY (an operator's non-healthy status wins). */
  #transformAssignment(group: string, resource: OverlayResource, record: boolean): OverlayResource {
    const marked = this.marked(group, resource.name);
    if (marked.size === 0) return resource;
    return this.#memoised(
      record,
      `eds|${group}|${resource.name}`,
      `${resource.version}|${[...marked].sort().join(',')}`,
      () => {
        const cla = binaryToJson(EDS_MESSAGE, resource.value) as Json;
        let changed = false;
        for (const locality of (cla.endpoints as Json[] | undefined) ?? []) {
          for (const lb of (locality.lb_endpoints as Json[] | undefined) ?? []) {
            const address = endpointAddress(lb.endpoint);
            const status = (lb.health_status as string | undefined) ?? 'UNKNOWN';
            if (address === undefined || !marked.has(address)) continue;
            if (status !== 'UNKNOWN' && status !== 'HEALTHY') continue;
            lb.health_status = 'UNHEALTHY';
            changed = true;
          }
        }
        return changed ? this.#encode(EDS_MESSAGE, resource, cla) : resource;
      },
    );
  }

  /** HDS clusters are served without their health checks: the checkers run them. */
  #transformCluster(group: string, resource: OverlayResource, record: boolean): OverlayResource {
    if (!this.#rules.get(group)?.get(resource.name)?.hds) return resource;
    return this.#memoised(record, `cds|${group}|${resource.name}`, resource.version, () => {
      const cluster = binaryToJson(CDS_MESSAGE, resource.value) as Json;
      delete cluster.health_checks;
      return this.#encode(CDS_MESSAGE, resource, cluster);
    });
  }

  #memoised(
    record: boolean,
    id: string,
    key: string,
    build: () => OverlayResource,
  ): OverlayResource {
    const memo = this.#memo.get(id);
    if (memo?.key === key) return memo.out;
    const out = build();
    if (record) this.#memo.set(id, { key, out });
    return out;
  }

  #encode(message: string, resource: OverlayResource, json: Json): OverlayResource {
    const bytes = jsonToBinary(message, sortKeysDeep(json));
    if (!bytes.ok) {
      this.#onInvalid(`health overlay of ${resource.name}: ${bytes.errors.join('; ')}`);
      return resource;
    }
    const value = Buffer.from(bytes.value);
    return { name: resource.name, version: contentVersion(value), value };
  }

  #observeCluster(m: Mutation): ReadonlyArray<readonly [string, string]> {
    const before = this.#rules.get(m.group)?.get(m.name);
    let after: ClusterRules | undefined;
    if (m.op === 'put') {
      const json = binaryToJson(CDS_MESSAGE, m.value) as Json;
      const quorum = quorumSettingOf(json);
      const hds = hdsSettingOf(json);
      // Validation refuses bad settings on apply; a bad one here came from elsewhere (an older
      // version's store): the cluster is served without the rule, and the operator is told.
      if (!quorum.ok) this.#onInvalid(`Cluster "${m.name}": ${quorum.errors.join('; ')}`);
      if (!hds.ok) this.#onInvalid(`Cluster "${m.name}": ${hds.errors.join('; ')}`);
      const hdsRule =
        hds.ok && hds.value
          ? { checkers: hds.value.checkers, healthChecks: json.health_checks as Json[] }
          : undefined;
      const quorumRule = (quorum.ok ? quorum.value : undefined) ?? (hdsRule && DEFAULT_QUORUM);
      if (quorumRule || hdsRule) after = { quorum: quorumRule, hds: hdsRule };
    }
    let byCluster = this.#rules.get(m.group);
    if (after) {
      if (!byCluster) this.#rules.set(m.group, (byCluster = new Map<string, ClusterRules>()));
      byCluster.set(m.name, after);
    } else {
      byCluster?.delete(m.name);
    }
    const rebuild: Array<readonly [string, string]> = [];
    if (JSON.stringify(before?.quorum) !== JSON.stringify(after?.quorum)) {
      rebuild.push([m.group, EDS_TYPE]);
    }
    if (JSON.stringify(before?.hds) !== JSON.stringify(after?.hds)) {
      // The served Cluster changes shape (health checks in or out) and the HDS work changes.
      rebuild.push([m.group, CDS_TYPE]);
      this.#refreshEndpoints(m.group, m.name);
      this.onHdsWorkChanged?.(m.group);
    }
    return rebuild;
  }

  #observeAssignment(m: Mutation): void {
    let byCluster = this.#assignments.get(m.group);
    if (m.op === 'put') {
      if (!byCluster) this.#assignments.set(m.group, (byCluster = new Map<string, Uint8Array>()));
      byCluster.set(m.name, m.value);
    } else {
      byCluster?.delete(m.name);
    }
    if (this.#rules.get(m.group)?.get(m.name)?.hds) {
      this.#refreshEndpoints(m.group, m.name);
      this.onHdsWorkChanged?.(m.group);
    }
  }

  #refreshEndpoints(group: string, cluster: string): void {
    let byCluster = this.#endpoints.get(group);
    const stored = this.#assignments.get(group)?.get(cluster);
    if (!this.#rules.get(group)?.get(cluster)?.hds || !stored) {
      byCluster?.delete(cluster);
      return;
    }
    if (!byCluster) this.#endpoints.set(group, (byCluster = new Map<string, Json[]>()));
    byCluster.set(cluster, localityEndpointsOf(binaryToJson(EDS_MESSAGE, stored) as Json));
  }

  /** Forgets a node's report; returns the group it was in. */
  #dropReport(nodeId: string): string | undefined {
    const group = this.#reportGroups.get(nodeId);
    if (group === undefined) return undefined;
    this.#reportGroups.delete(nodeId);
    const byNode = this.#reports.get(group);
    byNode?.delete(nodeId);
    if (byNode?.size === 0) this.#reports.delete(group);
    return group;
  }
}
