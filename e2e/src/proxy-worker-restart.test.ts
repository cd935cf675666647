/**
 * A ferry-proxy worker killed under load (SIGKILL), real processes on loopback: the primary
 * restarts it, and the replacement starts from the proxy's current state, not from scratch:
 * - the current config (a route change applied after start-up: every answer carries
 *   `x-generation: 2`);
 * - active health-check results: `web` has a host that serves requests but fails its health
 *   check, so it is excluded; a replacement that did not know would send it requests;
 * - outlier ejections: `out` has a host ejected for 5xx (for 300 s) that answers 200 since, so
 *   again only a replacement that did not know would send it requests.
 * Both original workers are killed in turn, so that after the second kill only replacements
 * serve. Requests in flight on a killed worker may fail; once both replacements are up, none
 * does. Waits are liveness bounds (`eventually`), never timing assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import {
  RestartableBackend,
  apiApply,
  edsClusterResource,
  endpointsResource,
  eventually,
  fastHealthCheck,
  freePort,
  hcmFilter,
  healthFlags,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  routeConfigResource,
  startControlPlane,
  startProxy,
  stopAll,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

/** A backend that serves requests (200, its name) but whose /healthz answers 503. */
async function startSickBackend(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    const status = req.url === '/healthz' ? 503 : 200;
    res.writeHead(status, { 'x-backend': 'sick' }).end('sick');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** A backend that answers 500 while `failing`, 200 otherwise (its name either way). */
class FlakyBackend {
  failing = true;
  requests = 0;
  readonly server = http.createServer((req, res) => {
    req.resume();
    this.requests++;
    res.writeHead(this.failing ? 500 : 200, { 'x-backend': 'flaky' }).end('flaky');
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }
}

/** The pids of a process's children, from procfs (the primary's children are its workers). */
function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // After "pid (comm) " come state, then ppid.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) children.push(Number(entry));
  }
  return children.sort((x, y) => x - y);
}

interface Answer {
  status: number;
  backend: string;
  generation: string;
}

/** A liveness bound per request: a hung request is an error, not a hung test. */
const REQUEST_TIMEOUT_MS = 5000;

/** One GET on a fresh connection: the answer, or what went wrong. */
function get(url: string): Promise<Answer | string> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          backend: String(res.headers['x-backend']),
          generation: String(res.headers['x-generation']),
        }),
      );
      res.on('error', (err) => resolve(`${url}: ${err.message}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve(`${url}: ${err.message}`));
  });
}

/** Clients sending requests back to back, each on a fresh connection, recording every answer. */
class Load {
  readonly answers: Answer[] = [];
  readonly errors: string[] = [];
  /** Answers and errors of requests started after `mark()`. */
  readonly marked: { answers: Answer[]; errors: string[] } = { answers: [], errors: [] };
  #marked = false;
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(port: number, paths: readonly string[]) {
    this.#loops = paths.map((p) => this.#loop(`http://127.0.0.1:${port}${p}`));
  }

  async #loop(url: string): Promise<void> {
    for (let n = 0; this.#running; n++) {
      const marked = this.#marked;
      const outcome = await get(`${url}/${n}`);
      if (typeof outcome === 'string') this.errors.push(outcome);
      else this.answers.push(outcome);
      if (!marked) continue;
      if (typeof outcome === 'string') this.marked.errors.push(outcome);
      else this.marked.answers.push(outcome);
    }
  }

  /** Requests started from now on are also recorded in `marked`. */
  mark(): void {
    this.#marked = true;
  }

  /** Resolves once `count` more requests have completed. */
  async waitFor(count: number, what: string): Promise<void> {
    const done = (): number => this.answers.length + this.errors.length;
    const target = done() + count;
    await eventually(() => (done() >= target ? true : undefined), what, 30000);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

describe('a ferry-proxy worker killed under load', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let listenerPort: number;
  let good: RestartableBackend;
  let sick: { server: http.Server; port: number };
  const flaky = new FlakyBackend();
  let flakyPort: number;
  let load: Load | undefined;

  function routes(generation?: string): Json {
    const tagged: Json =
      generation === undefined
        ? {}
        : { response_headers_to_add: [{ header: { key: 'x-generation', value: generation } }] };
    return routeConfigResource('main', [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { prefix: '/web' }, route: { cluster: 'web' }, ...tagged },
          { match: { prefix: '/out' }, route: { cluster: 'out' }, ...tagged },
        ],
      },
    ]);
  }

  before(async () => {
    [cp, good, sick, flakyPort, listenerPort] = await Promise.all([
      startControlPlane(),
      RestartableBackend.start('good'),
      startSickBackend(),
      flaky.start(),
      freePort(),
    ]);
    await apiApply(cp.apiUrl, [
      listenerResource('http', listenerPort, [{ filters: [hcmFilter({ rds: 'main' })] }]),
      routes(),
      edsClusterResource('web', { health_checks: [fastHealthCheck()] }),
      endpointsResource('web', [good.port, sick.port]),
      edsClusterResource('out', {
        outlier_detection: {
          consecutive_5xx: 3,
          interval: '0.1s',
          // Ejected for the whole test: the replacement must learn it, not wait it out.
          base_ejection_time: '300s',
          // Envoy's default 10% would allow no ejection among two hosts.
          max_ejection_percent: 50,
        },
      }),
      endpointsResource('out', [good.port, flakyPort]),
    ]);
    proxy = await startProxy({
      concurrency: 2,
      bootstrap: proxyBootstrap({ nodeId: 'worker-restart', xdsAddress: cp.xdsAddress }),
    });
  });

  after(async () => {
    await load?.stop();
    await stopAll();
    await good.stop();
    await new Promise<void>((resolve) => {
      sick.server.close(() => resolve());
      sick.server.closeAllConnections();
    });
    await new Promise<void>((resolve) => {
      flaky.server.close(() => resolve());
      flaky.server.closeAllConnections();
    });
  });

  async function workersLive(): Promise<number> {
    const prom = (await httpRequest(`${proxy.adminUrl}/stats/prometheus`)).body;
    return Number(/^ferry_workers_live (\d+)$/m.exec(prom)?.[1] ?? -1);
  }

  /** SIGKILLs worker `pid` and resolves with its replacement's pid once the pool is whole again. */
  async function killWorker(pid: number): Promise<number> {
    const others = childPids(proxy.proc.pid!).filter((p) => p !== pid);
    process.kill(pid, 'SIGKILL');
    return eventually(async () => {
      const now = childPids(proxy.proc.pid!);
      const fresh = now.filter((p) => p !== pid && !others.includes(p));
      return now.length === 2 &&
        !now.includes(pid) &&
        fresh.length === 1 &&
        (await workersLive()) === 2
        ? fresh[0]
        : undefined;
    }, `a replacement for worker ${pid}`);
  }

  test('the state to carry over: config generation 2, one host failing its checks, one ejected', async () => {
    await eventually(async () => {
      const flags = await healthFlags(proxy, 'web', sick.port);
      return flags?.includes('/failed_active_hc') ? flags : undefined;
    }, 'the sick host failing its health checks');
    // Three consecutive 500s of the flaky host (round robin: every other request) eject it.
    for (let n = 0; flaky.requests < 3; n++) {
      assert.ok(n < 100, `the flaky host got ${flaky.requests} of 100 requests`);
      await httpRequest(`http://127.0.0.1:${listenerPort}/out/eject/${n}`);
    }
    await eventually(async () => {
      const flags = await healthFlags(proxy, 'out', flakyPort);
      return flags?.startsWith('/failed_outlier_check') ? flags : undefined;
    }, 'the flaky host ejected');
    // From here on a request reaching it would be answered 200 by "flaky".
    flaky.failing = false;

    await apiApply(cp.apiUrl, [routes('2')]);
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${listenerPort}/web/gen`);
      return res.headers['x-generation'] === '2' ? true : undefined;
    }, 'generation 2 served');
  });

  test('both workers killed in turn: their replacements serve generation 2, only the healthy, unejected host, and every request', async (t) => {
    const original = childPids(proxy.proc.pid!);
    assert.equal(original.length, 2, `workers of ${proxy.proc.pid}: ${original.join(', ')}`);
    const flakyBefore = flaky.requests;
    load = new Load(listenerPort, ['/web/a', '/web/b', '/out/a', '/out/b']);
    await load.waitFor(40, 'requests flowing before the kills');

    const first = await killWorker(original[0]!);
    await load.waitFor(40, 'requests after the first replacement');
    const second = await killWorker(original[1]!);
    assert.deepEqual(
      childPids(proxy.proc.pid!),
      [first, second].sort((x, y) => x - y),
    );

    // Only replacements serve requests started from here on.
    load.mark();
    await load.waitFor(200, '200 requests served by the replacements');
    await load.stop();
    const { answers, errors } = load.marked;
    assert.ok(answers.length >= 150, `${answers.length} answers`);
    assert.deepEqual(errors, [], 'no request failed after the restarts');
    assert.deepEqual(
      answers.filter((a) => a.status !== 200 || a.backend !== 'good' || a.generation !== '2'),
      [],
      'every answer: 200 from the good host, generation 2',
    );
    // Before and during the kills too: a failed request is possible (in flight on a killed
    // worker), an answer from the excluded hosts is not.
    assert.deepEqual(
      load.answers.filter((a) => a.backend === 'sick' || a.backend === 'flaky'),
      [],
    );
    t.diagnostic(`failed while a worker was killed: ${JSON.stringify(load.errors)}`);
    assert.equal(flaky.requests, flakyBefore, 'no request reached the ejected host');
    assert.equal(await healthFlags(proxy, 'web', sick.port), '/failed_active_hc');
  });
});
