/**
 * What the admin endpoint reads and what it controls. Each read-only view is a small source of
 * its own (server-info.ts, config-dump.ts, clusters.ts, primary-stats.ts), built by the primary
 * over the parts it owns; the admin server only asks them and renders the answer. The controls
 * (the POST endpoints and /logging) act on the process and are the primary's.
 */
import type { ClusterModel } from '../config/model.js';
import type { HostHealthView } from '../health/health-manager.js';
import type { StatsSnapshot } from '../stats/stats.js';

/** Envoy's server states (envoy.admin.v3.ServerInfo.State). */
export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';

/** /ready and /server_info. */
export interface ServerInfoSource {
  state(): ServerState;
  /** envoy.admin.v3.ServerInfo as JSON, with Ferry's workers, config and xDS sections. */
  info(): Record<string, unknown>;
}

/** /config_dump. */
export interface ConfigDumpSource {
  dump(): Record<string, unknown>;
}

/** /certs (envoy.admin.v3.Certificates as JSON). */
export interface CertificatesSource {
  dump(): unknown;
}

/** One row of /clusters: a cluster, whether it came over xDS, and its hosts' health views. */
export interface ClusterStatusInput {
  readonly cluster: ClusterModel;
  readonly addedViaApi: boolean;
  /** Active health-check view by host key (`host:port`); absent = not health checked. */
  readonly activeHealth?: ReadonlyMap<string, HostHealthView>;
  /** Host keys ejected by outlier detection (the primary's); absent = none. */
  readonly outlierEjected?: ReadonlySet<string>;
}

/** /clusters: the clusters' hosts with their health flags (active checks, outlier ejections). */
export interface ClustersSource {
  rows(): readonly ClusterStatusInput[] | Promise<readonly ClusterStatusInput[]>;
}

/** /stats/prometheus. */
export interface StatsSource {
  snapshot(): Promise<StatsSnapshot>;
}

export interface AdminSources {
  readonly serverInfo: ServerInfoSource;
  readonly configDump: ConfigDumpSource;
  readonly certs: CertificatesSource;
  readonly clusters: ClustersSource;
  readonly stats: StatsSource;
}

/** The endpoints that change the process's state (POST only) and /logging. */
export interface AdminControls {
  setHealthcheckFailing(failing: boolean): void;
  drainListeners(): void;
  /** Every access log file is reopened (logrotate renamed it). */
  reopenLogs(): void;
  quit(): void;
  logLevel(): string;
  setLogLevel(level: string): void;
}
