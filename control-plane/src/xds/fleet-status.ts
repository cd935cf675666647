/**
 * What the xDS layer tells the management API about connected proxies: per node and type, the
 * version sent, the version ACKed, and the last NACK with its error_detail and the resources the
 * rejected response carried; per resource, the ones rejected alone and, on request, every one.
 */
export interface TypeStatus {
  readonly typeUrl: string;
  readonly versionSent: string;
  readonly versionAcked: string;
  readonly resources: number;
  readonly lastNack?: NackStatus;
  /**
   * The version the type's resources run, but those in `rejectedResources`: the last ACKed one,
   * or the last one the client rejected only in part (it applied the rest).
   */
  readonly versionApplied?: string;
  /** The resources the client rejected alone, each running an earlier version (or none). */
  readonly rejectedResources?: readonly ResourceStatus[];
  /** Every resource of the type, when asked for (`resources: true`). */
  readonly resourceStatuses?: readonly ResourceStatus[];
  /**
   * The W3C trace id of the last push of the type that tracing recorded (its `xds.push` span);
   * absent with tracing off or before a sampled push.
   */
  readonly pushTraceId?: string;
}

/** One resource on one node (docs/architecture.md, "Per-resource acceptance"). */
export interface ResourceStatus {
  readonly name: string;
  /** ACKED, NACKED, REQUESTED (sent, not answered yet) or DOES_NOT_EXIST. */
  readonly state: string;
  /** The version of the type's response whose copy of it runs; '' = the node has none. */
  readonly versionRunning: string;
  readonly versionSent: string;
  /** Its latest rejection: the version rejected, why, when (ISO 8601). */
  readonly nack?: { readonly version: string; readonly error: string; readonly time: string };
}

/** What a status read covers. */
export interface StatusOptions {
  /** Only this node. */
  readonly nodeId?: string;
  /** Include `resourceStatuses` (every resource of every type). */
  readonly resources?: boolean;
}

/** The latest rejection of a type's response (recorded per node and per resource). */
export interface NackStatus {
  readonly version: string;
  readonly error: string;
  /** ISO 8601. */
  readonly time: string;
  /**
   * The resource names rejected: those the client named (it applied the rest of the response),
   * or else every resource the rejected response carried (SotW: all of that response; delta: the
   * resources updated by it). Absent when the source does not know them.
   */
  readonly resources?: readonly string[];
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly cluster: string;
  /** The node's group: node.cluster, or "default". */
  readonly group: string;
  readonly userAgent: string;
  readonly address: string;
  /** "ads-sotw", "ads-delta", "lds", "cds-delta", ... (several when a node has several streams). */
  readonly streams: readonly string[];
  readonly connected: boolean;
  /** ISO 8601. */
  readonly connectedSince: string;
  readonly lastSeen: string;
  readonly types: readonly TypeStatus[];
  /** The control-plane replica that holds the streams (set by the management API). */
  readonly replica?: string;
  /**
   * The group's active rollout as it concerns this node: "<rollout> stage N/M: candidate" or
   * "<rollout> stage N/M: stable". Absent when the group has none.
   */
  readonly rollout?: string;
}

/**
 * What paging the fleet needs of a node (GET /v1/nodes), without building its whole row: the
 * fields searched, and its sync state (nodes-page.ts has the rule).
 */
export interface NodeSummary {
  readonly nodeId: string;
  readonly group: string;
  readonly address: string;
  readonly userAgent: string;
  readonly state: 'SYNCED' | 'STALE' | 'NACKED';
}

export interface FleetStatusSource {
  nodes(options?: StatusOptions): NodeStatus[];
  /** Every node's summary, cheaper than `nodes()` (large fleets page through these). */
  summaries?(): NodeSummary[];
}
