/**
 * What the rollout tests share: load driven through every proxy the whole time with each answer
 * recorded per proxy, backends that fail or are slow, the config they start from, and the
 * rollouts' status.
 */
import http from 'node:http';
import {
  eventually,
  httpListener,
  httpRequest,
  routeAllTo,
  staticClusterResource,
  type ControlPlane,
  type Json,
} from './harness.js';

/** One rollout of GET /v1/rollouts (`ferryctl rollout status -o json`), the fields the tests read. */
export interface RolloutJson {
  name: string;
  state: string;
  stage: number;
  updated_nodes: string[];
  reason: string;
}

/**
 * The rollouts of `group` (or the default one) on `cp`: GET /v1/rollouts, what `ferryctl rollout
 * status -o json` prints. Tests poll it, so it is one HTTP request rather than a ferryctl process
 * per poll; the rollout tests run `ferryctl rollout status` itself where they check it.
 */
export async function rolloutStatus(cp: ControlPlane, group?: string): Promise<RolloutJson[]> {
  const query = group ? `?group=${encodeURIComponent(group)}` : '';
  const res = await httpRequest(`${cp.apiUrl}/v1/rollouts${query}`);
  if (res.status !== 200) throw new Error(`GET /v1/rollouts${query}: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { rollouts: RolloutJson[] }).rollouts;
}

/**
 * Listener "http" on `port` (RDS "main" routing everything to `route`) and a STATIC cluster
 * reporting load over LRS for each of `clusters` (name → port).
 */
export function rolloutConfig(
  port: number,
  route: string,
  clusters: Record<string, number>,
): Json[] {
  const lrs = { lrs_server: { self: {} } };
  return [
    ...Object.entries(clusters).map(([name, p]) => staticClusterResource(name, [p], lrs)),
    routeAllTo('main', route),
    httpListener('http', port, { rds: 'main' }),
  ];
}

/**
 * Requests, one after another, through each proxy (`ids[i]` listening on `port + i`) until
 * `stop`. Each answer is recorded in `seen` by proxy: the backend's name (the first word of the
 * body), "503", or "error" when the request failed.
 */
export class ProxyLoad {
  readonly seen: Map<string, string[]>;
  #driving = true;
  readonly #done: Promise<void>;

  constructor(ids: readonly string[], port: number) {
    this.seen = new Map(ids.map((id) => [id, []]));
    this.#done = Promise.all(ids.map((id, offset) => this.#drive(id, port + offset))).then(
      () => undefined,
    );
  }

  async #drive(id: string, port: number): Promise<void> {
    const answers = this.seen.get(id)!;
    while (this.#driving) {
      try {
        const res = await httpRequest(`http://127.0.0.1:${port}/`);
        answers.push(res.status === 503 ? '503' : (res.body.split(' ')[0] ?? ''));
      } catch {
        answers.push('error');
      }
    }
  }

  /** Resolves once the last requests ended. */
  stop(): Promise<void> {
    this.#driving = false;
    return this.#done;
  }
}

/** Resolves once GET / on 127.0.0.1:port is answered 200 by backend `name`; `what` names the wait. */
export function servingFrom(port: number, name: string, what: string): Promise<true> {
  return eventually(async () => {
    const res = await httpRequest(`http://127.0.0.1:${port}/`);
    return res.status === 200 && res.body.startsWith(`${name} `) ? true : undefined;
  }, what);
}

/** An HTTP server on a random loopback port answering with `handler`. */
export interface TestServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startServer(handler: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A backend answering every request 503 "broken". */
export function startBrokenBackend(): Promise<TestServer> {
  return startServer((req, res) => {
    req.resume();
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('broken');
  });
}
