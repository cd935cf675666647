/**
 * The API's JSON bodies as the dashboard reads them (snake_case, like the API): the node rows,
 * history and resources of GET /v1/status, /v1/history and /v1/resources; the paged fleet of
 * GET /v1/nodes; the health, load, rollout and certificate views.
 */
export interface ResourceChangeJson {
  readonly type_url: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  readonly action: string;
  readonly version: string;
}

export interface ApplyResponseJson {
  readonly revision: number;
  readonly dry_run: boolean;
  readonly changes: readonly ResourceChangeJson[];
}

export interface ResourceJson {
  readonly type_url: string;
  readonly kind: string;
  readonly group: string;
  readonly name: string;
  readonly version: string;
  readonly revision: number;
  readonly resource: Record<string, unknown>;
}

export interface ListResponseJson {
  readonly revision: number;
  readonly resources: readonly ResourceJson[];
}

export interface HistoryEntryJson {
  readonly revision: number;
  readonly time: string;
  readonly message: string;
  readonly actor: string;
  readonly changes: readonly ResourceChangeJson[];
}

export interface HistoryJson {
  readonly entries: readonly HistoryEntryJson[];
}

export interface TypeStatusJson {
  readonly type_url: string;
  readonly version_sent: string;
  readonly version_acked: string;
  readonly resources: number;
  readonly last_nack?: {
    readonly version: string;
    readonly error: string;
    readonly time: string;
    readonly resources?: readonly string[];
  };
  readonly version_applied?: string;
  readonly rejected_resources?: ReadonlyArray<{
    readonly name: string;
    readonly state: string;
    readonly nack?: { readonly version: string; readonly error: string; readonly time: string };
  }>;
}

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
  readonly replica?: string;
  readonly rollout?: string;
}

export type NodeState = 'SYNCED' | 'STALE' | 'NACKED';

export interface NodesPageJson {
  readonly total: number;
  readonly counts: Readonly<Record<NodeState, number>>;
  readonly nodes: readonly NodeStatusJson[];
}

export interface WhoamiJson {
  readonly name: string;
  readonly role: string;
  readonly groups: readonly string[];
  readonly via: string;
}

export interface ErrorJson {
  readonly code: string;
  readonly message: string;
}

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

export interface HealthJson {
  readonly clusters: readonly ClusterHealthJson[];
}

export interface LoadCountsJson {
  readonly total_successful_requests: number;
  readonly total_error_requests: number;
  readonly total_issued_requests: number;
  readonly total_requests_in_progress: number;
  readonly total_dropped_requests: number;
}

export interface LoadJson {
  readonly clusters: ReadonlyArray<{
    readonly group: string;
    readonly cluster: string;
    readonly total: LoadCountsJson;
  }>;
}

export interface RolloutJson {
  readonly name: string;
  readonly group: string;
  readonly state: string;
  readonly stage: number;
  readonly stages: readonly string[];
  readonly selectors: readonly string[];
  readonly bake: string;
  readonly gates: Readonly<Record<string, number | null | undefined>>;
  readonly updated_nodes: readonly string[];
  readonly reason: string;
  readonly created_by: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly base_revision: number;
}

export interface CertificatesJson {
  readonly acme_certificates: ReadonlyArray<{
    readonly group: string;
    readonly name: string;
    readonly domains: readonly string[];
    readonly secret_name: string;
    readonly status: string;
    readonly not_after: string;
    readonly renew_at: string;
    readonly last_error: string;
    readonly next_attempt_at: string;
  }>;
  readonly secrets: ReadonlyArray<{
    readonly group: string;
    readonly name: string;
    readonly dns_names: readonly string[];
    readonly issuer: string;
    readonly not_after: string;
    readonly days_left: number;
    readonly acme_certificate: string;
  }>;
}

export interface UiSettingsJson {
  readonly jaeger_ui_url?: string;
}
