/**
 * Engine tests for the route retry policy (Envoy's router): per_try_timeout, retriable status
 * codes, retry_back_off, resets and exhausted retries, driven through a ProxyRuntime.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as http from 'node:http';
import type { JsonObject } from '../config/translate.js';
import { ProxyRuntime } from './proxy-runtime.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import {
  anyHost,
  backend,
  cluster,
  listener,
  local,
  proxyConfig,
  request,
  silentLogger,
  type Backend,
} from './proxy-test-fixtures.js';

/**
 * What the backend does on the n-th call (1-based) for a scenario: answer with a status, hang
 * (never answer), or reset the connection.
 */
type Behaviour = (call: number) => number | 'hang' | 'reset';

const SCENARIOS: Record<string, Behaviour> = {
  'hang-then-ok': (call) => (call === 1 ? 'hang' : 200),
  'hang-then-ok-reset-policy': (call) => (call === 1 ? 'hang' : 200),
  'conflict-then-ok': (call) => (call === 1 ? 409 : 200),
  'conflict-not-retriable': (call) => (call === 1 ? 409 : 200),
  'always-503': () => 503,
  'reset-then-ok': (call) => (call === 1 ? 'reset' : 200),
  'backoff-then-ok': (call) => (call <= 3 ? 500 : 200),
};

function retryPolicy(policy: JsonObject): JsonObject {
  return { retry_back_off: { base_interval: '0.005s', max_interval: '0.02s' }, ...policy };
}

/** Route action per scenario; each scenario has its own cluster so its counters are its own. */
const ROUTES: Record<string, JsonObject> = {
  'hang-then-ok': {
    retry_policy: retryPolicy({ retry_on: '5xx', num_retries: 2, per_try_timeout: '0.2s' }),
  },
  'hang-then-ok-reset-policy': {
    retry_policy: retryPolicy({ retry_on: 'reset', num_retries: 2, per_try_timeout: '0.2s' }),
  },
  'conflict-then-ok': {
    retry_policy: retryPolicy({
      retry_on: 'retriable-status-codes',
      retriable_status_codes: [409],
      num_retries: 1,
    }),
  },
  'conflict-not-retriable': {
    retry_policy: retryPolicy({ retry_on: '5xx', num_retries: 1 }),
  },
  'always-503': { retry_policy: retryPolicy({ retry_on: '5xx', num_retries: 2 }) },
  'reset-then-ok': { retry_policy: retryPolicy({ retry_on: 'gateway-error', num_retries: 1 }) },
  'backoff-then-ok': {
    retry_policy: {
      retry_on: '5xx',
      num_retries: 3,
      retry_back_off: { base_interval: '0.02s', max_interval: '0.05s' },
    },
  },
};

/**
 * Resolves once `condition()` holds, polling on the event loop's check phase (setTimeout may be
 * mocked); fails after 10 s of real time.
 */
async function settled(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not met within 10 s: ${condition.toString()}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('retries', () => {
  let upstream: Backend;
  const calls = new Map<string, number>();
  const hung: http.ServerResponse[] = [];
  const stats = new MemoryStatsSink();
  const runtime = new ProxyRuntime({ logger: silentLogger, workerId: 0, stats });
  let port: number;

  function callsOf(scenario: string): number {
    return calls.get(scenario) ?? 0;
  }

  function counter(name: string, scenario: string): number {
    return stats.counterValue(name, { cluster: scenario });
  }

  before(async () => {
    upstream = await backend('retry', (req, res) => {
      const scenario = (req.url ?? '').slice(1);
      const call = callsOf(scenario) + 1;
      calls.set(scenario, call);
      const outcome = SCENARIOS[scenario]?.(call) ?? 404;
      if (outcome === 'hang') {
        hung.push(res);
        return;
      }
      if (outcome === 'reset') {
        req.socket.destroy();
        return;
      }
      res.writeHead(outcome, { 'content-type': 'text/plain' });
      res.end(`${scenario} attempt ${call}`);
    });
    const names = Object.keys(ROUTES);
    await runtime.apply(
      proxyConfig([
        listener('main', 0, [
          anyHost(
            names.map((name) => ({
              match: { path: `/${name}` },
              route: { cluster: name, ...ROUTES[name] },
            })),
          ),
        ]),
        ...names.map((name) => cluster(name, local(upstream.port))),
      ]),
    );
    port = runtime.listenerPort('main')!;
  });

  after(async () => {
    runtime.destroy();
    for (const res of hung) res.destroy();
    await upstream.close();
  });

  test('per_try_timeout: a hanging first try is retried and the second answer is returned', async () => {
    const res = await request(port, { path: '/hang-then-ok' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hang-then-ok attempt 2');
    assert.equal(callsOf('hang-then-ok'), 2);
    assert.equal(counter('upstream_rq_per_try_timeout', 'hang-then-ok'), 1);
    assert.equal(counter('upstream_rq_retry', 'hang-then-ok'), 1);
  });

  test('per_try_timeout is retried under retry_on "reset" too (Envoy treats it as a reset)', async () => {
    const res = await request(port, { path: '/hang-then-ok-reset-policy' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hang-then-ok-reset-policy attempt 2');
    assert.equal(counter('upstream_rq_retry', 'hang-then-ok-reset-policy'), 1);
  });

  test('retriable-status-codes retries a listed status', async () => {
    const res = await request(port, { path: '/conflict-then-ok' });
    assert.equal(res.status, 200);
    assert.equal(callsOf('conflict-then-ok'), 2);
    assert.equal(counter('upstream_rq_retry', 'conflict-then-ok'), 1);
  });

  test('a status no retry_on condition covers is returned as is', async () => {
    const res = await request(port, { path: '/conflict-not-retriable' });
    assert.equal(res.status, 409);
    assert.equal(res.body, 'conflict-not-retriable attempt 1');
    assert.equal(callsOf('conflict-not-retriable'), 1);
    assert.equal(counter('upstream_rq_retry', 'conflict-not-retriable'), 0);
  });

  test('num_retries exhausted: the last upstream response is returned', async () => {
    const res = await request(port, { path: '/always-503' });
    assert.equal(res.status, 503);
    assert.equal(res.body, 'always-503 attempt 3');
    assert.equal(callsOf('always-503'), 3);
    assert.equal(counter('upstream_rq_retry', 'always-503'), 2);
  });

  test('a reset before the response is retried under retry_on "gateway-error"', async () => {
    const res = await request(port, { path: '/reset-then-ok' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'reset-then-ok attempt 2');
    assert.equal(counter('upstream_rq_retry', 'reset-then-ok'), 1);
  });

  test('retry_back_off: retry n waits a jittered delay below min(base * 2^(n-1), max), then goes out', async (t) => {
    // Envoy's jittered back-off: retry n waits random * min(base * 2^(n-1), max). With the random
    // source pinned just below 1, each wait is its ceiling's last millisecond: 19, 39, then 49
    // (capped by max_interval 50 ms). Fake timers make the wait observable without timing: it
    // ends only when the test moves the mocked clock, and a wait that ends fires synchronously
    // within the tick.
    t.mock.method(Math, 'random', () => 0.999);
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const fakeSetTimeout = globalThis.setTimeout;
    const waits: number[] = [];
    const ended: number[] = [];
    t.mock.method(globalThis, 'setTimeout', ((
      callback: (...args: unknown[]) => void,
      ms: number,
      ...args: unknown[]
    ) => {
      // The route timeout (15 s) and the connect timeout (1 s) are longer; back-off waits are not.
      if (ms >= 1000) return fakeSetTimeout(callback, ms, ...args);
      waits.push(ms);
      return fakeSetTimeout(() => {
        ended.push(ms);
        callback(...args);
      }, ms);
    }) as typeof setTimeout);
    const calls = (): number => callsOf('backoff-then-ok');

    const reply = request(port, { path: '/backoff-then-ok' });
    // Awaited below; a failed check before that must not leave it unhandled.
    reply.catch(() => undefined);
    for (const [retry, wait] of [19, 39, 49].entries()) {
      // Attempt `retry + 1` answered 500 and its retry waits; nothing else has gone out.
      await settled(() => waits.length === retry + 1);
      assert.equal(waits[retry], wait, `the wait before retry ${retry + 1}`);
      assert.equal(calls(), retry + 1);
      t.mock.timers.tick(wait - 1);
      assert.equal(ended.length, retry, `retry ${retry + 1}'s wait ended early`);
      t.mock.timers.tick(1);
      assert.equal(ended.length, retry + 1, `retry ${retry + 1}'s wait did not end`);
      await settled(() => calls() === retry + 2);
    }
    const res = await reply;
    assert.equal(res.status, 200);
    assert.equal(res.body, 'backoff-then-ok attempt 4');
    assert.deepEqual(waits, [19, 39, 49]);
    assert.equal(counter('upstream_rq_retry', 'backoff-then-ok'), 3);
  });
});
