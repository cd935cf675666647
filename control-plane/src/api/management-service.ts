/**
 * The management API's operations, independent of transport: http-api.ts and grpc-api.ts only
 * translate requests and errors. Every write is parsed, validated against the group's state after
 * the change (validation/), then written with the revision it was validated against as the
 * expected revision, so a concurrent write can never slip between validation and storage.
 * Errors are FerryErrors with field-path details. Resource bodies are never logged.
 */
import {
  jsonToBinary,
  parseResourceBinary,
  parseResourceJson,
  resourceToJson,
  resourceTypeByUrl,
  type JsonValue,
  type ParsedResource,
  type ResourceType,
} from '@ferry/proto';
import type { Tracer } from '@opentelemetry/api';
import { FerryError, isFerryError, type Logger } from '@ferry/shared';
import { apiMetrics, type ApiMetrics } from '../metrics/api-metrics.js';
import { keyOf, type Mutation, type ResourceStore, type StoredResource } from '../store/store.js';
import type {
  FleetStatusSource,
  NodeStatus,
  NodeSummary,
  StatusOptions,
} from '../xds/fleet-status.js';
import type { NodeSyncState } from '@ferry/shared/api-wire';
import { nodesPage, summaryOf, type NodesPage, type NodesQuery } from './nodes-page.js';
import type { ReplicaSetStatus } from '../replicas/replica-set.js';
import type { ForwardedCaller, PeerStatus, UnansweredReplica } from '../replicas/peer-status.js';
import {
  batchLabel,
  resourceLabel,
  validateBatch,
  validateGroupChange,
  type BatchEntry,
  type CandidateResource,
  type RemovedResource,
  type Verdict,
} from '../validation/validation.js';
import { redactKeyMaterial } from './redact.js';
import { canRead, IN_PROCESS_CALLER, requireRole, type Caller } from './access.js';
import {
  API_TOKEN_TYPE,
  ApiTokens,
  type ApiTokenRecord,
  type CreateTokenRequest,
  type CreatedToken,
} from './api-tokens.js';
import type {
  ApplyRequest,
  ApplyResponse,
  ChangeAction,
  DeleteRequest,
  HistoryView,
  ListRequest,
  ListResponse,
  ResourceChange,
  ResourceView,
  RollbackRequest,
  StatusResponse,
} from './management-types.js';
import { WriteObserver, type WriteScope } from './write-observer.js';
import { applySpanContext, traceIdOfTraceparent, traceparentOf } from '../tracing/tracing.js';
import {
  preflightKey,
  refusalDetails,
  type Preflight,
  type PreflightReport,
  type PreflightResource,
} from '../preflight/preflight.js';

export const DEFAULT_GROUP = 'default';

export interface ManagementServiceOptions {
  readonly store: ResourceStore;
  /** Connected proxies, from the xDS server; status lists no nodes without it. */
  readonly fleet?: FleetStatusSource;
  readonly logger?: Logger;
  /** Apply outcome and validation failure counters (default: in the process registry). */
  readonly metrics?: ApiMetrics;
  /** Traces writes when set (tracing on); see write-observer.ts. */
  readonly tracer?: Tracer;
  /**
   * Runs ferry-proxy's translator on each write's resulting group and refuses what every
   * pre-checked proxy would reject (../preflight/preflight.ts); no pre-flight without it.
   */
  readonly preflight?: Preflight;
  /** The replicas of the store and their leader (../replicas/replica-set.ts), for status. */
  readonly replicas?: () => ReplicaSetStatus | undefined;
  /**
   * Called before an apply, delete or rollback writes to `group` (every group when undefined);
   * throws to refuse it (a group with a rollout in progress, ../rollout/rollout-service.ts).
   */
  readonly writeGuard?: (group: string | undefined) => Promise<void>;
  /** The other replicas' proxies for status (../replicas/peer-status.ts); none without it. */
  readonly peers?: PeerStatus;
}

/** Decoded stored resources, by type URL + content version (equal versions ⇒ equal content). */
const DECODE_CACHE_LIMIT = 20_000;

export class ManagementService {
  private readonly store: ResourceStore;
  private readonly fleet: FleetStatusSource | undefined;
  private readonly replicas: (() => ReplicaSetStatus | undefined) | undefined;
  private readonly logger: Logger | undefined;
  private readonly decoded = new Map<string, Record<string, JsonValue>>();
  private readonly writes: WriteObserver;
  private readonly preflight: Preflight | undefined;
  private readonly writeGuard: ((group: string | undefined) => Promise<void>) | undefined;
  private readonly peers: PeerStatus | undefined;
  /** The API's credentials, in the same store (api-tokens.ts). */
  readonly tokens: ApiTokens;

  constructor(options: ManagementServiceOptions) {
    this.store = options.store;
    this.tokens = new ApiTokens(options.store);
    this.fleet = options.fleet;
    this.replicas = options.replicas;
    this.logger = options.logger;
    this.writes = new WriteObserver(options.metrics ?? apiMetrics(), options.tracer);
    this.preflight = options.preflight;
    this.writeGuard = options.writeGuard;
    this.peers = options.peers;
  }

  /**
   * Every operation takes the Caller the transport authenticated (access.ts); in-process callers
   * (tests, embedding) act as the control plane itself.
   */
  apply(request: ApplyRequest, caller: Caller = IN_PROCESS_CALLER): Promise<ApplyResponse> {
    const resources = (request.documents?.length ?? 0) + (request.anys?.length ?? 0);
    return this.writes.run(
      'apply',
      { group: request.group || DEFAULT_GROUP, dryRun: request.dryRun === true, resources },
      (scope) => this.applyWrite(request, caller, scope),
    );
  }

  private async applyWrite(
    request: ApplyRequest,
    caller: Caller,
    scope: WriteScope,
  ): Promise<ApplyResponse> {
    const group = checkGroup(request.group);
    // A dry run writes nothing: a viewer may validate (ferryctl diff).
    requireRole(caller, request.dryRun ? 'viewer' : 'operator', group, `apply to group "${group}"`);
    const validation = scope.startValidation();
    const { entries: batch, errors: decodeErrors, failedNames } = parseBatch(request);
    if (batch.length === 0 && decodeErrors.length === 0) {
      validation.end(1);
      throw new FerryError('FERRY_BAD_REQUEST', 'apply needs at least one resource');
    }
    if (!request.dryRun) await this.writeGuard?.(group);
    const response = await this.withRetry(request.expectedRevision, async (expected) => {
      const snapshot = await this.store.list({ group });
      checkExpected(expected, snapshot.revision);
      const existing = snapshot.resources.filter(isConfigResource).map((r) => this.candidate(r));
      const verdict = validateBatch(group, existing, batch);
      validation.end(decodeErrors.length + (verdict.ok ? 0 : verdict.errors.length));
      if (decodeErrors.length > 0) {
        // Report every problem at once: what failed to decode, and the semantic errors of the
        // rest, minus "does not exist" for names that are in the batch but failed to decode.
        const semantic = verdict.ok
          ? []
          : verdict.errors.filter((e) => !mentionsMissing(e, failedNames));
        const errors = [...decodeErrors, ...semantic];
        throw new FerryError(
          'FERRY_INVALID_CONFIG',
          `apply to group "${group}" rejected: ${plural(errors.length, 'problem')}`,
          errors,
        );
      }
      throwIfRejected(verdict, `apply to group "${group}"`);
      const current = new Map(snapshot.resources.map((r) => [keyOf(r), r]));
      const changes: ResourceChange[] = [];
      const mutations: Mutation[] = [];
      for (const entry of batch) {
        const key = { typeUrl: entry.type.typeUrl, group, name: entry.name };
        const before = current.get(keyOf(key));
        const action = !before
          ? 'created'
          : before.version === entry.version
            ? 'unchanged'
            : 'updated';
        changes.push({ ...key, kind: entry.type.kind, action, version: entry.version });
        if (action !== 'unchanged')
          mutations.push({ ...key, op: 'put', value: entry.bytes, version: entry.version });
      }
      const preflight = this.runPreflight(`apply to group "${group}"`, request, () => {
        const before = snapshot.resources.filter((r) => r.group === group && isConfigResource(r));
        const put = new Map(batch.map((e) => [preflightKey(e.type.typeUrl, e.name), e]));
        const entryResource = (e: ParsedEntry): PreflightResource => ({
          typeUrl: e.type.typeUrl,
          name: e.name,
          version: e.version,
          value: e.bytes,
          json: e.json,
        });
        // In the order the snapshot cache serves them: an update keeps its place, a new resource
        // comes last (the order decides, e.g., which of two listeners on one address ferry-proxy
        // rejects).
        const replaced = new Set<string>();
        const after = before.map((r) => {
          const key = preflightKey(r.typeUrl, r.name);
          const entry = put.get(key);
          if (!entry) return this.preflightResource(r);
          replaced.add(key);
          return entryResource(entry);
        });
        for (const [key, entry] of put) if (!replaced.has(key)) after.push(entryResource(entry));
        return {
          group,
          after,
          changed: new Set(
            changes
              .filter((c) => c.action !== 'unchanged')
              .map((c) => preflightKey(c.typeUrl, c.name)),
          ),
          before: () => before.map((r) => this.preflightResource(r)),
        };
      });
      return this.write(
        scope,
        mutations,
        changes,
        snapshot.revision,
        request.dryRun,
        request.message ?? `apply to group "${group}"`,
        caller,
        preflight,
      );
    });
    this.logger?.info(
      {
        group,
        resources: batch.length,
        revision: response.revision,
        dryRun: response.dryRun,
        ...countActions(response),
      },
      'apply',
    );
    return response;
  }

  async list(request: ListRequest = {}, caller: Caller = IN_PROCESS_CALLER): Promise<ListResponse> {
    if (request.showSecrets === true) requireRole(caller, 'admin', undefined, 'show_secrets');
    if (request.group)
      requireRole(caller, 'viewer', request.group, `reading group "${request.group}"`);
    const filter = {
      typeUrl: request.typeUrl === undefined ? undefined : requireType(request.typeUrl).typeUrl,
      name: request.name || undefined,
      group: request.group || undefined,
    };
    const snapshot =
      request.atRevision === undefined
        ? await this.store.list(filter)
        : await this.store.listAt(request.atRevision, filter);
    // Without a group, a viewer of some groups sees those groups' resources.
    const resources = snapshot.resources
      .filter((r) => isConfigResource(r) && canRead(caller, r.group))
      .map((r) => this.view(r, request.showSecrets === true))
      .sort((a, b) => compareKeys(a, b));
    return { revision: snapshot.revision, resources };
  }

  /** One resource; FERRY_NOT_FOUND when absent. */
  async get(
    typeUrl: string,
    name: string,
    group = DEFAULT_GROUP,
    showSecrets = false,
    caller: Caller = IN_PROCESS_CALLER,
  ): Promise<ResourceView> {
    const type = requireType(typeUrl);
    const { resources } = await this.list(
      {
        typeUrl: type.typeUrl,
        name,
        group: checkGroup(group),
        showSecrets,
      },
      caller,
    );
    const found = resources[0];
    if (!found)
      throw new FerryError(
        'FERRY_NOT_FOUND',
        `${type.kind} "${name}" does not exist in group "${group}"`,
      );
    return found;
  }

  delete(request: DeleteRequest, caller: Caller = IN_PROCESS_CALLER): Promise<ApplyResponse> {
    return this.writes.run(
      'delete',
      {
        group: request.group || DEFAULT_GROUP,
        dryRun: request.dryRun === true,
        resources: request.resources.length,
      },
      (scope) => this.deleteWrite(request, caller, scope),
    );
  }

  private async deleteWrite(
    request: DeleteRequest,
    caller: Caller,
    scope: WriteScope,
  ): Promise<ApplyResponse> {
    const group = checkGroup(request.group);
    requireRole(
      caller,
      request.dryRun ? 'viewer' : 'operator',
      group,
      `delete from group "${group}"`,
    );
    if (request.resources.length === 0)
      throw new FerryError('FERRY_BAD_REQUEST', 'delete needs at least one resource');
    if (!request.dryRun) await this.writeGuard?.(group);
    const targets = request.resources.map((r, index) => ({
      index,
      type: requireType(r.typeUrl),
      name: r.name,
    }));
    const response = await this.withRetry(request.expectedRevision, async (expected) => {
      const snapshot = await this.store.list({ group });
      checkExpected(expected, snapshot.revision);
      const current = new Map(snapshot.resources.map((r) => [keyOf(r), r]));
      const missing: string[] = [];
      const deletes: RemovedResource[] = [];
      const removedKeys = new Set<string>();
      for (const t of targets) {
        const key = keyOf({ typeUrl: t.type.typeUrl, group, name: t.name });
        if (!current.has(key))
          missing.push(
            `${batchLabel(t.index, t.type.kind, t.name)}: does not exist in group "${group}"`,
          );
        removedKeys.add(key);
        deletes.push({
          kind: t.type.kind,
          name: t.name,
          label: batchLabel(t.index, t.type.kind, t.name),
        });
      }
      if (missing.length > 0)
        throw new FerryError(
          'FERRY_NOT_FOUND',
          `delete from group "${group}": nothing to delete`,
          missing,
        );
      const after = snapshot.resources
        .filter((r) => isConfigResource(r) && !removedKeys.has(keyOf(r)))
        .map((r) => this.candidate(r));
      throwIfRejected(
        validateGroupChange({ group, puts: [], deletes, after }),
        `delete from group "${group}"`,
      );
      const mutations: Mutation[] = targets.map((t) => ({
        op: 'delete',
        typeUrl: t.type.typeUrl,
        group,
        name: t.name,
      }));
      const changes = targets.map((t) => ({
        typeUrl: t.type.typeUrl,
        kind: t.type.kind,
        group,
        name: t.name,
        action: 'deleted' as const,
        version: '',
      }));
      const preflight = this.runPreflight(`delete from group "${group}"`, request, () => {
        const before = snapshot.resources.filter(isConfigResource);
        return {
          group,
          after: before
            .filter((r) => !removedKeys.has(keyOf(r)))
            .map((r) => this.preflightResource(r)),
          changed: new Set<string>(),
          before: () => before.map((r) => this.preflightResource(r)),
        };
      });
      return this.write(
        scope,
        mutations,
        changes,
        snapshot.revision,
        request.dryRun,
        request.message ?? `delete from group "${group}"`,
        caller,
        preflight,
      );
    });
    this.logger?.info(
      { group, resources: targets.length, revision: response.revision, dryRun: response.dryRun },
      'delete',
    );
    return response;
  }

  /**
   * Restores the state at `revision` (of one group, or of all) as a new revision, through the same
   * validation as an apply. Returns only what changes.
   */
  rollback(request: RollbackRequest, caller: Caller = IN_PROCESS_CALLER): Promise<ApplyResponse> {
    return this.writes.run(
      'rollback',
      { group: request.group || undefined, dryRun: request.dryRun === true },
      (scope) => this.rollbackWrite(request, caller, scope),
    );
  }

  private async rollbackWrite(
    request: RollbackRequest,
    caller: Caller,
    scope: WriteScope,
  ): Promise<ApplyResponse> {
    const role = request.dryRun ? 'viewer' : 'operator';
    if (!Number.isInteger(request.revision) || request.revision < 0) {
      throw new FerryError(
        'FERRY_BAD_REQUEST',
        `rollback needs a revision (a non-negative integer), got ${request.revision}`,
      );
    }
    const group = request.group ? checkGroup(request.group) : undefined;
    if (group !== undefined) requireRole(caller, role, group, `rollback of group "${group}"`);
    if (!request.dryRun) await this.writeGuard?.(group);
    const filter = group === undefined ? undefined : { group };
    const response = await this.withRetry(undefined, async () => {
      const now = await this.store.list(filter);
      const then = await this.store.listAt(request.revision, filter);
      // Only configuration: internal records (the health quorum's node reports) are not
      // the operator's to roll back.
      const current = new Map(now.resources.filter(isConfigResource).map((r) => [keyOf(r), r]));
      const target = new Map(then.resources.filter(isConfigResource).map((r) => [keyOf(r), r]));
      const groups = new Set([...current.values(), ...target.values()].map((r) => r.group));
      const mutations: Mutation[] = [];
      const changes: ResourceChange[] = [];
      const errors: string[] = [];
      let code: 'FERRY_INVALID_CONFIG' | 'FERRY_REFERENCED' = 'FERRY_INVALID_CONFIG';
      for (const g of [...groups].sort()) {
        const puts: CandidateResource[] = [];
        const deletes: RemovedResource[] = [];
        for (const r of target.values()) {
          if (r.group !== g) continue;
          const before = current.get(keyOf(r));
          if (before?.version === r.version) continue;
          puts.push(this.candidate(r));
          mutations.push({
            op: 'put',
            typeUrl: r.typeUrl,
            group: g,
            name: r.name,
            value: r.value,
            version: r.version,
          });
          changes.push(changeOf(r, before ? 'updated' : 'created'));
        }
        for (const r of current.values()) {
          if (r.group !== g || target.has(keyOf(r))) continue;
          const type = requireType(r.typeUrl);
          deletes.push({ kind: type.kind, name: r.name, label: resourceLabel(type.kind, r.name) });
          mutations.push({ op: 'delete', typeUrl: r.typeUrl, group: g, name: r.name });
          changes.push({ ...changeOf(r, 'deleted'), version: '' });
        }
        const after = [...target.values()]
          .filter((r) => r.group === g)
          .map((r) => this.candidate(r));
        const verdict = validateGroupChange({ group: g, puts, deletes, after });
        if (!verdict.ok) {
          errors.push(...verdict.errors);
          if (verdict.code === 'FERRY_REFERENCED') code = verdict.code;
        }
      }
      // A rollback of every group needs the role for each group it changes.
      for (const g of new Set(changes.map((c) => c.group)))
        requireRole(
          caller,
          role,
          g,
          `rollback to revision ${request.revision} (it changes group "${g}")`,
        );
      if (errors.length > 0) {
        throw new FerryError(
          code,
          `rollback to revision ${request.revision} rejected: ${plural(errors.length, 'problem')}`,
          errors,
        );
      }
      const message =
        request.message ??
        `rollback${group === undefined ? '' : ` of group "${group}"`} to revision ${request.revision}`;
      const preflight = [...new Set(changes.map((c) => c.group))].sort().flatMap((g) =>
        this.runPreflight(
          `rollback of group "${g}" to revision ${request.revision}`,
          request,
          () => {
            const before = [...current.values()].filter((r) => r.group === g);
            return {
              group: g,
              after: [...target.values()]
                .filter((r) => r.group === g)
                .map((r) => this.preflightResource(r)),
              changed: new Set(
                changes
                  .filter((c) => c.group === g && c.action !== 'deleted')
                  .map((c) => preflightKey(c.typeUrl, c.name)),
              ),
              before: () => before.map((r) => this.preflightResource(r)),
            };
          },
        ),
      );
      return this.write(
        scope,
        mutations,
        changes,
        now.revision,
        request.dryRun,
        message,
        caller,
        preflight,
      );
    });
    this.logger?.info(
      { toRevision: request.revision, group, revision: response.revision, dryRun: response.dryRun },
      'rollback',
    );
    return response;
  }

  /**
   * The newest `limit` revisions; a viewer of some groups sees, of those, the changes to its groups
   * (and no entry that changed none of them).
   */
  async history(limit = 50, caller: Caller = IN_PROCESS_CALLER): Promise<HistoryView[]> {
    const entries = await this.store.history(limit);
    const visible = entries
      .map((e) => ({ ...e, changes: e.changes.filter((c) => canRead(caller, c.group)) }))
      .filter((e) => e.changes.length > 0);
    return visible.map((e) => ({
      revision: e.revision,
      time: e.time,
      message: e.message,
      actor: e.actor,
      traceId: e.traceparent === undefined ? undefined : traceIdOfTraceparent(e.traceparent),
      changes: e.changes.map((c) => ({
        typeUrl: c.typeUrl,
        kind: kindOfType(c.typeUrl),
        group: c.group,
        name: c.name,
        action: c.op,
        version: c.version ?? '',
      })),
    }));
  }

  /**
   * The revision log's base (ResourceStore.historyBase): older revisions were trimmed, the state
   * at it is kept. Not per caller: it says nothing about any group's resources.
   */
  historyBase(): Promise<number> {
    return this.store.historyBase();
  }

  /**
   * The fleet's status; `options` narrow it to one node and add every resource's state (what
   * runs, what was sent, NACKs per resource). With `forward`, the other live replicas are asked
   * for their proxies with the caller's credentials (docs/architecture.md, "Fleet status across
   * replicas"); without it, only this replica's proxies are listed.
   */
  async status(
    caller: Caller = IN_PROCESS_CALLER,
    options: StatusOptions = {},
    forward?: ForwardedCaller,
  ): Promise<StatusResponse> {
    const [revision, peers] = await Promise.all([
      this.store.currentRevision(),
      forward && this.peers ? this.peers.collect(forward, options) : undefined,
    ]);
    const replicaSet = this.replicas?.();
    const nodes = (this.fleet?.nodes(options) ?? [])
      .filter((n) => canRead(caller, n.group))
      .map((n) => (replicaSet ? { ...n, replica: replicaSet.self } : n));
    // A proxy that moved is listed by both replicas: connected on one, disconnected on the other.
    nodes.push(...(peers?.nodes ?? []));
    nodes.sort(
      (a, b) =>
        a.nodeId.localeCompare(b.nodeId) ||
        Number(b.connected) - Number(a.connected) ||
        (a.replica ?? '').localeCompare(b.replica ?? ''),
    );
    return {
      revision,
      nodes,
      ...(replicaSet ? { replicaSet } : {}),
      ...(peers ? { unansweredReplicas: peers.unanswered } : {}),
    };
  }

  /**
   * The fleet's nodes that `caller` may read, filtered, counted by state and paged
   * (nodes-page.ts), sorted as status sorts them; only the page's rows are built. A group asked
   * for needs the viewer role there. With `forward`, the other live replicas are asked for their
   * proxies as status asks them (every row, `local=true`), and filtering and paging run over the
   * merged rows; replicas that did not answer are listed.
   */
  async nodes(
    caller: Caller,
    query: NodesQuery,
    forward?: ForwardedCaller,
  ): Promise<{
    readonly revision: number;
    readonly total: number;
    readonly counts: NodesPage<NodeSummary>['counts'];
    readonly groups: readonly string[];
    readonly nodes: ReadonlyArray<{ readonly node: NodeStatus; readonly state: NodeSyncState }>;
    readonly unansweredReplicas?: readonly UnansweredReplica[];
  }> {
    if (query.group !== undefined)
      requireRole(caller, 'viewer', query.group, `nodes of group "${query.group}"`);
    const [revision, peers] = await Promise.all([
      this.store.currentRevision(),
      forward && this.peers ? this.peers.collect(forward, {}) : undefined,
    ]);
    const fleet = this.fleet;
    const all: Array<NodeSummary & { readonly row?: NodeStatus; readonly replica?: string }> =
      fleet?.summaries
        ? fleet.summaries()
        : (fleet?.nodes() ?? []).map((row) => ({ ...summaryOf(row), row }));
    const readable = all.filter((n) => canRead(caller, n.group));
    if (peers) {
      // Peer rows arrive whole: kept as they are, never looked up in this replica's fleet.
      for (const row of peers.nodes)
        if (canRead(caller, row.group))
          readable.push({ ...summaryOf(row), row, replica: row.replica ?? '' });
    }
    // By node id; a proxy that moved is listed by both replicas, ordered by replica.
    const self = this.replicas?.()?.self ?? '';
    readable.sort(
      (a, b) =>
        a.nodeId.localeCompare(b.nodeId) || (a.replica ?? self).localeCompare(b.replica ?? self),
    );
    const page = nodesPage(readable, query);
    const nodes = [];
    for (const item of page.items) {
      const node = item.row ?? this.nodeStatus(item.nodeId);
      if (node) nodes.push({ node: this.withReplica(node), state: item.state });
    }
    return {
      revision,
      total: page.total,
      counts: page.counts,
      groups: page.groups,
      nodes,
      ...(peers ? { unansweredReplicas: peers.unanswered } : {}),
    };
  }

  /**
   * One node's row as status shows it, for any caller (the event stream filters by group);
   * undefined when the fleet does not know it.
   */
  nodeStatus(nodeId: string): NodeStatus | undefined {
    const node = this.fleet?.nodes({ nodeId })[0];
    return node && this.withReplica(node);
  }

  /** As status shows a node of this replica (a row that names its replica keeps it). */
  private withReplica(node: NodeStatus): NodeStatus {
    const self = node.replica === undefined ? this.replicas?.()?.self : undefined;
    return self === undefined ? node : { ...node, replica: self };
  }

  /** Creates an API token or certificate binding (admin only); the token is in the result once. */
  createToken(request: CreateTokenRequest, caller: Caller): Promise<CreatedToken> {
    requireRole(caller, 'admin', undefined, 'token create');
    return this.tokens.create(request, caller.name);
  }

  listTokens(caller: Caller): Promise<ApiTokenRecord[]> {
    requireRole(caller, 'admin', undefined, 'token list');
    return this.tokens.list();
  }

  revokeToken(name: string, caller: Caller): Promise<void> {
    requireRole(caller, 'admin', undefined, 'token revoke');
    return this.tokens.revoke(name, caller.name);
  }

  /**
   * Runs a validated write; when the store moved between validation and write (FERRY_CONFLICT)
   * and the caller did not pin a revision, validates once more against the new state.
   */
  private async withRetry(
    expectedRevision: number | undefined,
    attempt: (expected: number | undefined) => Promise<ApplyResponse>,
  ): Promise<ApplyResponse> {
    try {
      return await attempt(expectedRevision);
    } catch (err) {
      if (expectedRevision !== undefined || !isFerryError(err) || err.code !== 'FERRY_CONFLICT')
        throw err;
      return attempt(undefined);
    }
  }

  private async write(
    scope: WriteScope,
    mutations: Mutation[],
    changes: ResourceChange[],
    validatedRevision: number,
    dryRun: boolean | undefined,
    message: string,
    caller: Caller,
    preflight: readonly PreflightReport[] = [],
  ): Promise<ApplyResponse> {
    const report = this.preflight ? { preflight } : {};
    if (dryRun === true || mutations.length === 0) {
      return { revision: validatedRevision, dryRun: dryRun === true, changes, ...report };
    }
    const result = await scope.commit(() =>
      this.store.apply(mutations, {
        expectedRevision: validatedRevision,
        message,
        actor: caller.name,
        // The write's span, in the active context during scope.commit when tracing is on.
        traceparent: traceparentOf(applySpanContext()),
      }),
    );
    return { revision: result.revision, dryRun: false, changes, ...report };
  }

  /**
   * The pre-flight of one group's change (none without a Preflight); throws
   * FERRY_PREFLIGHT_REJECTED when it refuses and the write is neither forced nor a dry run (a dry
   * run returns the report, whose `refuse` says what the write would meet).
   */
  private runPreflight(
    what: string,
    request: { readonly dryRun?: boolean; readonly force?: boolean },
    input: () => Parameters<Preflight['run']>[0],
  ): PreflightReport[] {
    if (!this.preflight) return [];
    const report = this.preflight.run(input());
    if (report.refuse && request.force !== true && request.dryRun !== true) {
      const count = report.resources.filter((r) => r.blocking).length;
      throw new FerryError(
        'FERRY_PREFLIGHT_REJECTED',
        `${what} refused by pre-flight: every connected ferry-proxy ${report.translatorVersion} of the group would reject ${plural(count, 'resource')}; fix ${count === 1 ? 'it' : 'them'}, or force the write (ferryctl --force, API field force)`,
        refusalDetails(report),
      );
    }
    if (report.refuse && request.force === true && request.dryRun !== true)
      this.logger?.warn(
        {
          group: report.group,
          resources: report.resources.filter((r) => r.blocking).map((r) => `${r.kind}/${r.name}`),
        },
        `${what}: forced past the pre-flight; the pre-checked proxies will NACK it`,
      );
    return [report];
  }

  private preflightResource(r: StoredResource): PreflightResource {
    const { json } = this.candidate(r);
    return { typeUrl: r.typeUrl, name: r.name, version: r.version, value: r.value, json };
  }

  private decode(r: StoredResource, type: ResourceType): Record<string, JsonValue> {
    const cacheKey = `${r.typeUrl}\u0000${r.version}`;
    let json = this.decoded.get(cacheKey);
    if (!json) {
      json = resourceToJson(type, r.value);
      if (this.decoded.size >= DECODE_CACHE_LIMIT) this.decoded.clear();
      this.decoded.set(cacheKey, json);
    }
    return json;
  }

  private candidate(r: StoredResource): CandidateResource {
    const type = requireType(r.typeUrl);
    const { ['@type']: _type, ...json } = this.decode(r, type);
    return {
      type,
      name: r.name,
      json,
      label: resourceLabel(type.kind, r.name),
    };
  }

  private view(r: StoredResource, showSecrets: boolean): ResourceView {
    const type = requireType(r.typeUrl);
    const base = {
      typeUrl: r.typeUrl,
      kind: type.kind,
      group: r.group,
      name: r.name,
      version: r.version,
      revision: r.revision,
    };
    const json = this.decode(r, type);
    if (showSecrets) return { ...base, resource: json, value: r.value };
    const { value: redacted, redacted: changed } = redactKeyMaterial(json);
    if (!changed) return { ...base, resource: json, value: r.value };
    const { ['@type']: _type, ...fields } = redacted;
    const encoded = jsonToBinary(type.messageName, fields);
    if (!encoded.ok)
      throw new FerryError(
        'FERRY_INTERNAL',
        `cannot encode redacted ${type.kind} "${r.name}"`,
        encoded.errors,
      );
    return { ...base, resource: redacted, value: encoded.value };
  }
}

type ParsedEntry = BatchEntry & { readonly bytes: Uint8Array; readonly version: string };

interface ParsedBatch {
  readonly entries: ParsedEntry[];
  /** Decode errors (unknown fields, wrong types, validate rules), each with its field path. */
  readonly errors: string[];
  /** Best-effort names of the documents that failed to decode. */
  readonly failedNames: ReadonlySet<string>;
}

function parseBatch(request: ApplyRequest): ParsedBatch {
  const errors: string[] = [];
  const entries: ParsedEntry[] = [];
  const failedNames = new Set<string>();
  const add = (index: number, result: ReturnType<typeof parseResourceJson>): void => {
    if (!result.ok) errors.push(...result.errors);
    else entries.push(entryOf(index, result.value));
  };
  const documents = request.documents ?? [];
  documents.forEach((doc, i) => {
    const result = parseResourceJson(doc, `resources[${i}]`);
    add(i, result);
    if (!result.ok && typeof doc === 'object' && doc !== null) {
      const { name, cluster_name: clusterName } = doc as Record<string, unknown>;
      if (typeof name === 'string') failedNames.add(name);
      if (typeof clusterName === 'string') failedNames.add(clusterName);
    }
  });
  (request.anys ?? []).forEach((any, i) => {
    const index = documents.length + i;
    add(index, parseResourceBinary(any.typeUrl, any.value, `resources[${index}]`));
  });
  return { entries, errors, failedNames };
}

function mentionsMissing(error: string, names: ReadonlySet<string>): boolean {
  for (const name of names) if (error.includes(`"${name}" does not exist`)) return true;
  return false;
}

function entryOf(index: number, parsed: ParsedResource): ParsedEntry {
  return {
    index,
    type: parsed.type,
    name: parsed.name,
    json: parsed.json,
    bytes: parsed.bytes,
    version: parsed.version,
  };
}

function throwIfRejected(verdict: Verdict, what: string): void {
  if (verdict.ok) return;
  const reason =
    verdict.code === 'FERRY_REFERENCED'
      ? 'still referenced'
      : plural(verdict.errors.length, 'problem');
  throw new FerryError(verdict.code, `${what} rejected: ${reason}`, verdict.errors);
}

function checkExpected(expected: number | undefined, actual: number): void {
  if (expected !== undefined && expected !== actual) {
    throw new FerryError(
      'FERRY_CONFLICT',
      `store is at revision ${actual}, not the expected ${expected}; re-read and retry`,
    );
  }
}

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;

/** Groups are Envoy's node.cluster values (docs/architecture.md, "Groups"). */
export function checkGroup(group: string | undefined): string {
  const g = group || DEFAULT_GROUP;
  if (!GROUP_NAME.test(g)) {
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `group ${JSON.stringify(g)} is not a valid group name (letters, digits and . _ : / -, at most 253 characters)`,
    );
  }
  return g;
}

/** A configuration resource (not an internal record the control plane keeps in the store). */
function isConfigResource(r: { readonly typeUrl: string }): boolean {
  return resourceTypeByUrl(r.typeUrl) !== undefined;
}

function kindOfType(typeUrl: string): string {
  if (typeUrl === API_TOKEN_TYPE) return 'ApiToken';
  return resourceTypeByUrl(typeUrl)?.kind ?? typeUrl;
}

function requireType(typeUrl: string): ResourceType {
  const type = resourceTypeByUrl(typeUrl);
  if (!type)
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${JSON.stringify(typeUrl)} is not a resource type Ferry stores`,
    );
  return type;
}

function changeOf(r: StoredResource, action: ChangeAction): ResourceChange {
  const kind = resourceTypeByUrl(r.typeUrl)?.kind ?? r.typeUrl;
  return { typeUrl: r.typeUrl, kind, group: r.group, name: r.name, action, version: r.version };
}

function compareKeys(a: ResourceView, b: ResourceView): number {
  return (
    a.group.localeCompare(b.group) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name)
  );
}

function countActions(response: ApplyResponse): Record<ChangeAction, number> {
  const counts = { created: 0, updated: 0, unchanged: 0, deleted: 0 };
  for (const c of response.changes) counts[c.action]++;
  return counts;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
