/**
 * How long one pre-flight of a large group takes (docs/architecture.md, "Pre-flight"): N
 * listeners (HCM over RDS), N route configurations, N EDS clusters and their N load assignments,
 * translated as one write's pre-flight does. Reports numbers, asserts none.
 *
 *   node control-plane/dist/preflight/preflight-bench.js [--n 1500] [--runs 5]
 */
import { parseResourceJson } from '@ferry/proto';
import { Preflight, preflightKey, type PreflightResource } from './preflight.js';
import {
  cluster,
  listener,
  loadAssignment,
  routeConfig,
  virtualHost,
  type Doc,
} from '../validation/test-fixtures.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: a positive integer`);
  return value;
}

function group(n: number): PreflightResource[] {
  const docs: Doc[] = [];
  for (let i = 0; i < n; i++) {
    docs.push(
      listener(`l${i}`, { port: 20000 + i, rds: `r${i}` }),
      routeConfig(`r${i}`, [
        virtualHost(
          `v${i}`,
          [`host${i}.example.com`],
          [
            { prefix: '/api', cluster: `c${i}` },
            { regex: '/item/[0-9]+', cluster: `c${i}` },
            { prefix: '/', cluster: `c${i}` },
          ],
        ),
      ]),
      cluster(`c${i}`, { eds: true }),
      loadAssignment(`c${i}`, [8080, 8081, 8082]),
    );
  }
  return docs.map((doc) => {
    const parsed = parseResourceJson(doc);
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    const p = parsed.value;
    return {
      typeUrl: p.type.typeUrl,
      name: p.name,
      version: p.version,
      value: p.bytes,
      json: p.json,
    };
  });
}

const n = option('--n', 1500);
const runs = option('--runs', 5);
const resources = group(n);
const preflight = new Preflight({
  fleet: {
    connectedNodes: () => [
      { id: 'bench', user_agent_name: 'ferry-proxy', user_agent_version: 'bench' },
    ],
  },
  translatorVersion: 'bench',
});
const changed = new Set([preflightKey(resources[0]!.typeUrl, resources[0]!.name)]);
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  const report = preflight.run({ group: 'bench', after: resources, changed, before: () => [] });
  times.push(performance.now() - start);
  if (report.checkedResources !== resources.length || report.refuse)
    throw new Error(`unexpected report: ${JSON.stringify(report).slice(0, 500)}`);
}
const sorted = [...times].sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    resources: resources.length,
    runs,
    firstMs: Math.round(times[0]!),
    medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]!),
    minMs: Math.round(sorted[0]!),
  }) + '\n',
);
