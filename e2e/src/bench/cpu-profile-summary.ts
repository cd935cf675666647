/**
 * Reads a V8 `.cpuprofile` and says where the time went: self time per function and per source
 * (a package, a Ferry source file, or a Node internal module), largest first.
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly durationMs: number;
  /** Time outside JavaScript and native work: `(idle)`. */
  readonly idleMs: number;
  readonly topFunctions: ProfileEntry[];
  readonly bySource: ProfileEntry[];
}

/** `.../node_modules/.pnpm/x@1/node_modules/@grpc/grpc-js/build/src/server.js` → `@grpc/grpc-js`. */
export function sourceOf(url: string): string {
  if (!url) return '(native or V8)';
  if (url.startsWith('node:')) return url;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const dist = /\/([a-z-]+)\/dist\/(.*)$/.exec(url);
  return dist ? `${dist[1]}/${dist[2]}` : url.replace(/^file:\/\//, '');
}

function top(totals: Map<string, number>, totalMs: number, limit: number): ProfileEntry[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({
      name,
      selfMs: Math.round(us / 100) / 10,
      percent: Math.round((us / 1000 / totalMs) * 1000) / 10,
    }));
}

export function summarizeCpuProfile(file: string, limit = 15): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const bySource = new Map<string, number>();
  let idleUs = 0;
  // timeDeltas[i] is the gap before sample i; attribute it to that sample.
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      return;
    }
    const source = sourceOf(url);
    const fn =
      `${functionName || '(anonymous)'} ${url ? `${source}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    bySource.set(source, (bySource.get(source) ?? 0) + us);
  });
  const durationMs = (profile.endTime - profile.startTime) / 1000;
  const busyMs = Math.max(1, durationMs - idleUs / 1000);
  return {
    file,
    durationMs: Math.round(durationMs),
    idleMs: Math.round(idleUs / 1000),
    topFunctions: top(byFunction, busyMs, limit),
    bySource: top(bySource, busyMs, limit),
  };
}
