import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, resetSeconds } from './token-bucket.js';
import { TokenBucketServer, type TokenLeaseRequest } from './bucket-server.js';
import { IDLE_RETURN_MS, KNOWN_EMPTY_MS, SharedBuckets, bucketId } from './shared-bucket.js';

const SPEC = { maxTokens: 100, tokensPerFill: 1, fillIntervalMs: 3_600_000 };
/** A waiter for requests the test does not resume (a denied or held request is just counted). */
const NOBODY = { onBucketReady: () => undefined };

describe('TokenBucket (continuous refill, starts full)', () => {
  test('refills at tokens_per_fill / fill_interval up to max_tokens', () => {
    const bucket = new TokenBucket({ maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 1000 }, 0);
    assert.equal(bucket.consume(0), true);
    assert.equal(bucket.consume(0), true);
    assert.equal(bucket.consume(0), false);
    assert.equal(bucket.msUntilNextToken(0), 1000);
    assert.equal(bucket.consume(500), false);
    assert.equal(bucket.consume(1000), true);
    assert.equal(bucket.remaining(10_000), 2);
    assert.equal(bucket.take(5, 10_000), 2);
    bucket.give(7, 10_000);
    assert.equal(bucket.remaining(10_000), 2);
  });

  test('x-ratelimit-reset is whole seconds rounded down', () => {
    assert.equal(resetSeconds(0), 0);
    assert.equal(resetSeconds(999), 0);
    assert.equal(resetSeconds(3_600_000), 3600);
  });
});

/** N workers' SharedBuckets talking to one server over queued (asynchronous) messages. */
class Proxy {
  readonly server: TokenBucketServer;
  readonly workers: SharedBuckets[] = [];
  readonly queue: (() => void)[] = [];
  readonly requests: TokenLeaseRequest[] = [];
  /** The workers' clock (ms); the server's stays at 0, so nothing refills. */
  clock = 0;

  constructor(count: number) {
    this.server = new TokenBucketServer(
      () => count,
      () => 0,
    );
    for (let i = 0; i < count; i++) {
      const worker: SharedBuckets = new SharedBuckets(
        {
          send: (request) => {
            this.requests.push(request);
            this.queue.push(() => {
              const grant = this.server.lease(request);
              if (grant !== undefined) this.queue.push(() => worker.onGrant(grant));
            });
          },
        },
        () => this.clock,
      );
      this.workers.push(worker);
    }
  }

  /** Delivers every message in flight (and those they cause). */
  deliver(): void {
    while (this.queue.length > 0) this.queue.shift()!();
  }
}

describe('proxy-wide buckets over leases', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval'] }));
  afterEach(() => mock.timers.reset());

  test('a cold worker holds requests for one lease, then decides them in order', () => {
    const proxy = new Proxy(2);
    const bucket = proxy.workers[0]!.bucket('b', SPEC);
    const woken: string[] = [];
    const waiter = (name: string) => ({ onBucketReady: () => woken.push(name) });
    const first = waiter('first');
    assert.equal(bucket.ready(first), false);
    assert.equal(bucket.ready(waiter('second')), false);
    assert.equal(proxy.requests.length, 1, 'one lease in flight at a time');
    proxy.deliver();
    assert.deepEqual(woken, ['first', 'second']);
    // 100 available, 2 workers: a quarter of what is left.
    assert.equal(bucket.stock, 25);
    assert.equal(bucket.ready(first), true);
    assert.equal(bucket.consume(), true);
  });

  test('an empty bucket denies at once, asking again only after a while', () => {
    const proxy = new Proxy(1);
    const bucket = proxy.workers[0]!.bucket('b', { ...SPEC, maxTokens: 1 });
    const waiter = { onBucketReady: () => undefined };
    bucket.ready(waiter);
    proxy.deliver();
    assert.equal(bucket.consume(), true);
    proxy.deliver(); // the prefetch finds the bucket empty
    const asked = proxy.requests.length;
    for (let i = 0; i < 10; i++) {
      assert.equal(bucket.ready(waiter), true, 'known empty: decided now');
      assert.equal(bucket.consume(), false);
    }
    assert.equal(proxy.requests.length, asked, 'no lease per denied request');
  });

  test('the workers together admit exactly max_tokens, however requests are spread', () => {
    const proxy = new Proxy(3);
    const buckets = proxy.workers.map((w) => w.bucket('b', SPEC));
    let admitted = 0;
    for (let round = 0; round < 300; round++) {
      for (const [i, bucket] of buckets.entries()) {
        // Uneven spreading: worker 0 gets three requests per round, the others one.
        for (let k = 0; k < (i === 0 ? 3 : 1); k++)
          if (bucket.ready(NOBODY) && bucket.consume()) admitted++;
      }
      proxy.deliver();
    }
    assert.equal(admitted, SPEC.maxTokens);
  });

  test('prefetch: the stock is topped up before it runs out', () => {
    const proxy = new Proxy(1);
    const bucket = proxy.workers[0]!.bucket('b', SPEC);
    bucket.ready(NOBODY);
    proxy.deliver();
    const first = bucket.stock; // 50
    for (let i = 0; i < first - Math.floor(first / 2); i++) assert.equal(bucket.consume(), true);
    assert.equal(proxy.requests.filter((r) => r.want).length, 2, 'asked again at half the grant');
  });

  test('unused stock goes back to the primary when idle, and another worker gets it', () => {
    const proxy = new Proxy(2);
    const [a, b] = proxy.workers.map((w) => w.bucket('b', { ...SPEC, maxTokens: 4 }));
    a!.ready(NOBODY);
    proxy.deliver();
    assert.equal(a!.stock, 1);
    let admittedByB = 0;
    for (let i = 0; i < 10; i++) {
      if (b!.ready(NOBODY) && b!.consume()) admittedByB++;
      proxy.deliver();
    }
    assert.equal(admittedByB, 3, 'b gets what the server had; a still holds one');
    mock.timers.tick(IDLE_RETURN_MS); // a got its stock recently: kept
    mock.timers.tick(IDLE_RETURN_MS); // idle since the last look: returned
    proxy.deliver();
    assert.equal(a!.stock, 0);
    proxy.clock += KNOWN_EMPTY_MS; // b stops treating the bucket as empty
    assert.equal(b!.ready(NOBODY), false);
    proxy.deliver();
    assert.equal(b!.consume(), true, 'the returned token reached b');
  });

  test('x-ratelimit-remaining counts the primary and the stock', () => {
    const proxy = new Proxy(2);
    const bucket = proxy.workers[0]!.bucket('b', SPEC);
    bucket.ready(NOBODY);
    proxy.deliver();
    assert.equal(bucket.remaining(), 100);
    bucket.consume();
    assert.equal(bucket.remaining(), 99);
  });

  test('without a transport, an in-process server answers at once', () => {
    const buckets = new SharedBuckets();
    const bucket = buckets.bucket('b', { ...SPEC, maxTokens: 3 });
    const take = () => bucket.ready(NOBODY) && bucket.consume();
    assert.deepEqual([take(), take(), take(), take()], [true, true, true, false]);
  });

  test('bucketId is stable and separates its parts', () => {
    assert.equal(bucketId('a', 'b'), bucketId('a', 'b'));
    assert.notEqual(bucketId('ab', ''), bucketId('a', 'b'));
  });
});
