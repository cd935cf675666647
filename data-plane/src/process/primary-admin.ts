/**
 * The admin endpoint's read-only sources over the primary's parts: which part each view reads.
 * Built once when the admin endpoint starts; every source reads afresh on each request, so a
 * view never shows state older than the request.
 */
import type { AdminSources, ServerState } from '../admin/admin-sources.js';
import { Certificates } from '../admin/certs.js';
import { ClusterStatuses } from '../admin/clusters.js';
import { ConfigDump } from '../admin/config-dump.js';
import { membershipGauges } from '../admin/membership-stats.js';
import { PrimaryStats } from '../admin/primary-stats.js';
import { ServerInfo } from '../admin/server-info.js';
import type { HealthManager } from '../health/health-manager.js';
import type { OutlierManager } from '../health/outlier-manager.js';
import type { ProcessStats } from '../stats/process-stats.js';
import type { ConfigSource } from '../xds/config-source.js';
import { SDS, type JsonObject } from '../xds/resource-set.js';
import type { StateFile } from '../xds/state-file.js';
import { XdsStats } from '../xds/xds-stats.js';
import type { PrimaryBootstrap } from './primary-inputs.js';
import type { WorkerPool } from './worker-pool.js';

/** The parts of the primary the admin views show. */
export interface PrimaryParts {
  readonly version: string;
  readonly commandLineOptions: Readonly<Record<string, unknown>>;
  readonly bootstrap: PrimaryBootstrap;
  /** The bootstrap document as loaded (BootstrapConfigDump). */
  readonly bootstrapJson?: JsonObject;
  /** The node identity in force (command-line overrides applied). */
  readonly node: { readonly id: string; readonly cluster: string };
  readonly startedAtMs: number;
  /** When the static resources were loaded (ISO time). */
  readonly bootTime: string;
  readonly pool: WorkerPool;
  readonly source: ConfigSource;
  readonly health: HealthManager;
  readonly outliers: OutlierManager;
  readonly processStats: ProcessStats;
  readonly stateFile: StateFile | undefined;
  readonly state: () => ServerState;
  /** The control plane the ADS stream goes to (or last tried); undefined without ADS. */
  readonly adsTarget: () => string | undefined;
  /** Every control plane of the xDS cluster, by priority. */
  readonly xdsTargets: () => readonly string[];
  readonly lastXdsUpdateMs: () => number;
  readonly workerApplyFailures: () => number;
}

export function primaryAdminSources(parts: PrimaryParts): AdminSources {
  const { bootstrap, pool, source, stateFile } = parts;
  const clusters = new ClusterStatuses({
    config: () => source.applied?.config,
    staticClusterNames: new Set(
      (bootstrap.staticClusters as JsonObject[]).map((c) => String(c.name)),
    ),
    activeHealth: () => parts.health.view(),
    outlierEjected: () => parts.outliers.ejectedHosts(),
  });
  const certs = new Certificates(() => source.applied?.config);
  return {
    serverInfo: new ServerInfo({
      version: parts.version,
      commandLineOptions: parts.commandLineOptions,
      node: {
        ...parts.node,
        ...(bootstrap.node.metadata ? { metadata: bootstrap.node.metadata } : {}),
      },
      startedAtMs: parts.startedAtMs,
      state: parts.state,
      workers: () => ({ configured: pool.size, live: pool.liveCount }),
      applied: () => source.applied,
      xds: () => {
        const target = parts.adsTarget();
        if (target === undefined) return undefined;
        return {
          target,
          targets: parts.xdsTargets(),
          counters: source.counters,
          ...(stateFile ? { stateDir: stateFile.dir } : {}),
        };
      },
    }),
    configDump: new ConfigDump({
      staticListeners: bootstrap.staticListeners as JsonObject[],
      staticClusters: bootstrap.staticClusters as JsonObject[],
      staticSecrets: (bootstrap.staticSecrets ?? []) as JsonObject[],
      resources: () => source.resources,
      subscribedSecrets: () => source.subscribedNames(SDS),
      rejected: () => source.counters.rejectedResources,
      bootTime: parts.bootTime,
      ...(parts.bootstrapJson ? { bootstrap: parts.bootstrapJson } : {}),
    }),
    certs,
    clusters,
    stats: new PrimaryStats(
      () => pool.collectStats(),
      [
        parts.health,
        parts.outliers,
        parts.processStats,
        new XdsStats(source.counters, parts.lastXdsUpdateMs),
        { gauges: () => membershipGauges(clusters.rows()) },
        { gauges: () => certs.gauges() },
        {
          counters: () => [
            {
              name: 'worker_config_apply_failures_total',
              labels: {},
              value: parts.workerApplyFailures(),
            },
          ],
          gauges: () => [
            { name: 'workers_live', labels: {}, value: pool.liveCount },
            { name: 'server_live', labels: {}, value: parts.state() === 'LIVE' ? 1 : 0 },
            {
              name: 'uptime_seconds',
              labels: {},
              value: Math.floor((Date.now() - parts.startedAtMs) / 1000),
            },
          ],
        },
      ],
    ),
  };
}
