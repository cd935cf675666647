/**
 * /stats/prometheus: the workers' stats summed, plus what only the primary knows, each part a
 * StatsContributor (active health checks, outlier detection, xDS, cluster membership, the
 * process's own gauges). The order of series does not matter: the renderer sorts them.
 */
import type { StatsContributor, StatsSnapshot, StatSample } from '../stats/stats.js';
import type { StatsSource } from './admin-sources.js';

export class PrimaryStats implements StatsSource {
  constructor(
    /** The workers' snapshots, summed (one IPC round trip to each live worker). */
    private readonly workers: () => Promise<StatsSnapshot>,
    private readonly contributors: readonly StatsContributor[],
  ) {}

  async snapshot(): Promise<StatsSnapshot> {
    const merged = await this.workers();
    const counters: StatSample[] = [...merged.counters];
    const gauges: StatSample[] = [...merged.gauges];
    for (const contributor of this.contributors) {
      if (contributor.counters) counters.push(...contributor.counters());
      if (contributor.gauges) gauges.push(...contributor.gauges());
    }
    return { counters, gauges, histograms: merged.histograms };
  }
}
