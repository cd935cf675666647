/**
 * The RateLimitService's answers (Envoy's rls.proto semantics) and counting: fixed windows aligned
 * to the unit, hits_addend, shadow mode, limit overrides, how a call finds its group, and two
 * replicas on one store sharing every counter through the owner of its key (real gRPC servers on
 * loopback, one MemoryStore).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { GrpcClient, serviceDefinition } from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import { GrpcLiteServer } from '../grpc-lite/server.js';
import { MemoryStore } from '../store/store-memory.js';
import { MetricsRegistry } from '../metrics/registry.js';
import { rateLimitMetrics, type RateLimitMetrics } from '../metrics/ratelimit-metrics.js';
import { compileRateLimitPolicy } from './rate-limit-policy.js';
import { RateLimitPolicies } from './rate-limit-policies.js';
import { RlsMembership, score } from './rls-membership.js';
import {
  GROUP_METADATA,
  RLS_SERVICE,
  RlsService,
  type RateLimitRequestMessage,
  type RateLimitResponseMessage,
} from './rls-service.js';

const logger = createLogger('rls-test', 'silent');

function policies(store = new MemoryStore()): RateLimitPolicies {
  const p = new RateLimitPolicies(store, logger);
  const compiled = compileRateLimitPolicy({
    domain: 'edge',
    descriptors: [
      {
        key: 'remote_address',
        rate_limit: { unit: 'MINUTE', requests_per_unit: 3, name: 'per-ip' },
      },
      { key: 'shadow', rate_limit: { unit: 'SECOND', requests_per_unit: 1 }, shadow_mode: true },
      { key: 'free', rate_limit: { unlimited: true } },
    ],
  });
  assert.ok(compiled.ok);
  p.set('edge', 'limits', compiled.value);
  return p;
}

function service(
  options: {
    now?: () => number;
    authenticated?: boolean;
    p?: RateLimitPolicies;
    maxCounters?: number;
  } = {},
) {
  const membership = new RlsMembership({ store: new MemoryStore(), id: 'solo', logger });
  return new RlsService({
    policies: options.p ?? policies(),
    membership,
    logger,
    authenticated: options.authenticated ?? false,
    ...(options.now ? { now: options.now } : {}),
    ...(options.maxCounters ? { maxCounters: options.maxCounters } : {}),
  });
}

function ip(value: string, extra: Record<string, unknown> = {}) {
  return { entries: [{ key: 'remote_address', value }], ...extra };
}

const services: RlsService[] = [];
after(() => {
  for (const s of services) s.close();
});

void describe('RateLimitService answers', () => {
  void test('fixed window aligned to the unit: N OK, then OVER_LIMIT until the boundary', async () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 10, 250);
    const rls = service({ now: () => now });
    services.push(rls);
    const ask = (value = '192.0.2.1', hits?: number) =>
      rls.shouldRateLimit(
        { domain: 'edge', descriptors: [ip(value)], ...(hits ? { hits_addend: hits } : {}) },
        new Metadata(),
      );
    const first = await ask();
    assert.deepEqual(first, {
      overall_code: 'OK',
      statuses: [
        {
          code: 'OK',
          current_limit: { requests_per_unit: 3, unit: 'MINUTE', name: 'per-ip' },
          limit_remaining: 2,
          duration_until_reset: { seconds: '49', nanos: 750_000_000 },
        },
      ],
    });
    assert.equal((await ask()).statuses[0]!.limit_remaining, 1);
    assert.equal((await ask()).overall_code, 'OK');
    const over = await ask();
    assert.equal(over.overall_code, 'OVER_LIMIT');
    assert.equal(over.statuses[0]!.code, 'OVER_LIMIT');
    assert.equal(over.statuses[0]!.limit_remaining, 0);
    // Another value of a key-only rule has its own counter.
    assert.equal((await ask('192.0.2.2')).overall_code, 'OK');
    // hits_addend counts that many at once.
    assert.equal((await ask('192.0.2.3', 3)).statuses[0]!.limit_remaining, 0);
    assert.equal((await ask('192.0.2.3')).overall_code, 'OVER_LIMIT');
    // The next minute starts from zero.
    now = Date.UTC(2026, 0, 1, 12, 1, 0, 0);
    assert.equal((await ask()).statuses[0]!.limit_remaining, 2);
    rls.counters.sweep(now);
    assert.equal(rls.counters.size, 1, 'ended windows are swept');
  });

  void test('shadow mode, unlimited, no rule, limit override, several descriptors', async () => {
    const rls = service();
    services.push(rls);
    const md = new Metadata();
    const shadow = { entries: [{ key: 'shadow', value: 'x' }] };
    await rls.shouldRateLimit({ domain: 'edge', descriptors: [shadow] }, md);
    const second = await rls.shouldRateLimit({ domain: 'edge', descriptors: [shadow] }, md);
    assert.equal(second.overall_code, 'OK');
    assert.equal(second.statuses[0]!.code, 'OK');
    assert.equal(
      second.statuses[0]!.limit_remaining,
      0,
      'counted: the limit is exceeded, but only reported',
    );
    const free = await rls.shouldRateLimit(
      { domain: 'edge', descriptors: [{ entries: [{ key: 'free', value: 'x' }] }] },
      md,
    );
    assert.deepEqual(free, { overall_code: 'OK', statuses: [{ code: 'OK', limit_remaining: 0 }] });
    const unknown = await rls.shouldRateLimit(
      { domain: 'nope', descriptors: [ip('192.0.2.1')] },
      md,
    );
    assert.deepEqual(unknown.statuses, [{ code: 'OK', limit_remaining: 0 }]);
    const override = ip('198.51.100.1', { limit: { requests_per_unit: 1, unit: 'HOUR' } });
    await rls.shouldRateLimit({ domain: 'edge', descriptors: [override] }, md);
    const overridden = await rls.shouldRateLimit(
      { domain: 'edge', descriptors: [override, ip('198.51.100.2')] },
      md,
    );
    assert.equal(overridden.overall_code, 'OVER_LIMIT');
    assert.deepEqual(
      overridden.statuses.map((s) => [s.code, s.current_limit?.unit]),
      [
        ['OVER_LIMIT', 'HOUR'],
        ['OK', 'MINUTE'],
      ],
    );
    await assert.rejects(
      rls.shouldRateLimit(
        {
          domain: 'edge',
          descriptors: [ip('x', { limit: { requests_per_unit: 1, unit: 'YEAR' } })],
        },
        md,
      ),
      (err: { code: status; details: string }) =>
        err.code === status.INVALID_ARGUMENT &&
        /descriptors\[0\]: descriptor limit override: unit "YEAR"/.test(err.details),
    );
    await assert.rejects(rls.shouldRateLimit({ descriptors: [] }, md), {
      code: status.INVALID_ARGUMENT,
      details: 'RateLimitRequest.domain: required',
    });
  });

  void test('the group: metadata, else the one group with the domain, else refused as ambiguous', async () => {
    const p = policies();
    const rls = service({ p });
    services.push(rls);
    const inGroup = (group: string) => {
      const md = new Metadata();
      md.set(GROUP_METADATA, group);
      return md;
    };
    const req = { domain: 'edge', descriptors: [ip('203.0.113.1')] };
    assert.equal(
      (await rls.shouldRateLimit(req, new Metadata())).statuses[0]!.current_limit?.name,
      'per-ip',
    );
    assert.equal(
      (await rls.shouldRateLimit(req, inGroup('other'))).statuses[0]!.current_limit,
      undefined,
    );
    const again = compileRateLimitPolicy({
      domain: 'edge',
      descriptors: [{ key: 'remote_address', rate_limit: { unit: 'DAY', requests_per_unit: 9 } }],
    });
    assert.ok(again.ok);
    p.set('other', 'limits', again.value);
    assert.equal(
      (await rls.shouldRateLimit(req, inGroup('other'))).statuses[0]!.current_limit?.unit,
      'DAY',
    );
    await assert.rejects(
      rls.shouldRateLimit(req, new Metadata()),
      (err: { code: status; details: string }) =>
        err.code === status.FAILED_PRECONDITION &&
        /defined in groups "edge", "other": send the caller's group in the x-ferry-group metadata/.test(
          err.details,
        ),
    );
    // With client certificates the group is never guessed: absent metadata is group "default".
    const authenticated = service({ p, authenticated: true });
    services.push(authenticated);
    assert.equal(
      (await authenticated.shouldRateLimit(req, new Metadata())).statuses[0]!.current_limit,
      undefined,
    );
  });
});

void describe('bounded counters', () => {
  void test('a new key beyond the bound is refused until windows end; known keys still count', async () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 0, 0);
    const rls = service({ now: () => now, maxCounters: 2 });
    services.push(rls);
    const ask = (value: string) =>
      rls.shouldRateLimit({ domain: 'edge', descriptors: [ip(value)] }, new Metadata());
    await ask('192.0.2.1');
    await ask('192.0.2.2');
    await assert.rejects(ask('192.0.2.3'), {
      code: status.RESOURCE_EXHAUSTED,
      details:
        'rate limit counters are full (2 live keys on this replica): a new key cannot be counted until windows end; look for a rule keyed on an unbounded value',
    });
    assert.equal((await ask('192.0.2.1')).statuses[0]!.limit_remaining, 1);
    now += 60_000;
    assert.equal(
      (await ask('192.0.2.3')).statuses[0]!.limit_remaining,
      2,
      'ended windows make room',
    );
  });
});

void describe('rendezvous ownership', () => {
  void test('a joining replica takes about its share of keys, and only from the others', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    const pick = (ids: string[], key: string) =>
      ids.reduce((a, b) => (score(b, key) > score(a, key) ? b : a));
    const before = keys.map((k) => pick(['a', 'b'], k));
    const afterJoin = keys.map((k) => pick(['a', 'b', 'c'], k));
    let moved = 0;
    keys.forEach((_, i) => {
      if (before[i] !== afterJoin[i]) {
        moved++;
        assert.equal(afterJoin[i], 'c', 'keys move only to the new replica');
      }
    });
    assert.ok(moved > 800 && moved < 1200, `about a third moved (${moved})`);
  });
});

void describe('two replicas on one store', () => {
  void test('every counter is kept by its owner: the limit holds whichever replica is asked', async () => {
    const store = new MemoryStore();
    const replicas: Array<{
      server: GrpcLiteServer;
      rls: RlsService;
      membership: RlsMembership;
      client: GrpcClient;
      metrics: RateLimitMetrics;
    }> = [];
    for (const id of ['replica-a', 'replica-b']) {
      const late: { service?: RlsService } = {};
      const membership = new RlsMembership({
        store,
        id,
        logger,
        refreshMs: 50,
        onChange: (members) => late.service?.membershipChanged(members),
      });
      const metrics = rateLimitMetrics(new MetricsRegistry());
      const rls = new RlsService({
        policies: policies(store),
        membership,
        logger,
        authenticated: false,
        metrics,
      });
      late.service = rls;
      const server = new GrpcLiteServer();
      server.addService(serviceDefinition(RLS_SERVICE), rls.implementation());
      const port = await server.listen(0);
      await membership.start(`127.0.0.1:${port}`);
      const client = new GrpcClient(RLS_SERVICE, `127.0.0.1:${port}`, credentials.createInsecure());
      replicas.push({ server, rls, membership, client, metrics });
    }
    try {
      await replicas[0]!.membership.refresh();
      assert.deepEqual(
        replicas[0]!.membership.members().map((m) => m.id),
        ['replica-a', 'replica-b'],
      );
      assert.deepEqual(
        replicas[1]!.membership.members().map((m) => m.id),
        ['replica-a', 'replica-b'],
      );
      // 20 client addresses, 3 per minute each, asked alternately of both replicas: every address
      // gets exactly 3 OK whichever replica owns it.
      const oks = new Map<string, number>();
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 20; i++) {
          const value = `192.0.2.${i}`;
          const replica = replicas[(round + i) % 2]!;
          const response = await replica.client.unary<
            RateLimitRequestMessage,
            RateLimitResponseMessage
          >('ShouldRateLimit', {
            domain: 'edge',
            descriptors: [ip(value)],
          });
          if (response.overall_code === 'OK') oks.set(value, (oks.get(value) ?? 0) + 1);
        }
      }
      // The minute may roll over during the loop: then an address can get up to 3 more.
      for (const [value, n] of oks) assert.ok(n >= 3 && n <= 6, `${value}: ${n} OK`);
      assert.equal(oks.size, 20);
      const counted = replicas.map((r) => r.rls.counters.size);
      assert.ok(
        counted[0]! > 0 && counted[1]! > 0,
        `both replicas own counters (${counted.join(', ')})`,
      );
      assert.ok(counted[0]! + counted[1]! <= 40, 'each key counted by one replica only');
      for (const r of replicas) {
        assert.ok(r.metrics.forwardedOut('ok').get() > 0, 'each replica forwarded to the other');
        assert.ok(r.metrics.forwardedIn.get() > 0);
        assert.equal(r.metrics.forwardedOut('failed').get(), 0);
        assert.equal(r.metrics.replicas.get(), 2);
      }

      // Replica b leaves: a owns every key once its slot is free.
      await replicas[1]!.membership.close();
      await replicas[0]!.membership.refresh();
      assert.deepEqual(
        replicas[0]!.membership.members().map((m) => m.id),
        ['replica-a'],
      );
    } finally {
      for (const r of replicas) {
        r.client.close();
        r.rls.close();
        await r.membership.close();
        r.server.forceClose();
      }
    }
  });

  void test('a replica that stops renewing its slot leaves the membership when the lease lapses', async () => {
    const store = new MemoryStore();
    const changes: string[][] = [];
    const a = new RlsMembership({
      store,
      id: 'replica-a',
      logger,
      refreshMs: 1000,
      onChange: (members) => changes.push(members.map((m) => m.id)),
    });
    await a.start('127.0.0.1:1');
    // A crashed replica: its slot lease (as a replica writes it) is never renewed.
    const crashed = await store.acquireLease(
      'ratelimit/replica/5',
      JSON.stringify(['replica-z', '127.0.0.1:2']),
      150,
    );
    assert.ok(crashed.held);
    // Leases of anything else are not members.
    await store.acquireLease('ratelimit/replica/6', 'not json', 60_000);
    await a.refresh();
    assert.deepEqual(
      a.members().map((m) => m.id),
      ['replica-a', 'replica-z'],
    );
    await until(async () => {
      await a.refresh();
      return a.members().length === 1;
    });
    assert.deepEqual(changes, [['replica-a', 'replica-z'], ['replica-a']]);
    await a.close();
  });
});

/** Polls `check` every 20 ms until it holds; fails after 10 s (a liveness bound). */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail('condition not met within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
