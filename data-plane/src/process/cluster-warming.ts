/**
 * Envoy's cluster warming, as the primary runs it: a cluster that starts being health checked
 * takes traffic only after its first round, so no request goes to a host that is already down
 * (all hosts pending would be panic routing to all). The workers keep the previous config
 * meanwhile; the round's results reach them before the new config does.
 */
import type { ClusterModel, ProxyConfig } from '../config/model.js';
import { HealthManager } from '../health/health-manager.js';
import type { HealthTargets } from '../health/health-targets.js';

/** Beyond a warming round's own bound (jitter + timeout), for the probes to settle. */
const WARMING_SLACK_MS = 1000;
/** How long warming waits for a DNS cluster's first resolution. */
const DNS_WARMING_MS = 5000;

/**
 * Clusters of `config` that are actively health checked and were not checked in `running` (the
 * workers' config): new ones, or ones newly given health_checks. They warm before `config` is
 * handed over.
 */
export function warmingClusters(config: ProxyConfig, running: ProxyConfig | undefined): string[] {
  const active = running?.clusters ?? {};
  const checked = (cluster: ClusterModel | undefined): boolean =>
    cluster !== undefined && (cluster.activeHealthChecks ?? []).length > 0;
  return Object.values(config.clusters)
    .filter((cluster) => checked(cluster) && !checked(active[cluster.name]))
    .map((cluster) => cluster.name);
}

/** How long a warming round of `clusters` of `config` may take. */
export function warmingBoundMs(config: ProxyConfig, clusters: readonly string[]): number {
  return (
    HealthManager.firstRoundBoundMs(clusters.map((name) => config.clusters[name]!)) +
    WARMING_SLACK_MS
  );
}

/**
 * A warming round: a DNS cluster's first resolution (bounded by DNS_WARMING_MS, as Envoy's
 * cluster initialization waits for it), then every host's first check. Never rejects.
 */
export async function warm(
  targets: HealthTargets,
  health: HealthManager,
  clusters: readonly string[],
  boundMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    targets.firstResolution(clusters),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DNS_WARMING_MS);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  await health.firstRound(clusters, boundMs);
}
