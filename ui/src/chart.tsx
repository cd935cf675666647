/** A small inline SVG line chart of one series over a time window (no library, no styles). */
import { h } from './vendor/preact.js';

export interface Point {
  /** Milliseconds since the epoch. */
  readonly t: number;
  readonly v: number;
}

const W = 160;
const H = 36;

export function Sparkline(props: {
  points: readonly Point[];
  windowMs: number;
  label: string;
  now: number;
}) {
  const { points, windowMs, now } = props;
  const peak = Math.max(0, ...points.map((p) => p.v));
  const max = Math.max(1, peak);
  const x = (t: number): number => W - ((now - t) / windowMs) * W;
  const y = (v: number): number => H - 2 - (v / max) * (H - 4);
  const path = points
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
    .join(' ');
  const last = points[points.length - 1];
  return (
    <svg
      class="spark"
      width={W}
      height={H}
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      data-peak={peak}
      aria-label={`${props.label}: ${last === undefined ? 'no data yet' : `latest ${last.v.toFixed(1)}, peak ${max.toFixed(1)}`}`}
    >
      <line x1="0" y1={H - 1} x2={W} y2={H - 1} stroke="currentColor" stroke-opacity="0.3" />
      {points.length > 1 && <path d={path} fill="none" stroke="currentColor" stroke-width="1.5" />}
      {last && <circle cx={x(last.t)} cy={y(last.v)} r="2" fill="currentColor" />}
    </svg>
  );
}
