/**
 * How long GET /v1/nodes takes for a large fleet, and how long the event stream takes to publish
 * a change of every node (docs/api.md, "GET /v1/nodes", "Events"). N nodes in a real fleet
 * tracker, each with four types sent and ACKed (every 50th NACKed, every 7th with a send not yet
 * ACKed), across 10 groups. Reports milliseconds per page, asserts nothing.
 *
 *   node control-plane/dist/api/nodes-bench.js [--n 10000] [--runs 20]
 */
import { MemoryStore } from '../store/store-memory.js';
import { FleetTracker, type SubscriptionView } from '../xds/fleet.js';
import type { MetricChild } from '../metrics/registry.js';
import { IN_PROCESS_CALLER } from './access.js';
import { Authenticator } from './authenticator.js';
import { HttpApi } from './http-api.js';
import { ManagementService } from './management-service.js';
import { EventHub, type EventSubscriber } from './events/event-hub.js';
import { nodeEvent } from './events/event-sources.js';
import type { NodesQuery } from './nodes-page.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: a positive integer`);
  return value;
}

const TYPES = ['listener', 'route', 'cluster', 'endpoint'].map(
  (t) => `type.googleapis.com/envoy.config.${t}`,
);
const WILDCARD: SubscriptionView = { wildcard: true, names: new Set() };
const gauge: MetricChild = { inc: () => undefined, set: () => undefined, get: () => 0 };

function fleetOf(n: number): FleetTracker {
  const fleet = new FleetTracker({ connectedProxies: () => gauge });
  for (let i = 0; i < n; i++) {
    const id = `proxy-${String(i).padStart(6, '0')}`;
    const h = fleet.connect(
      { id, cluster: `group-${i % 10}`, user_agent_name: 'ferry-proxy', user_agent_version: '1.0' },
      'ads-delta',
      `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:41000`,
    );
    for (const t of TYPES) {
      h.sent(t, 'v1', 20, WILDCARD);
      h.acked(t, 'v1');
    }
    if (i % 50 === 0) h.nacked(TYPES[0]!, 'v2', 'Listener "l7": bad port', ['l7']);
    else if (i % 7 === 0) h.sent(TYPES[1]!, 'v2', 20, WILDCARD);
  }
  return fleet;
}

async function time(runs: number, run: () => unknown): Promise<string> {
  await run();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)]!;
  return `median ${median.toFixed(1)} ms, max ${ms[ms.length - 1]!.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const n = option('--n', 10_000);
  const runs = option('--runs', 20);
  const fleet = fleetOf(n);
  const service = new ManagementService({ store: new MemoryStore(), fleet });
  const api = new HttpApi({
    service,
    authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
  });
  const { port } = await api.listen('127.0.0.1', 0);
  const pages: Array<[string, NodesQuery, string]> = [
    ['first page of 100', { offset: 0, limit: 100 }, '?limit=100'],
    ['last page of 100', { offset: n - 100, limit: 100 }, `?offset=${n - 100}&limit=100`],
    [
      'one group, NACKED',
      { group: 'group-0', state: 'NACKED', offset: 0, limit: 100 },
      '?group=group-0&state=NACKED',
    ],
    ['search "00042"', { q: '00042', offset: 0, limit: 100 }, '?q=00042'],
  ];
  console.log(`GET /v1/nodes over ${n} nodes (${runs} runs each)`);
  for (const [label, query, qs] of pages) {
    const inProcess = await time(runs, () => service.nodes(IN_PROCESS_CALLER, query));
    const http = await time(runs, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v1/nodes${qs}`);
      await res.arrayBuffer();
    });
    console.log(`  ${label.padEnd(20)} service: ${inProcess};  HTTP: ${http}`);
  }
  await api.close();

  const hub = new EventHub({
    coalesceMs: 3_600_000,
    history: n,
    node: (id) => nodeEvent(service, id),
  });
  let frames = 0;
  const subscriber: EventSubscriber = {
    caller: IN_PROCESS_CALLER,
    send: () => (frames++, true),
    close: () => undefined,
  };
  hub.subscribe(subscriber, undefined);
  const ids = fleet.nodes().map((r) => r.nodeId);
  let perTurn = 0;
  const flush = await time(Math.min(runs, 5), () => {
    for (const id of ids) hub.nodeChanged(id);
    let turns = 1;
    const start = process.hrtime.bigint();
    while (hub.flush()) turns++;
    perTurn = Math.max(perTurn, Number(process.hrtime.bigint() - start) / 1e6 / turns);
  });
  console.log(
    `events: a change of each of ${n} nodes, coalesced and published: ${flush} (about ${perTurn.toFixed(1)} ms per turn of the event loop on average)`,
  );
  hub.close();
  if (frames === 0) throw new Error('no event was published');
}

await main();
