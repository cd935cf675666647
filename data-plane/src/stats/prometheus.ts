/**
 * Prometheus text exposition (format 0.0.4) of a merged StatsSnapshot. Every stat is prefixed
 * `ferry_`; each family has one `# HELP` and one `# TYPE` line; histograms get cumulative
 * `_bucket{le=...}` (ending with +Inf), `_sum` and `_count` series. Series are sorted so the
 * output is stable for the same numbers.
 */
import type { StatLabels, StatsSnapshot } from './stats.js';
import { statHelp } from './stat-help.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function metricName(name: string): string {
  return `ferry_${name.replace(/[^a-zA-Z0-9_:]/g, '_')}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: StatLabels, extra?: [string, string]): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k.replace(/[^a-zA-Z0-9_]/g, '_')}="${escapeLabel(labels[k] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function header(lines: string[], metric: string, name: string, type: string): void {
  lines.push(`# HELP ${metric} ${escapeHelp(statHelp(name))}`);
  lines.push(`# TYPE ${metric} ${type}`);
}

function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  return Number.isFinite(n) ? String(n) : 'NaN';
}

function grouped<T extends { name: string; labels: StatLabels }>(
  items: readonly T[],
): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of [...items].sort((a, b) =>
    a.name === b.name
      ? labelText(a.labels).localeCompare(labelText(b.labels))
      : a.name.localeCompare(b.name),
  )) {
    const list = out.get(item.name) ?? [];
    list.push(item);
    out.set(item.name, list);
  }
  return out;
}

export function renderPrometheus(snapshot: StatsSnapshot): string {
  const lines: string[] = [];
  for (const [name, series] of grouped(snapshot.counters)) {
    const metric = metricName(name);
    header(lines, metric, name, 'counter');
    for (const s of series) lines.push(`${metric}${labelText(s.labels)} ${formatNumber(s.value)}`);
  }
  for (const [name, series] of grouped(snapshot.gauges)) {
    const metric = metricName(name);
    header(lines, metric, name, 'gauge');
    for (const s of series) lines.push(`${metric}${labelText(s.labels)} ${formatNumber(s.value)}`);
  }
  for (const [name, series] of grouped(snapshot.histograms)) {
    const metric = metricName(name);
    header(lines, metric, name, 'histogram');
    for (const h of series) {
      let cumulative = 0;
      h.buckets.forEach((upper, i) => {
        cumulative += h.counts[i] ?? 0;
        lines.push(`${metric}_bucket${labelText(h.labels, ['le', String(upper)])} ${cumulative}`);
      });
      lines.push(`${metric}_bucket${labelText(h.labels, ['le', '+Inf'])} ${h.count}`);
      lines.push(`${metric}_sum${labelText(h.labels)} ${formatNumber(h.sum)}`);
      lines.push(`${metric}_count${labelText(h.labels)} ${h.count}`);
    }
  }
  return lines.join('\n') + '\n';
}
