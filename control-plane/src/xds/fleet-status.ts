/**
 * What the xDS layer tells the management API about connected proxies: per node and type, the
 * version sent, the version ACKed, and the last NACK with its error_detail and the resources the
 * rejected response carried.
 */
export interface TypeStatus {
  readonly typeUrl: string;
  readonly versionSent: string;
  readonly versionAcked: string;
  readonly resources: number;
  readonly lastNack?: NackStatus;
}

/** The latest rejection of a type's response (recorded per node and per resource). */
export interface NackStatus {
  readonly version: string;
  readonly error: string;
  /** ISO 8601. */
  readonly time: string;
  /**
   * The resource names the rejected response carried (SotW: every resource of that response;
   * delta: the resources updated by it). Absent when the source does not know them.
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
  /**
   * The group's active rollout as it concerns this node: "<rollout> stage N/M: candidate" or
   * "<rollout> stage N/M: stable". Absent when the group has none.
   */
  readonly rollout?: string;
}

export interface FleetStatusSource {
  nodes(): NodeStatus[];
}
