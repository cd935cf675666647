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
  'backoff-then-ok': (call) => (call <= 2 ? 500 : 200),
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
      retry_back_off: { base_interval: '0.02s', max_interval: '0.1s' },
    },
  },
};

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

  test('retry_back_off is honoured: retries still reach the backend and succeed', async () => {
    const res = await request(port, { path: '/backoff-then-ok' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'backoff-then-ok attempt 3');
    assert.equal(counter('upstream_rq_retry', 'backoff-then-ok'), 2);
  });
});
