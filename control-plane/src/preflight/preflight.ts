/**
 * Pre-flight (docs/architecture.md, "Pre-flight"): before a write is stored, the group's
 * resulting resources, as the snapshot cache would serve them (overlays applied), go through
 * ferry-proxy's own translator (@ferry/data-plane/translator), the one bundled with this control
 * plane. The result names, per resource, the errors with their field paths, and, per connected
 * proxy of the group, whether it was pre-checked and what it would do.
 *
 * Version rule: a node is pre-checked when its user_agent_name is "ferry-proxy" and its
 * user_agent_version equals the bundled translator's version exactly (both are the data-plane
 * package's version). Any other node (another ferry-proxy version, Envoy, gRPC xDS clients) is
 * listed as not pre-checked: its own ACK or NACK judges the push.
 *
 * Refusal rule: a write is refused when at least one pre-checked proxy is connected and a
 * resource that the change creates or updates, or one that it breaks (accepted before, rejected
 * after), would be rejected by the translator, hence by every pre-checked proxy. Resources that
 * were already rejected before the change are reported, never a reason to refuse. With no
 * pre-checked proxy connected, the findings are warnings and the write goes ahead.
 */
import {
  checkResources,
  PROXY_USER_AGENT,
  proxyVersion,
  subscribedResources,
  type JsonObject,
  type ResourceFinding,
} from '@ferry/data-plane/translator';
import {
  resourceToJson,
  resourceTypeByKind,
  resourceTypeByUrl,
  type JsonValue,
} from '@ferry/proto';
import type { PreviewableOverlay } from '../xds/snapshot-overlay-chain.js';
import type {
  PreflightProxy,
  PreflightReport,
  PreflightResourceReport,
} from './preflight-types.js';

export type {
  PreflightProxy,
  PreflightReport,
  PreflightResourceReport,
} from './preflight-types.js';

/** A resource of the group after (or before) the change, as stored. */
export interface PreflightResource {
  readonly typeUrl: string;
  readonly name: string;
  /** Content version of `value`. */
  readonly version: string;
  readonly value: Uint8Array;
  /** `value` decoded (normalised proto3 JSON, without "@type"). */
  readonly json: Record<string, JsonValue>;
}

/** The parts of an xDS Node the pre-flight reads. */
export interface PreflightNodeIdentity {
  readonly id: string;
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
}

/** The proxies connected now (xds/fleet.ts's FleetTracker). */
export interface PreflightFleet {
  connectedNodes(group: string): readonly PreflightNodeIdentity[];
}

export interface PreflightOptions {
  readonly fleet: PreflightFleet;
  /**
   * The snapshot cache's overlay: resources are checked as they would be served. Its `preview`
   * is used, never `transform`, so that checking a write that is then refused leaves what the
   * overlays record about the served resources untouched.
   */
  readonly overlay?: PreviewableOverlay;
  /** The bundled translator's version (default: the data-plane package's). */
  readonly translatorVersion?: string;
  /**
   * How many proxies a report names (default 100; the counts cover all): a fleet of thousands
   * would otherwise make every write's response as large as the fleet.
   */
  readonly listLimit?: number;
}

export interface PreflightInput {
  readonly group: string;
  /** The group's resources after the change. */
  readonly after: readonly PreflightResource[];
  /** Keys (preflightKey) of the resources the change creates or updates. */
  readonly changed: ReadonlySet<string>;
  /**
   * The group's resources before the change; read only when a resource the change does not put
   * is rejected after it (was it already?).
   */
  readonly before: () => readonly PreflightResource[];
}

const LDS = resourceTypeByKind('Listener').typeUrl;
const RDS = resourceTypeByKind('RouteConfiguration').typeUrl;
const CDS = resourceTypeByKind('Cluster').typeUrl;
const EDS = resourceTypeByKind('ClusterLoadAssignment').typeUrl;
const SDS = resourceTypeByKind('Secret').typeUrl;
const TYPE_OF_KIND: Readonly<Record<ResourceFinding['kind'], string>> = {
  Listener: LDS,
  RouteConfiguration: RDS,
  Cluster: CDS,
  ClusterLoadAssignment: EDS,
  Secret: SDS,
};
/** Overlay output decoded, by type URL + content version. */
const DECODE_CACHE_LIMIT = 5_000;

export function preflightKey(typeUrl: string, name: string): string {
  return `${typeUrl}\u0000${name}`;
}

export class Preflight {
  private readonly fleet: PreflightFleet;
  private readonly overlay: PreviewableOverlay | undefined;
  readonly translatorVersion: string;
  private readonly listLimit: number;
  private readonly decoded = new Map<string, Record<string, JsonValue>>();

  constructor(options: PreflightOptions) {
    this.fleet = options.fleet;
    this.overlay = options.overlay;
    this.translatorVersion = options.translatorVersion ?? proxyVersion();
    this.listLimit = options.listLimit ?? 100;
  }

  run(input: PreflightInput): PreflightReport {
    const { group, changed } = input;
    const findings = this.translate(group, input.after);
    const checked = findings.length;
    const failing = findings.filter((f) => f.errors.length > 0);
    let alreadyRejected: ReadonlySet<string> = new Set();
    if (failing.some((f) => !changed.has(keyOfFinding(f)))) {
      alreadyRejected = new Set(
        this.translate(group, input.before())
          .filter((f) => f.errors.length > 0)
          .map(keyOfFinding),
      );
    }

    // Per connected proxy only a version check: a replica's fleet is thousands of proxies, and
    // the report names the first `listLimit` of them.
    const connected = this.fleet.connectedNodes(group);
    const checkedNodes: PreflightNodeIdentity[] = [];
    for (const node of connected) if (this.preChecked(node)) checkedNodes.push(node);
    const rejects = failing.map(labelOf);
    const listed = firstById(connected, this.listLimit).map((node) => this.classify(node, rejects));
    const listedChecked = firstById(checkedNodes, this.listLimit).map((node) => node.id);

    const resources: PreflightResourceReport[] = [];
    let blocking = 0;
    for (const f of findings) {
      if (f.errors.length === 0 && f.unchecked.length === 0) continue;
      const key = keyOfFinding(f);
      const isChanged = changed.has(key);
      const rejected = f.errors.length > 0;
      const blocks = rejected && (isChanged || !alreadyRejected.has(key));
      if (blocks && checkedNodes.length > 0) blocking++;
      resources.push({
        typeUrl: TYPE_OF_KIND[f.kind],
        kind: f.kind,
        name: f.name,
        changed: isChanged,
        errors: f.errors,
        unchecked: f.unchecked,
        rejectedBy: rejected ? listedChecked : [],
        blocking: blocks && checkedNodes.length > 0,
      });
    }

    const warnings: string[] = [];
    if (failing.length > 0 && checkedNodes.length === 0)
      warnings.push(
        `no connected proxy of group "${group}" is ferry-proxy ${this.translatorVersion}: the translator's findings are warnings, not a reason to refuse`,
      );
    if (resources.some((r) => r.unchecked.length > 0))
      warnings.push(
        "files and environment variables named by DataSources live on the proxies' hosts: they were not read, and what depends on their content is not pre-checked",
      );
    if (connected.length > this.listLimit)
      warnings.push(
        `${connected.length} proxies of group "${group}" are connected (${checkedNodes.length} pre-checked): the first ${this.listLimit} by node id are named`,
      );
    return {
      group,
      translatorVersion: this.translatorVersion,
      checkedResources: checked,
      resources,
      proxies: listed,
      preCheckedProxies: checkedNodes.length,
      otherProxies: connected.length - checkedNodes.length,
      warnings,
      refuse: blocking > 0,
    };
  }

  /** Whether the version rule pre-checks `node`: ferry-proxy of the translator's version. */
  private preChecked(node: PreflightNodeIdentity): boolean {
    return (
      node.user_agent_name === PROXY_USER_AGENT &&
      node.user_agent_version === this.translatorVersion
    );
  }

  /**
   * One connected node: pre-checked or not, and why. `rejects`: the labels of the resources the
   * translator rejects.
   */
  private classify(node: PreflightNodeIdentity, rejects: readonly string[]): PreflightProxy {
    const name = node.user_agent_name ?? '';
    const version = node.user_agent_version ?? '';
    const userAgent = [name, version].filter(Boolean).join('/');
    if (this.preChecked(node)) {
      return {
        nodeId: node.id,
        userAgent,
        preChecked: true,
        wouldAck: rejects.length === 0,
        rejects: [...rejects],
        note:
          rejects.length === 0
            ? 'pre-checked: would ACK'
            : `pre-checked: would NACK ${rejects.join(', ')}`,
      };
    }
    return {
      nodeId: node.id,
      userAgent,
      preChecked: false,
      wouldAck: false,
      rejects: [],
      note:
        name === PROXY_USER_AGENT
          ? `not pre-checked: ferry-proxy ${version || '(no version)'} is not the control plane's translator version ${this.translatorVersion}; its ACK or NACK judges`
          : `not pre-checked: ${userAgent || 'an unnamed client'} is not ferry-proxy; its ACK or NACK judges`,
    };
  }

  /** The translator's findings on what ferry-proxy would receive from `all`, overlays applied. */
  private translate(group: string, all: readonly PreflightResource[]): ResourceFinding[] {
    const byType: Record<string, JsonObject[]> = {
      [LDS]: [],
      [RDS]: [],
      [CDS]: [],
      [EDS]: [],
      [SDS]: [],
    };
    for (const r of all) {
      const list = byType[r.typeUrl];
      if (list) list.push(this.served(group, r));
    }
    return checkResources(
      subscribedResources({
        listeners: byType[LDS]!,
        routeConfigs: byType[RDS]!,
        clusters: byType[CDS]!,
        endpoints: byType[EDS]!,
        secrets: byType[SDS]!,
      }),
    );
  }

  private served(group: string, r: PreflightResource): JsonObject {
    if (!this.overlay?.typeUrls.has(r.typeUrl)) return r.json;
    const value = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    const out = this.overlay.preview(group, r.typeUrl, {
      name: r.name,
      version: r.version,
      value,
    });
    if (out.version === r.version) return r.json;
    const cacheKey = `${r.typeUrl}\u0000${out.version}`;
    let json = this.decoded.get(cacheKey);
    if (!json) {
      // Only the served types of TYPE_OF_KIND get here.
      const type = resourceTypeByUrl(r.typeUrl)!;
      const { ['@type']: _type, ...fields } = resourceToJson(type, out.value);
      json = fields;
      if (this.decoded.size >= DECODE_CACHE_LIMIT) this.decoded.clear();
      this.decoded.set(cacheKey, json);
    }
    return json;
  }
}

/**
 * The order reports name proxies in: the default locale's collation of node ids, as
 * `String#localeCompare`. One collator for the process, so the first apply does not pay for
 * setting it up.
 */
const nodeIdCollation = new Intl.Collator().compare;

/**
 * The first `limit` of `nodes` by node id, sorted, without sorting them all: past the first
 * `limit`, a node costs one comparison unless it belongs among them.
 */
function firstById<T extends PreflightNodeIdentity>(nodes: readonly T[], limit: number): T[] {
  const first: T[] = [];
  if (limit <= 0) return first;
  for (const node of nodes) {
    if (first.length === limit && nodeIdCollation(node.id, first[limit - 1]!.id) >= 0) continue;
    // After the equal ones: ties keep the fleet's order, as a stable sort would.
    let low = 0;
    let high = first.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (nodeIdCollation(first[middle]!.id, node.id) <= 0) low = middle + 1;
      else high = middle;
    }
    first.splice(low, 0, node);
    if (first.length > limit) first.pop();
  }
  return first;
}

function keyOfFinding(f: ResourceFinding): string {
  return preflightKey(TYPE_OF_KIND[f.kind], f.name);
}

function labelOf(f: ResourceFinding): string {
  return `${f.kind} ${JSON.stringify(f.name)}`;
}

/**
 * The refusal's details: per rejected resource the translator's errors, then which proxies would
 * reject them.
 */
export function refusalDetails(report: PreflightReport): string[] {
  const details: string[] = [];
  const blocking = report.resources.filter((r) => r.blocking);
  for (const r of blocking)
    for (const e of r.errors) details.push(`${r.kind} ${JSON.stringify(r.name)}: ${e}`);
  const nodes = blocking[0]?.rejectedBy ?? [];
  const more = report.preCheckedProxies - nodes.length;
  details.push(
    `every pre-checked proxy of group "${report.group}" would reject ${blocking.length === 1 ? 'it' : 'them'}: ${nodes.join(', ')}${more > 0 ? ` and ${more} more` : ''} (ferry-proxy ${report.translatorVersion})`,
  );
  return details;
}
