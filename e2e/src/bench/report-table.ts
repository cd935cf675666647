/** The human-readable side of a fan-out report: one column per client count. */
import type { FanoutReport } from './xds-fanout.js';

const KIB = 1024;
const MIB = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

function kib(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / KIB).toFixed(1)} KiB` : 'n/a';
}

function ms(value: number): string {
  return Number.isFinite(value) ? `${value} ms` : 'n/a';
}

type Row = [label: string, value: (r: FanoutReport) => string];

const ROWS: Row[] = [
  ["clients' HTTP/2 client", (r) => r.h2],
  [
    'clients ready / failed',
    (r) => (r.connect ? `${r.connect.ready} / ${r.connect.failed}` : 'n/a'),
  ],
  [
    'connect phase (all ACKed initial config)',
    (r) => (r.connect ? `${r.connect.durationS} s` : 'n/a'),
  ],
  [
    'initial config per client p50 / p99',
    (r) =>
      r.connect
        ? `${ms(r.connect.initialConfig.p50Ms)} / ${ms(r.connect.initialConfig.p99Ms)}`
        : 'n/a',
  ],
  ['control-plane CPU, connect phase', (r) => (r.connect ? `${r.connect.cpuSeconds} s` : 'n/a')],
  [
    'control-plane RSS idle → connected',
    (r) =>
      r.memory ? `${mib(r.memory.idleRssBytes)} → ${mib(r.memory.connectedRssBytes)}` : 'n/a',
  ],
  ['RSS per connected client', (r) => (r.memory ? kib(r.memory.perClientBytes) : 'n/a')],
  [
    'control-plane RSS peak during update',
    (r) => (r.memory ? mib(r.memory.peakRssDuringUpdateBytes) : 'n/a'),
  ],
  [
    'update: clients ACKed / expected',
    (r) =>
      r.update
        ? `${r.update.acked} / ${r.update.expected}${r.update.timedOut ? ' (timed out)' : ''}`
        : 'n/a',
  ],
  ['update: apply HTTP round trip', (r) => (r.update ? ms(r.update.applyHttpMs) : 'n/a')],
  ['update: apply → first ACK', (r) => (r.update ? ms(r.update.applyToAck.minMs) : 'n/a')],
  ['update: apply → ACK p50', (r) => (r.update ? ms(r.update.applyToAck.p50Ms) : 'n/a')],
  ['update: apply → ACK p99', (r) => (r.update ? ms(r.update.applyToAck.p99Ms) : 'n/a')],
  ['update: apply → ACK max', (r) => (r.update ? ms(r.update.applyToAck.maxMs) : 'n/a')],
  [
    'update: apply response → ACK p50 / p99 / max',
    (r) =>
      r.update?.responseToAck
        ? `${ms(r.update.responseToAck.p50Ms)} / ${ms(r.update.responseToAck.p99Ms)} / ${ms(r.update.responseToAck.maxMs)}`
        : 'n/a',
  ],
  [
    'update: response → ACK p99 by replica',
    (r) =>
      r.update?.responseToAckByReplica
        ? r.update.responseToAckByReplica.map((s) => ms(s.p99Ms)).join(', ')
        : 'n/a',
  ],
  ['update: control-plane CPU', (r) => (r.update ? `${r.update.cpuSeconds} s` : 'n/a')],
  [
    'update: bench (client) process CPU',
    (r) => (r.update ? `${r.update.benchProcessCpuSeconds} s` : 'n/a'),
  ],
  [
    'each update: apply → ACK p99',
    (r) => (r.updates ? r.updates.map((u) => ms(u.applyToAck.p99Ms)).join(', ') : 'n/a'),
  ],
  [
    'each update: control-plane / client CPU',
    (r) =>
      r.updates
        ? r.updates.map((u) => `${u.cpuSeconds} / ${u.benchProcessCpuSeconds} s`).join(', ')
        : 'n/a',
  ],
  [
    'each update: control-plane main threads CPU',
    (r) => (r.updates ? r.updates.map((u) => `${u.mainThreadCpuSeconds} s`).join(', ') : 'n/a'),
  ],
  [
    'each update: all ACKed, content checked',
    (r) =>
      r.updates
        ? r.updates
            .map((u) => (u.acked === u.expected && u.contentVerified ? 'yes' : 'NO'))
            .join(', ')
        : 'n/a',
  ],
  [
    'update: other responses (should be 0)',
    (r) => (r.update ? JSON.stringify(r.update.otherResponses) : 'n/a'),
  ],
  ['update: new endpoint in EDS', (r) => (r.update ? String(r.update.contentVerified) : 'n/a')],
  [
    'bytes received by clients, initial',
    (r) => (r.bytes ? `${mib(r.bytes.clientReceivedInitial)}` : 'n/a'),
  ],
  [
    'bytes received by clients, update',
    (r) => (r.bytes ? `${kib(r.bytes.clientReceivedUpdate)}` : 'n/a'),
  ],
  [
    'etcd watchers / watch streams (all members)',
    (r) => (r.etcdWatches ? `${r.etcdWatches.watchers} / ${r.etcdWatches.watchStreams}` : 'n/a'),
  ],
  ['bench process RSS', (r) => (r.memory ? mib(r.memory.benchProcessRssBytes) : 'n/a')],
];

export function formatTable(reports: readonly FanoutReport[]): string {
  const header = [
    '',
    ...reports.map((r) =>
      (r.controlPlane?.replicas ?? 1) > 1
        ? `${r.clients} clients, ${r.controlPlane!.replicas} replicas`
        : `${r.clients} clients`,
    ),
  ];
  const body = ROWS.map(([label, value]) => [label, ...reports.map(value)]);
  for (const report of reports) {
    for (const [name, value] of Object.entries(report.bytes?.controlPlaneUpdate ?? {})) {
      if (name.includes('bytes'))
        body.push([`update: ${name}`, ...reports.map((r) => (r === report ? kib(value) : ''))]);
    }
  }
  const rows = [header, ...body];
  const widths = header.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  const line = (row: string[]): string =>
    `| ${row.map((cell, col) => cell.padEnd(widths[col]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}
