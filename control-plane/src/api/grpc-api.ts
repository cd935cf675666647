/**
 * The management API over gRPC: `ferry.v1.Management` (proto/ferry/v1/management.proto), the same
 * operations as http-api.ts with resources packed in Any. Register it on any grpc.Server (the
 * xDS server's or a separate one). FerryErrors become gRPC statuses: INVALID_ARGUMENT (invalid
 * config, bad request), NOT_FOUND, ABORTED (revision conflict), FAILED_PRECONDITION (still
 * referenced), UNAUTHENTICATED, PERMISSION_DENIED; the status details carry the message and every
 * field-path line, and the `ferry-error-code` trailer the stable code. Every call authenticates
 * (metadata `authorization: Bearer <token>`, or a verified client certificate) through the same
 * Authenticator as the HTTP API and runs under the caller's role (access.ts).
 */
import type { RolloutAction } from '../rollout/rollout-controller.js';
import { rolloutView, type RolloutRecord } from '../rollout/rollout-record.js';
import type { RolloutService } from '../rollout/rollout-service.js';
import { parseRolloutSpec } from '../rollout/rollout-spec.js';
import * as grpc from '@grpc/grpc-js';
import { context } from '@opentelemetry/api';
import {
  serviceDefinition,
  type AnyMessage,
  type ApplyRequestMessage,
  type CreateTokenRequestMessage,
  type DeleteRequestMessage,
  type RevokeTokenRequestMessage,
  type HistoryRequestMessage,
  type ListRequestMessage,
  type RollbackRequestMessage,
  type ViewFilterMessage,
} from '@ferry/proto/grpc';
import { ERROR_CODES, FerryError, isFerryError, type Logger } from '@ferry/shared';
import type { NodeStatus, ResourceStatus } from '../xds/fleet-status.js';
import type { HealthStatusSource } from '../health/health-aggregate.js';
import type { LoadSource } from '../load/load-aggregate.js';
import type { Caller } from './access.js';
import type { ApiTokenRecord } from './api-tokens.js';
import type { Authenticator } from './authenticator.js';
import type { ManagementService } from './management-service.js';
import { scopedHealthJson, scopedLoadJson } from './scoped-views.js';
import type { ApplyResponse } from './management-types.js';
import { preflightJson } from './wire-json.js';
import { incomingTraceContext } from '../tracing/tracing.js';

export interface ManagementGrpcOptions {
  /** Who is calling (authenticator.ts). */
  readonly authenticator: Authenticator;
  readonly logger?: Logger;
  /** Honour a W3C `traceparent` in the call's metadata (tracing on), as the HTTP API does. */
  readonly traceContext?: boolean;
  /** The fleet's health view (HDS); without it Health answers UNIMPLEMENTED. */
  readonly health?: HealthStatusSource;
  /** The fleet's load (LRS); without it Load answers UNIMPLEMENTED. */
  readonly load?: LoadSource;
  /** Progressive rollouts; without them the rollout calls answer UNIMPLEMENTED. */
  readonly rollouts?: RolloutService;
}

type Unary<Request> = (
  call: grpc.ServerUnaryCall<Request, unknown>,
  callback: grpc.sendUnaryData<unknown>,
) => void;

export function addManagementService(
  server: grpc.Server,
  service: ManagementService,
  options: ManagementGrpcOptions,
): void {
  const unary =
    <Request>(
      operation: (request: Request, caller: Caller, authorization?: string) => Promise<unknown>,
    ): Unary<Request> =>
    (call, callback) => {
      void (async () => {
        try {
          const authorization = call.metadata.get('authorization')[0];
          const caller = await options.authenticator.authenticate({
            ...(authorization === undefined ? {} : { authorization: String(authorization) }),
            // Present only when the certificate verified against the client CA.
            verifiedCertificate: call.getAuthContext().sslPeerCertificate?.raw,
          });
          const traceparent = options.traceContext ? call.metadata.get('traceparent') : [];
          const result =
            traceparent.length > 0
              ? await context.with(
                  incomingTraceContext({
                    traceparent: String(traceparent[0]),
                    tracestate: call.metadata.get('tracestate').map(String),
                  }),
                  () => operation(call.request, caller, authorization?.toString()),
                )
              : await operation(call.request, caller, authorization?.toString());
          callback(null, result);
        } catch (err) {
          callback(toServiceError(err, options.logger));
        }
      })();
    };

  server.addService(serviceDefinition('ferry.v1.Management'), {
    Apply: unary(async (req: ApplyRequestMessage, caller) =>
      applyResponse(
        await service.apply(
          {
            group: req.group || undefined,
            anys: (req.resources ?? []).map((a: AnyMessage) => ({
              typeUrl: a.type_url,
              value: a.value,
            })),
            dryRun: req.dry_run === true,
            ...(req.message ? { message: String(req.message) } : {}),
            expectedRevision: revisionOrUndefined(req.expected_revision),
            force: req.force === true,
          },
          caller,
        ),
      ),
    ),
    List: unary(async (req: ListRequestMessage, caller) => {
      const list = await service.list(
        {
          typeUrl: req.type_url || undefined,
          name: req.name || undefined,
          group: req.group || undefined,
          showSecrets: req.show_secrets === true,
        },
        caller,
      );
      return {
        revision: list.revision,
        resources: list.resources.map((r) => ({
          type_url: r.typeUrl,
          group: r.group,
          name: r.name,
          version: r.version,
          revision: r.revision,
          resource: { type_url: r.typeUrl, value: Buffer.from(r.value) },
        })),
      };
    }),
    Delete: unary(async (req: DeleteRequestMessage, caller) =>
      applyResponse(
        await service.delete(
          {
            group: req.group || undefined,
            resources: (req.resources ?? []).map((r) => ({
              typeUrl: r.type_url ?? '',
              name: r.name ?? '',
            })),
            dryRun: req.dry_run === true,
            ...(req.message ? { message: String(req.message) } : {}),
            expectedRevision: revisionOrUndefined(req.expected_revision),
            force: req.force === true,
          },
          caller,
        ),
      ),
    ),
    History: unary(async (req: HistoryRequestMessage, caller) => ({
      entries: (await service.history(req.limit || undefined, caller)).map((e) => ({
        revision: e.revision,
        time: timestamp(e.time),
        message: e.message,
        actor: e.actor,
        trace_id: e.traceId ?? '',
        changes: e.changes.map((c) => ({
          type_url: c.typeUrl,
          group: c.group,
          name: c.name,
          action: c.action,
          version: c.version,
        })),
      })),
    })),
    Rollback: unary(async (req: RollbackRequestMessage, caller) =>
      applyResponse(
        await service.rollback(
          {
            revision: Number(req.revision ?? 0),
            group: req.group || undefined,
            dryRun: req.dry_run === true,
            ...(req.message ? { message: String(req.message) } : {}),
            force: req.force === true,
          },
          caller,
        ),
      ),
    ),
    Status: unary(
      async (
        req: { node_id?: string; resources?: boolean; local?: boolean },
        caller,
        authorization,
      ) => {
        const status = await service.status(
          caller,
          {
            ...(req.node_id ? { nodeId: String(req.node_id) } : {}),
            resources: req.resources === true,
          },
          req.local === true
            ? undefined
            : { authorization, viaCertificate: caller.via === 'certificate' },
        );
        const set = status.replicaSet;
        return {
          revision: status.revision,
          nodes: status.nodes.map(nodeStatus),
          ...(set
            ? {
                replica_set: {
                  self: set.self,
                  leader: set.leader ?? '',
                  ...(set.leaderExpiresAt
                    ? { leader_expires_at: timestamp(set.leaderExpiresAt) }
                    : {}),
                  replicas: set.replicas.map((r) => ({
                    id: r.id,
                    address: r.address,
                    api_url: r.apiUrl,
                    leader: r.leader,
                    self: r.self,
                  })),
                },
              }
            : {}),
          unanswered_replicas: (status.unansweredReplicas ?? []).map((u) => ({
            replica: u.replica,
            api_url: u.apiUrl,
            error: u.error,
          })),
        };
      },
    ),
    StartRollout: unary(async (req: StartRolloutMessage, caller) => {
      const rollouts = options.rollouts;
      if (!rollouts) throw noView('StartRollout');
      const started = await rollouts.start(
        {
          group: req.group || undefined,
          anys: (req.resources ?? []).map((a: AnyMessage) => ({
            typeUrl: a.type_url,
            value: a.value,
          })),
          ...(req.message ? { message: String(req.message) } : {}),
          force: req.force === true,
          spec: parseRolloutSpec(grpcRolloutSpec(req)),
        },
        caller,
      );
      return {
        rollout: rolloutMessage(started.rollout),
        changes: (
          applyResponse({ revision: 0, dryRun: true, changes: started.changes }) as {
            changes: unknown[];
          }
        ).changes,
      };
    }),
    ListRollouts: unary(async (req: { group?: string }, caller) => {
      const rollouts = options.rollouts;
      if (!rollouts) throw noView('ListRollouts');
      const records = await rollouts.list(req.group || undefined, caller);
      return { rollouts: records.map(rolloutMessage) };
    }),
    ActOnRollout: unary(async (req: { group?: string; action?: string }, caller) => {
      const rollouts = options.rollouts;
      if (!rollouts) throw noView('ActOnRollout');
      const action = req.action ?? '';
      if (!ROLLOUT_ACTIONS.includes(action as RolloutAction))
        throw new FerryError(
          'FERRY_BAD_REQUEST',
          `action: expected one of ${ROLLOUT_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`,
        );
      const record = await rollouts.act(req.group || undefined, action as RolloutAction, caller);
      return { rollout: rolloutMessage(record) };
    }),
    // The same views as GET /v1/health and /v1/load, with times as Timestamps.
    Health: unary((req: ViewFilterMessage, caller) => {
      const source = options.health;
      if (!source) return Promise.reject(noView('Health'));
      const view = scopedHealthJson(source, filterOf(req), caller);
      return Promise.resolve({
        clusters: view.clusters.map((c) => ({
          ...c,
          endpoints: c.endpoints.map((e) => ({ ...e, since: timestamp(e.since) })),
        })),
        nodes: view.nodes.map((n) => ({ ...n, reported_at: timestamp(n.reported_at) })),
      });
    }),
    Load: unary((req: ViewFilterMessage, caller) => {
      const source = options.load;
      if (!source) return Promise.reject(noView('Load'));
      const view = scopedLoadJson(source, filterOf(req), caller);
      return Promise.resolve({
        clusters: view.clusters.map((c) => ({
          ...c,
          nodes: c.nodes.map(({ dropped, reported_at, ...n }) => ({
            ...n,
            reported_at: timestamp(reported_at),
            dropped_latest: dropped.latest,
            dropped_total: dropped.total,
          })),
        })),
      });
    }),
    CreateToken: unary(async (req: CreateTokenRequestMessage, caller) => {
      const seconds = Number(req.expires_in_seconds ?? 0);
      const created = await service.createToken(
        {
          name: req.name ?? '',
          role: req.role ?? '',
          groups: req.groups ?? [],
          ...(seconds > 0 ? { expiresInSeconds: seconds } : {}),
          ...(req.client_identity ? { clientIdentity: req.client_identity } : {}),
        },
        caller,
      );
      return { info: tokenInfo(created.record), token: created.token ?? '' };
    }),
    ListTokens: unary(async (_req: unknown, caller) => ({
      tokens: (await service.listTokens(caller)).map(tokenInfo),
    })),
    RevokeToken: unary(async (req: RevokeTokenRequestMessage, caller) => {
      await service.revokeToken(req.name ?? '', caller);
      return {};
    }),
  });
}

function tokenInfo(r: ApiTokenRecord): unknown {
  return {
    name: r.name,
    role: r.role,
    groups: r.groups,
    client_identity: r.clientIdentity,
    created_at: timestamp(r.createdAt),
    ...(r.expiresAt === undefined ? {} : { expires_at: timestamp(r.expiresAt) }),
    created_by: r.createdBy,
  };
}

function filterOf(req: ViewFilterMessage | undefined): { group?: string; cluster?: string } {
  return {
    ...(req?.group ? { group: String(req.group) } : {}),
    ...(req?.cluster ? { cluster: String(req.cluster) } : {}),
  };
}

function noView(method: string): FerryError {
  return new FerryError(
    'FERRY_NOT_FOUND',
    `${method}: this server has no ${method === 'Health' ? 'HDS health view' : method === 'Load' ? 'LRS load view' : 'rollout controller'} (it is served by ferry-control-plane)`,
  );
}

function applyResponse(r: ApplyResponse): unknown {
  return {
    revision: r.revision,
    dry_run: r.dryRun,
    changes: r.changes.map((c) => ({
      type_url: c.typeUrl,
      group: c.group,
      name: c.name,
      action: c.action,
      version: c.version,
    })),
    preflight: (r.preflight ?? []).map(preflightJson),
  };
}

function nodeStatus(n: NodeStatus): unknown {
  return {
    node_id: n.nodeId,
    cluster: n.cluster,
    group: n.group,
    user_agent: n.userAgent,
    address: n.address,
    connected_since: timestamp(n.connectedSince),
    last_seen: timestamp(n.lastSeen),
    connected: n.connected,
    stream_kind: n.streams.join(','),
    replica: n.replica ?? '',
    ...(n.rollout !== undefined ? { rollout: n.rollout } : {}),
    types: n.types.map((t) => ({
      type_url: t.typeUrl,
      version_sent: t.versionSent,
      version_acked: t.versionAcked,
      resources: t.resources,
      ...(t.lastNack
        ? {
            last_nack_version: t.lastNack.version,
            last_nack_error: t.lastNack.error,
            last_nack_time: timestamp(t.lastNack.time),
            last_nack_resources: t.lastNack.resources ?? [],
          }
        : {}),
      version_applied: t.versionApplied ?? '',
      rejected_resources: (t.rejectedResources ?? []).map(resourceStatusMessage),
      resource_statuses: (t.resourceStatuses ?? []).map(resourceStatusMessage),
    })),
  };
}

function resourceStatusMessage(r: ResourceStatus): unknown {
  return {
    name: r.name,
    state: r.state,
    version_running: r.versionRunning,
    version_sent: r.versionSent,
    ...(r.nack
      ? {
          nack_version: r.nack.version,
          nack_error: r.nack.error,
          nack_time: timestamp(r.nack.time),
        }
      : {}),
  };
}

interface StartRolloutMessage {
  group?: string;
  resources?: readonly AnyMessage[];
  message?: string;
  force?: boolean;
  stages?: readonly string[];
  bake?: string;
  selector?: Record<string, string>;
  max_error_ratio?: number;
  max_error_ratio_increase?: number;
  min_requests?: string | number;
  max_unhealthy_hosts_increase?: number;
  latency_max_ratio?: number;
  latency_min_requests?: string | number;
}

const ROLLOUT_ACTIONS: readonly RolloutAction[] = ['pause', 'resume', 'abort', 'promote'];

/** The request's spec in the shape parseRolloutSpec reads (unset gates keep their defaults). */
function grpcRolloutSpec(req: StartRolloutMessage): Record<string, unknown> {
  const gates: Record<string, unknown> = {};
  if (req.max_error_ratio !== undefined) gates.max_error_ratio = req.max_error_ratio;
  if (req.max_error_ratio_increase !== undefined)
    gates.max_error_ratio_increase = req.max_error_ratio_increase;
  if (req.min_requests !== undefined) gates.min_requests = Number(req.min_requests);
  if (req.max_unhealthy_hosts_increase !== undefined)
    gates.max_unhealthy_hosts_increase = req.max_unhealthy_hosts_increase;
  if (req.latency_max_ratio !== undefined || req.latency_min_requests !== undefined)
    gates.latency = {
      ...(req.latency_max_ratio !== undefined ? { max_ratio: req.latency_max_ratio } : {}),
      ...(req.latency_min_requests !== undefined
        ? { min_requests: Number(req.latency_min_requests) }
        : {}),
    };
  return {
    stages: [...(req.stages ?? [])],
    ...(req.bake ? { bake: req.bake } : {}),
    ...(req.selector && Object.keys(req.selector).length > 0 ? { selector: req.selector } : {}),
    gates,
  };
}

function rolloutMessage(r: RolloutRecord): unknown {
  const view = rolloutView(r);
  return {
    name: r.name,
    group: r.group,
    state: r.state,
    stage: r.stage,
    stages: view.stages,
    selectors: view.selectors,
    bake: view.bake,
    updated_nodes: [...r.updatedNodes],
    reason: r.reason,
    created_by: r.createdBy,
    created_at: timestamp(new Date(r.createdAt).toISOString()),
    updated_at: timestamp(new Date(r.updatedAt).toISOString()),
    base_revision: r.baseRevision,
  };
}

/** uint64 arrives as a decimal string (loader option longs: String); 0 means "not set". */
function revisionOrUndefined(value: unknown): number | undefined {
  const n = Number(value ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function timestamp(iso: string): { seconds: number; nanos: number } | undefined {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function toServiceError(err: unknown, logger: Logger | undefined): Partial<grpc.ServiceError> {
  const ferry = isFerryError(err)
    ? err
    : new FerryError('FERRY_INTERNAL', `internal error: ${(err as Error)?.message ?? String(err)}`);
  if (!isFerryError(err)) logger?.error({ err }, 'management gRPC call failed');
  const metadata = new grpc.Metadata();
  metadata.set('ferry-error-code', ferry.code);
  return {
    code: grpc.status[ERROR_CODES[ferry.code].grpcStatus],
    details: [ferry.message, ...ferry.details].join('\n'),
    metadata,
  };
}
