/**
 * Zero client errors while a backend dies, real processes on loopback: a STATIC cluster of two
 * HTTP backends with an HTTP health check (interval 0.2 s, unhealthy_threshold 2) behind a route
 * whose retry_policy retries connect failures, resets and 5xx on another host (previous_hosts).
 * A client that never retries keeps sending requests while one backend is killed: until the
 * health checks take it out of rotation the proxy's retries absorb the failures, after that no
 * request is sent to it. Restarted, it passes its checks and gets requests again. Bounds are
 * request counts and liveness bounds (`eventually`), never timing assertions.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, httpRequest } from './harness.js';
import { hostStatuses, isHealthy, useCheckedSite } from './fixtures-health.js';

/**
 * Clients sending requests back to back, each a fresh connection with no retry of its own.
 * Every answer other than 200 and every transport error is recorded as a failure.
 */
class LoadGenerator {
  completed = 0;
  readonly failures: string[] = [];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(url: string, concurrency: number) {
    this.#loops = Array.from({ length: concurrency }, (_, i) => this.#loop(`${url}/load/${i}`));
  }

  async #loop(url: string): Promise<void> {
    for (let n = 0; this.#running; n++) {
      try {
        const res = await httpRequest(`${url}/${n}`);
        if (res.status !== 200) this.failures.push(`${url}/${n}: status ${res.status}`);
      } catch (err) {
        this.failures.push(`${url}/${n}: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.completed++;
    }
  }

  /** Resolves once `count` more requests have completed. */
  async waitFor(count: number, what: string): Promise<void> {
    const target = this.completed + count;
    await eventually(() => (this.completed >= target ? true : undefined), what, 30000);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

/** Clients sending at once; every one of their requests can be in its retry at the same time. */
const CONCURRENCY = 4;

describe('ferry-proxy: health checks plus retries give zero client errors', () => {
  let load: LoadGenerator | undefined;
  const site = useCheckedSite('health-retries-e2e', {
    // Envoy's default allows 3 retries in flight per cluster and answers a 4th with 503 (retry
    // overflow). A worker may hold all the clients' connections, each with a request retrying
    // after b refused it, so the limit is set above the client count.
    cluster: { circuit_breakers: { thresholds: [{ max_retries: 2 * CONCURRENCY }] } },
    // Connect failures, resets and 5xx are retried on another host.
    action: {
      retry_policy: {
        retry_on: 'connect-failure,reset,5xx',
        num_retries: 2,
        retry_host_predicate: [
          {
            name: 'envoy.retry_host_predicates.previous_hosts',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
            },
          },
        ],
        host_selection_retry_max_attempts: 5,
      },
    },
    // The load stops before the processes do.
    beforeStop: async () => {
      await load?.stop();
    },
  });
  const hosts = () => hostStatuses(site.proxy);

  /** Cluster web's attempt counters, summed over the workers by the primary. */
  async function webCounters(): Promise<{
    connectFailures: number;
    retries: number;
    retryOverflows: number;
    attempts: number;
  }> {
    const prom = (await httpRequest(`${site.proxy.adminUrl}/stats/prometheus`)).body;
    const counter = (name: string): number =>
      Number(new RegExp(`^ferry_${name}\\{cluster="web"\\} (\\d+)$`, 'm').exec(prom)?.[1] ?? 0);
    return {
      connectFailures: counter('upstream_cx_connect_fail'),
      retries: counter('upstream_rq_retry'),
      retryOverflows: counter('upstream_rq_retry_overflow'),
      attempts: counter('upstream_rq_total'),
    };
  }

  test('killing a backend under load fails no client request', async () => {
    await eventually(async () => {
      const s = await hosts();
      return isHealthy(s.get(site.a.port)) && isHealthy(s.get(site.b.port)) ? true : undefined;
    }, 'both hosts healthy in /clusters');

    load = new LoadGenerator(`http://127.0.0.1:${site.listenerPort}`, CONCURRENCY);
    await eventually(
      () => (site.a.requests.length > 0 && site.b.requests.length > 0 ? true : undefined),
      'load reaching both backends',
    );
    await site.b.stop();
    await eventually(async () => {
      const s = await hosts();
      return s.get(site.b.port)?.failed_active_health_check === true ? true : undefined;
    }, 'b marked failed_active_health_check');
    const text = (await httpRequest(`${site.proxy.adminUrl}/clusters`)).body;
    assert.match(
      text,
      new RegExp(`web::127\\.0\\.0\\.1:${site.b.port}::health_flags::/failed_active_hc`),
    );
    // Requests that picked b before the workers heard of the verdict finish within a few more.
    await load.waitFor(20, 'requests after b left rotation');
    const atExclusion = await webCounters();
    await load.waitFor(100, '100 more requests after b left rotation');
    await load.stop();
    const atEnd = await webCounters();
    assert.deepEqual(load.failures, [], 'no client request failed');
    assert.equal(atEnd.retryOverflows, 0, 'no retry refused by the max_retries circuit breaker');
    // b refuses connections: while it was in rotation the proxy's attempts on it failed and were
    // retried on a; once excluded, no attempt goes to it (every failed attempt would count).
    assert.ok(atExclusion.connectFailures > 0, 'attempts on b failed before the health checks');
    assert.ok(atExclusion.retries > 0, 'and were retried');
    assert.equal(atEnd.connectFailures, atExclusion.connectFailures, 'no attempt on b after');
    assert.equal(atEnd.retries, atExclusion.retries, 'no retry after b left rotation');
    assert.ok(atEnd.attempts - atExclusion.attempts >= 100, 'the 100 requests reached a');

    const prom = (await httpRequest(`${site.proxy.adminUrl}/stats/prometheus`)).body;
    assert.match(
      prom,
      /^ferry_health_check_transitions_total\{cluster="web",to="UNHEALTHY"\} [1-9]\d*$/m,
    );
    assert.match(prom, /^ferry_health_check_failures_total\{cluster="web"\} [1-9]\d*$/m);
    assert.match(prom, /^ferry_health_check_attempts_total\{cluster="web"\} [1-9]\d*$/m);
  });

  test('a restarted backend passes its checks and gets requests again', async () => {
    const before = site.b.requests.length;
    await site.b.start();
    await eventually(async () => {
      const s = await hosts();
      return isHealthy(s.get(site.b.port)) ? true : undefined;
    }, 'b healthy again in /clusters');
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${site.listenerPort}/back`);
      assert.equal(res.status, 200);
      return site.b.requests.length > before ? true : undefined;
    }, 'requests reaching b again');
  });
});
