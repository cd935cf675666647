/**
 * The management HTTP API's wire contract: the JSON bodies of its requests, responses and events
 * (snake_case, like proto3 JSON and ferry/v1/management.proto). The control plane builds its
 * responses as these types, and its clients (ferryctl, the dashboard) read them through them.
 * Types only: nothing here runs, so a browser bundle may import it. Fields are only ever added.
 * docs/api.md is the reference for each endpoint.
 */

/** Any JSON value (a resource's proto3 JSON; map keys are data). */
export type WireJsonValue =
  number | string | boolean | null | WireJsonValue[] | { [key: string]: WireJsonValue };

/** Every error: `{code, message, details}` with the HTTP status of the code. */
export interface ErrorJson {
  /** A stable code, e.g. FERRY_INVALID_CONFIG, FERRY_FORBIDDEN. */
  readonly code: string;
  readonly message: string;
  /** One line per problem, each starting with its field path. */
  readonly details: readonly string[];
}

// ---- writes -------------------------------------------------------------------------------------

/** Fields every write takes (POST /v1/apply, /v1/delete, /v1/rollback). */
export interface WriteFieldsJson {
  readonly group?: string;
  readonly dry_run?: boolean;
  readonly expected_revision?: number;
  readonly message?: string;
  /** Write even when the pre-flight refuses. */
  readonly force?: boolean;
}

/** POST /v1/apply. */
export interface ApplyRequestJson extends WriteFieldsJson {
  /** proto3 JSON documents with "@type". */
  readonly resources: readonly unknown[];
}

/** POST /v1/delete. */
export interface DeleteRequestJson extends WriteFieldsJson {
  readonly resources: ReadonlyArray<{ readonly type: string; readonly name: string }>;
}

/** POST /v1/rollback. */
export interface RollbackRequestJson extends Omit<WriteFieldsJson, 'expected_revision'> {
  readonly revision: number;
}

export interface ResourceChangeJson {
  readonly type_url: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  /** created, updated, unchanged or deleted. */
  readonly action: string;
  readonly version: string;
}

/** The answer of every write. */
export interface ApplyResponseJson {
  readonly revision: number;
  readonly dry_run: boolean;
  readonly changes: readonly ResourceChangeJson[];
  /** Present when the control plane runs pre-flights (docs/architecture.md, "Pre-flight"). */
  readonly preflight?: readonly PreflightJson[];
}

/** The Preflight message of proto/ferry/v1/management.proto, in proto field names. */
export interface PreflightJson {
  readonly group: string;
  readonly translator_version: string;
  readonly checked_resources: number;
  readonly resources: ReadonlyArray<{
    readonly type_url: string;
    readonly kind: string;
    readonly name: string;
    readonly changed: boolean;
    readonly errors: readonly string[];
    readonly unchecked: readonly string[];
    readonly rejected_by: readonly string[];
    readonly blocking: boolean;
  }>;
  readonly proxies: ReadonlyArray<{
    readonly node_id: string;
    readonly user_agent: string;
    readonly pre_checked: boolean;
    readonly would_ack: boolean;
    readonly rejects: readonly string[];
    readonly note: string;
  }>;
  readonly pre_checked_proxies: number;
  readonly other_proxies: number;
  readonly warnings: readonly string[];
  readonly refuse: boolean;
}

// ---- resources and history ----------------------------------------------------------------------

export interface ResourceJson {
  readonly type_url: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  readonly version: string;
  readonly revision: number;
  /** The resource as proto3 JSON with "@type" (key material redacted unless asked for). */
  readonly resource: Record<string, WireJsonValue>;
}

/** GET /v1/resources. */
export interface ListResponseJson {
  readonly revision: number;
  readonly resources: readonly ResourceJson[];
}

export interface HistoryEntryJson {
  readonly revision: number;
  /** ISO-8601. */
  readonly time: string;
  readonly message: string;
  /** Who made it: a token's name, FERRY_API_TOKEN, loopback, or "" (the control plane). */
  readonly actor: string;
  /**
   * The W3C trace id (32 hex digits) of the apply, delete or rollback that made the revision, when
   * the control plane traced it (and sampled it); the trace also holds every replica's publish.
   */
  readonly trace_id?: string;
  /** `action` is "put" or "delete". */
  readonly changes: readonly ResourceChangeJson[];
}

/** GET /v1/history. */
export interface HistoryJson {
  readonly entries: readonly HistoryEntryJson[];
  /**
   * The log's base: the revisions up to it were trimmed (their entries are gone), the state at
   * it is kept (rollback to it works). 0 while nothing was trimmed.
   */
  readonly history_base: number;
}

// ---- the fleet ----------------------------------------------------------------------------------

export interface TypeStatusJson {
  readonly type_url: string;
  readonly version_sent: string;
  readonly version_acked: string;
  /**
   * The type's sync state, by the rule GET /v1/nodes applies to the node (NodeSyncState): NACKED
   * until an ACK clears a rejection, even once a newer version was sent. Absent from the rows of
   * a control plane that predates it.
   */
  readonly state?: NodeSyncState;
  readonly resources: number;
  readonly last_nack?: {
    readonly version: string;
    readonly error: string;
    readonly time: string;
    readonly resources?: readonly string[];
  };
  /** What the type's resources run, but the rejected ones (docs/architecture.md). */
  readonly version_applied?: string;
  /** The resources the proxy rejected alone (each runs an earlier version, or none). */
  readonly rejected_resources?: readonly ResourceStatusJson[];
  /** Every resource, with `?resources=true`. */
  readonly resource_statuses?: readonly ResourceStatusJson[];
  /**
   * The W3C trace id (32 hex digits) of the last push of this type the control plane traced (its
   * `xds.push` span, linked to the apply it carried); absent with tracing off or none sampled.
   */
  readonly push_trace_id?: string;
}

export interface ResourceStatusJson {
  readonly name: string;
  /** ACKED, NACKED, REQUESTED or DOES_NOT_EXIST. */
  readonly state: string;
  readonly version_running: string;
  readonly version_sent: string;
  readonly nack?: { readonly version: string; readonly error: string; readonly time: string };
}

/** One proxy, as GET /v1/status, GET /v1/nodes and the `node` event show it. */
export interface NodeStatusJson {
  readonly node_id: string;
  readonly cluster: string;
  readonly group: string;
  readonly user_agent: string;
  readonly address: string;
  readonly streams: readonly string[];
  readonly connected: boolean;
  readonly connected_since: string;
  readonly last_seen: string;
  readonly types: readonly TypeStatusJson[];
  /** The control-plane replica holding the proxy's streams. */
  readonly replica?: string;
  /** The group's active rollout as it concerns the node ("<rollout> stage N/M: candidate"). */
  readonly rollout?: string;
}

export interface ReplicaJson {
  readonly id: string;
  readonly address: string;
  readonly api_url: string;
  readonly leader: boolean;
  readonly self: boolean;
}

export interface ReplicaSetJson {
  readonly self: string;
  /** Absent: no leader seen. */
  readonly leader?: string;
  readonly leader_expires_at?: string;
  readonly replicas: readonly ReplicaJson[];
}

/** GET /v1/status. */
export interface StatusJson {
  readonly revision: number;
  readonly nodes: readonly NodeStatusJson[];
  readonly replica_set?: ReplicaSetJson;
  /** Live replicas asked for their proxies that did not answer (their proxies are missing). */
  readonly unanswered_replicas?: readonly UnansweredReplicaJson[];
}

/** A live replica asked for its proxies that did not answer, with why. */
export interface UnansweredReplicaJson {
  readonly replica: string;
  readonly api_url: string;
  readonly error: string;
}

/**
 * A node's sync state, as GET /v1/nodes filters and counts it: NACKED when a type's last response
 * was rejected (in whole or in part), else STALE when a type's sent version is not the one it
 * runs yet (or the node is disconnected), else SYNCED.
 */
export type NodeSyncState = 'SYNCED' | 'STALE' | 'NACKED';

/** GET /v1/nodes?group=&state=&q=&offset=&limit= */
export interface NodesPageJson {
  readonly revision: number;
  /** Nodes matching group, state and q (before paging). */
  readonly total: number;
  /** Nodes matching group and q, by state (the state filter aside). */
  readonly counts: Readonly<Record<NodeSyncState, number>>;
  /**
   * The groups of every node the caller may read, the filters aside, sorted: what the group
   * filter can pick from.
   */
  readonly groups: readonly string[];
  readonly offset: number;
  readonly limit: number;
  /** Sorted by node id, then replica; each with its `state`. */
  readonly nodes: ReadonlyArray<NodeStatusJson & { readonly state: NodeSyncState }>;
  /**
   * Live replicas asked for their proxies that did not answer (their proxies are missing from
   * total, counts and nodes); absent with `local=true` or a single replica.
   */
  readonly unanswered_replicas?: readonly UnansweredReplicaJson[];
}

// ---- health, load, rollouts, certificates -------------------------------------------------------

export interface EndpointHealthJson {
  readonly address: string;
  readonly status: string;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly proxies: number;
  readonly since: string;
  readonly unhealthy_nodes: readonly string[];
  readonly eds_unhealthy_by_quorum?: boolean;
}

export interface ClusterHealthJson {
  readonly group: string;
  readonly cluster: string;
  readonly quorum?: { readonly unhealthy_percent: number; readonly min_proxies: number };
  readonly endpoints: readonly EndpointHealthJson[];
}

export interface NodeHealthJson {
  readonly node_id: string;
  readonly group: string;
  readonly reported_at: string;
  readonly clusters: ReadonlyArray<{
    readonly cluster: string;
    readonly endpoints: ReadonlyArray<{ readonly address: string; readonly status: string }>;
  }>;
}

/** GET /v1/health. */
export interface HealthJson {
  readonly clusters: readonly ClusterHealthJson[];
  readonly nodes: readonly NodeHealthJson[];
}

/** LRS's counter names, per locality or summed. */
export interface LoadCountsJson {
  readonly total_successful_requests: number;
  readonly total_error_requests: number;
  readonly total_issued_requests: number;
  readonly total_requests_in_progress: number;
  readonly total_dropped_requests: number;
}

export interface NodeLoadJson {
  readonly node: string;
  readonly reported_at: string;
  readonly load_report_interval_ms?: number;
  readonly dropped: { readonly latest: number; readonly total: number };
  readonly localities: ReadonlyArray<{
    readonly locality: {
      readonly region: string;
      readonly zone: string;
      readonly sub_zone: string;
    };
    readonly latest: LoadCountsJson;
    readonly total: LoadCountsJson;
    /** Named load metrics since the node's stream opened (LRS's EndpointLoadMetricStats). */
    readonly load_metric_stats: ReadonlyArray<{
      readonly metric_name: string;
      readonly num_requests_finished_with_metric: number;
      readonly total_metric_value: number;
    }>;
  }>;
}

/** GET /v1/load. */
export interface LoadJson {
  readonly clusters: ReadonlyArray<{
    readonly group: string;
    readonly cluster: string;
    readonly total: LoadCountsJson;
    readonly nodes: readonly NodeLoadJson[];
  }>;
}

/**
 * One load series in fixed time buckets, oldest first: index i covers
 * [start_ms + i × bucket_ms, start_ms + (i + 1) × bucket_ms) of the enclosing LoadHistoryJson; a
 * report counts in the bucket of the time the control plane received it. The last bucket is the
 * current one, still filling.
 */
export interface LoadBucketsJson {
  /** Requests issued (LRS total_issued_requests). */
  readonly requests: readonly number[];
  /** Requests that ended in an error, 5xx included (LRS total_error_requests). */
  readonly errors: readonly number[];
  /** Sum of the upstream request times in ms (load metric ferry.upstream_rq_time_ms). */
  readonly latency_ms_sum: readonly number[];
  /** Requests that reported an upstream request time (the metric's request count). */
  readonly latency_count: readonly number[];
}

export interface LocalityJson {
  readonly region: string;
  readonly zone: string;
  readonly sub_zone: string;
}

/** One endpoint's outlier ejections as the proxies report them over LRS. */
export interface OutlierEndpointJson {
  /** `host:port` (`[v6]:port`). */
  readonly address: string;
  /** How many proxies have it ejected in their latest load report (ejected_nodes' length). */
  readonly ejected_by: number;
  /** Those proxies' node ids, sorted. */
  readonly ejected_nodes: readonly string[];
  /** Ejections that started, per bucket of the window (summed over the proxies). */
  readonly ejections: readonly number[];
}

/** GET /v1/load/history: the last hour of the fleet's load, per cluster and locality. */
export interface LoadHistoryJson {
  readonly bucket_ms: number;
  /** Start of the oldest bucket, epoch milliseconds (a multiple of bucket_ms). */
  readonly start_ms: number;
  /** Number of buckets in every series. */
  readonly buckets: number;
  /** Sorted by group, then cluster; series summed over every proxy and replica. */
  readonly clusters: ReadonlyArray<
    LoadBucketsJson & {
      readonly group: string;
      readonly cluster: string;
      /** Per locality, sorted; empty unless asked for (`localities=true`). */
      readonly localities: ReadonlyArray<LoadBucketsJson & { readonly locality: LocalityJson }>;
      /**
       * Endpoints that some proxy's outlier detection ejects now or ejected in the window, sorted
       * by address (ferry-proxy's load metrics ferry.outlier_ejected and ferry.outlier_ejections;
       * Envoy does not report them). Absent from replicas that predate it.
       */
      readonly outlier_endpoints?: readonly OutlierEndpointJson[];
    }
  >;
  /** Live replicas asked for their proxies' load that did not answer (their load is missing). */
  readonly unanswered_replicas?: readonly UnansweredReplicaJson[];
}

/** A rollout record as GET /v1/rollouts and the `rollout` event show it. */
export interface RolloutJson {
  readonly name: string;
  readonly group: string;
  /** PROGRESSING, PAUSED, ROLLED_BACK, ABORTED or PROMOTED. */
  readonly state: string;
  readonly stage: number;
  /** "3" (proxies) or "10%". */
  readonly stages: readonly string[];
  /** "key=value". */
  readonly selectors: readonly string[];
  /** A duration, e.g. "30s". */
  readonly bake: string;
  readonly gates: {
    readonly max_error_ratio: number;
    readonly max_error_ratio_increase: number;
    readonly min_requests: number;
    readonly max_unhealthy_hosts_increase: number;
  };
  readonly updated_nodes: readonly string[];
  readonly changes: ReadonlyArray<{
    readonly type_url: string;
    readonly name: string;
    /** "put" or "delete". */
    readonly op: string;
    readonly version?: string;
  }>;
  readonly stage_started_at: string;
  readonly reason: string;
  readonly created_by: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly base_revision: number;
}

/** GET /v1/rollouts. */
export interface RolloutListJson {
  readonly rollouts: readonly RolloutJson[];
}

/** POST /v1/rollouts/{action}. */
export interface RolloutActionRequestJson {
  readonly group?: string;
}

/** POST /v1/rollouts/{action}. */
export interface RolloutActionResponseJson {
  readonly rollout: RolloutJson;
}

/** POST /v1/rollouts: an apply as a rollout. */
export interface RolloutStartRequestJson {
  readonly group?: string;
  readonly resources: readonly unknown[];
  readonly message?: string;
  readonly force?: boolean;
  /** stages, bake, selector, gates (docs/rollouts.md). */
  readonly rollout: Readonly<Record<string, unknown>>;
}

export interface RolloutStartResponseJson {
  readonly rollout: RolloutJson;
  readonly changes: readonly ResourceChangeJson[];
}

export interface AcmeCertificateStatusJson {
  group: string;
  name: string;
  domains: string[];
  groups: string[];
  secret_name: string;
  directory_url: string;
  status: 'PENDING' | 'VALID' | 'FAILED';
  serial: string;
  not_after: string;
  renew_at: string;
  last_error: string;
  failures: number;
  next_attempt_at: string;
  order_url: string;
  updated_at: string;
  replica: string;
}

export interface SecretCertificateJson {
  group: string;
  /** The Secret's name. */
  name: string;
  subject: string;
  dns_names: string[];
  issuer: string;
  serial: string;
  not_before: string;
  not_after: string;
  /** Whole days left before expiry (negative once expired). */
  days_left: number;
  /** "group/name" of the AcmeCertificate that produces it, or "". */
  acme_certificate: string;
}

/** GET /v1/certificates. */
export interface CertificatesJson {
  acme_certificates: AcmeCertificateStatusJson[];
  secrets: SecretCertificateJson[];
}

// ---- access -------------------------------------------------------------------------------------

/** GET /v1/whoami. */
export interface WhoamiJson {
  readonly name: string;
  /** viewer, operator or admin. */
  readonly role: string;
  /** The groups the role applies to; "*" for every group. */
  readonly groups: readonly string[];
  /** How the caller authenticated (token, certificate, loopback, ...). */
  readonly via: string;
}

/** A token as `GET /v1/tokens` shows it: never its secret nor the secret's digest. */
export interface TokenJson {
  readonly name: string;
  readonly role: string;
  readonly groups: readonly string[];
  /** "" for a bearer token. */
  readonly client_identity: string;
  readonly created_at: string;
  /** Absent: never expires. */
  readonly expires_at?: string;
  readonly created_by: string;
}

/** GET /v1/tokens. */
export interface TokenListJson {
  readonly tokens: readonly TokenJson[];
}

/** POST /v1/tokens. */
export interface CreateTokenRequestJson {
  readonly name: string;
  readonly role: string;
  readonly groups?: readonly string[];
  readonly expires_in_seconds?: number;
  readonly client_identity?: string;
}

/** DELETE /v1/tokens/{name}. */
export interface RevokedTokenJson {
  readonly revoked: string;
}

export interface CreatedTokenJson extends TokenJson {
  /** The bearer token, shown this once; absent for a client-certificate binding. */
  readonly token?: string;
}

// ---- GET /v1/events -----------------------------------------------------------------------------

/** A committed revision's changes to one group (one event per group the revision changed). */
export interface StoreEventJson {
  readonly revision: number;
  readonly group: string;
  /** Who made it (as history shows it). */
  readonly actor: string;
  /** ISO-8601. */
  readonly at: string;
  readonly message: string;
  readonly changes: ReadonlyArray<{
    /** The resource's kind, e.g. Cluster. */
    readonly type: string;
    readonly type_url: string;
    readonly name: string;
    /** "put" or "delete". */
    readonly action: string;
  }>;
}

/**
 * A proxy connected, was sent a response, ACKed, NACKed or lost a stream: its row as GET
 * /v1/status shows it, with its sync state as GET /v1/nodes counts it.
 */
export type NodeEventJson = NodeStatusJson & { readonly state: NodeSyncState };

/** A proxy left the fleet's status (its record was forgotten after it disconnected). */
export interface NodeGoneEventJson {
  readonly node_id: string;
  readonly group: string;
}

/** A cluster's endpoint health changed: the cluster as GET /v1/health shows it. */
export interface HealthEventJson extends ClusterHealthJson {
  /** True when no proxy reports the cluster any more (`endpoints` is then empty). */
  readonly gone?: boolean;
}

/**
 * The endpoints some proxy of this replica's load streams ejects by outlier detection changed
 * for a cluster (an ejection started or ended, or a proxy holding one left): the cluster's
 * `outlier_endpoints` as this replica's GET /v1/load/history?local=true shows them now.
 */
export interface OutlierEventJson {
  readonly group: string;
  readonly cluster: string;
  readonly endpoints: readonly OutlierEndpointJson[];
}

/** A rollout record changed: as GET /v1/rollouts shows it. */
export type RolloutEventJson = RolloutJson;

/** The events of GET /v1/events, by their `event:` field. */
export interface EventDataJson {
  readonly store: StoreEventJson;
  readonly node: NodeEventJson;
  readonly node_gone: NodeGoneEventJson;
  readonly health: HealthEventJson;
  readonly outlier: OutlierEventJson;
  readonly rollout: RolloutEventJson;
  /** The cursor asked for is older than what the server keeps: refetch everything. */
  readonly reset: Record<string, never>;
}

export type EventType = keyof EventDataJson;

// ---- the WAF (GET /v1/waf) ----------------------------------------------------------------------

/** A route level (route configuration, virtual host, route, weighted cluster) overriding it. */
export interface WafRouteOverrideJson {
  readonly route_config: string;
  /** Field path of the level in its route configuration, e.g. `virtual_hosts[0].routes[1]`. */
  readonly path: string;
  readonly disabled: boolean;
  /** ON | DETECTION_ONLY | OFF; absent: the filter's. */
  readonly mode?: string;
  /** Hash of the filter's and the route's directives; absent: no extra directives. */
  readonly rule_set?: string;
}

export interface WafFilterStatusJson {
  readonly node_id: string;
  readonly group: string;
  readonly connected: boolean;
  readonly listener: string;
  /** The HttpFilter's name. */
  readonly filter: string;
  /** ON | DETECTION_ONLY | OFF (unset in the config: the directives' SecRuleEngine). */
  readonly mode: string;
  /** First 16 hex digits of the SHA-256 of the directives joined with newlines. */
  readonly rule_set: string;
  /** The directives include the proxy host's OWASP CRS install (`Include @crs/...`). */
  readonly crs: boolean;
  readonly routes_overriding: readonly WafRouteOverrideJson[];
}

export interface WafStatusJson {
  readonly filters: readonly WafFilterStatusJson[];
}
