/**
 * The management API's side of rollouts (docs/rollouts.md): validates an apply-with-rollout as
 * an ordinary apply would be validated (a dry run against the group), stores the candidate as a
 * rollout record, and passes operators' actions to the controller. Roles: operators of a group
 * start and act on its rollouts, viewers see them.
 */
import { parseResourceBinary, parseResourceJson, type ParsedResource } from '@ferry/proto';
import { FerryError } from '@ferry/shared';
import { canRead, requireRole, type Caller } from '../api/access.js';
import { checkGroup, type ManagementService } from '../api/management-service.js';
import type { ApplyRequest, ResourceChange } from '../api/management-types.js';
import type { SnapshotCache } from '../xds/snapshot-cache.js';
import type { NodeStatus } from '../xds/fleet-status.js';
import {
  activeConflict,
  type RolloutAction,
  type RolloutController,
} from './rollout-controller.js';
import { isActive, type RolloutChange, type RolloutRecord } from './rollout-record.js';
import type { RolloutSpec } from './rollout-spec.js';

export interface RolloutRequest extends Omit<ApplyRequest, 'dryRun' | 'expectedRevision'> {
  readonly spec: RolloutSpec;
  /** Abort the group's active rollout first (its updated proxies go back to stable). */
  readonly force?: boolean;
}

export class RolloutService {
  constructor(
    private readonly service: ManagementService,
    private readonly controller: RolloutController,
    private readonly now: () => number = Date.now,
  ) {}

  async start(
    request: RolloutRequest,
    caller: Caller,
  ): Promise<{ rollout: RolloutRecord; changes: readonly ResourceChange[] }> {
    const group = checkGroup(request.group);
    requireRole(caller, 'operator', group, `rollout in group "${group}"`);
    const active = await this.controller.active(group);
    if (active && !request.force) throw activeConflict(active);
    const validated = await this.service.apply({ ...request, group, dryRun: true }, caller);
    const changed = new Set(
      validated.changes
        .filter((c) => c.action !== 'unchanged')
        .map((c) => `${c.typeUrl}\u0000${c.name}`),
    );
    const changes: RolloutChange[] = [];
    for (const parsed of parsedResources(request)) {
      if (!changed.has(`${parsed.type.typeUrl}\u0000${parsed.name}`)) continue;
      if (!parsed.type.served)
        throw new FerryError(
          'FERRY_BAD_REQUEST',
          `${parsed.type.kind} "${parsed.name}": rollouts stage what proxies are served (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment, Secret); apply ${parsed.type.messageName} without a rollout`,
        );
      changes.push({
        typeUrl: parsed.type.typeUrl,
        name: parsed.name,
        put: { value: parsed.bytes, version: parsed.version },
      });
    }
    if (changes.length === 0)
      throw new FerryError(
        'FERRY_BAD_REQUEST',
        `nothing to roll out: every resource is unchanged in group "${group}"`,
      );
    if (active) await this.controller.act(group, 'abort', caller.name);
    const now = this.now();
    const rollout = await this.controller.begin(
      {
        name: `rollout-${validated.revision}`,
        group,
        state: 'PROGRESSING',
        changes,
        stages: request.spec.stages,
        selectors: request.spec.selectors,
        bakeMs: request.spec.bakeMs,
        gates: request.spec.gates,
        stage: 0,
        updatedNodes: [],
        stageStartedAt: now,
        reason: 'started',
        createdBy: caller.name,
        createdAt: now,
        updatedAt: now,
        message: request.message ?? `apply to group "${group}"`,
        baseRevision: validated.revision,
      },
      caller.name,
    );
    return { rollout, changes: validated.changes };
  }

  async list(group: string | undefined, caller: Caller): Promise<RolloutRecord[]> {
    if (group !== undefined) checkGroup(group);
    return (await this.controller.records(group)).filter((r) => canRead(caller, r.group));
  }

  act(group: string | undefined, action: RolloutAction, caller: Caller): Promise<RolloutRecord> {
    const g = checkGroup(group);
    requireRole(caller, 'operator', g, `rollout ${action} in group "${g}"`);
    return this.controller.act(g, action, caller.name);
  }
}

/**
 * The write guard of ordinary applies, deletes and rollbacks (ManagementService's writeGuard):
 * refused while the group (any group when undefined) has a rollout in progress.
 */
export async function refuseDuringRollout(
  controller: RolloutController,
  group: string | undefined,
): Promise<void> {
  const active = (await controller.records(group)).find((r) => isActive(r.state));
  if (active) throw activeConflict(active);
}

/** A node's status with its place in its group's active rollout (NodeStatus.rollout). */
export function withRolloutStatus(cache: SnapshotCache, n: NodeStatus): NodeStatus {
  const layer = cache.candidate(n.group);
  if (!layer) return n;
  return {
    ...n,
    rollout: `${layer.label}: ${layer.members.has(n.nodeId) ? 'candidate' : 'stable'}`,
  };
}

function parsedResources(request: ApplyRequest): ParsedResource[] {
  const out: ParsedResource[] = [];
  const documents = request.documents ?? [];
  documents.forEach((doc, i) => {
    const r = parseResourceJson(doc, `resources[${i}]`);
    if (r.ok) out.push(r.value);
  });
  (request.anys ?? []).forEach((any, i) => {
    const r = parseResourceBinary(any.typeUrl, any.value, `resources[${documents.length + i}]`);
    if (r.ok) out.push(r.value);
  });
  return out;
}
