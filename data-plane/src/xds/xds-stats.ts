/**
 * The xDS client's stats for /stats/prometheus: accepted and rejected responses per type URL,
 * connects, whether the stream is up, when the last update accepted over xDS was applied, and
 * how many resources per type URL are currently rejected (each keeping its last accepted
 * version, docs/architecture.md "Per-resource acceptance").
 */
import type { StatSample, StatsContributor } from '../stats/stats.js';
import type { XdsCounters } from './config-source.js';

export class XdsStats implements StatsContributor {
  constructor(
    private readonly xds: XdsCounters,
    /** ms since epoch of the last config accepted over xDS; 0 = never. */
    private readonly lastUpdateMs: () => number,
  ) {}

  counters(): StatSample[] {
    const c = this.xds;
    return [
      ...byType('xds_update_success_total', c.updates),
      ...byType('xds_update_rejected_total', c.rejections),
      { name: 'xds_connects_total', labels: {}, value: c.connects },
    ];
  }

  gauges(): StatSample[] {
    return [
      { name: 'xds_connected', labels: {}, value: this.xds.connected ? 1 : 0 },
      {
        name: 'xds_last_update_timestamp_seconds',
        labels: {},
        value: Math.floor(this.lastUpdateMs() / 1000),
      },
      ...[...this.xds.rejectedResources].map(([typeUrl, rejected]) => ({
        name: 'xds_rejected_resources',
        labels: { type_url: typeUrl },
        value: rejected.size,
      })),
    ];
  }
}

function byType(name: string, counts: ReadonlyMap<string, number>): StatSample[] {
  return [...counts].map(([typeUrl, value]) => ({ name, labels: { type_url: typeUrl }, value }));
}
