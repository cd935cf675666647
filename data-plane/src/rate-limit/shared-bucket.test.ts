import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, resetSeconds } from './token-bucket.js';
import { TokenBucketServer, type TokenLeaseRequest } from './bucket-server.js';
import { IDLE_RETURN_MS, SharedBuckets, bucketId } from './shared-bucket.js';

const SPEC = { maxTokens: 100, tokensPerFill: 1, fillIntervalMs: 3_600_000 };

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

  constructor(count: number) {
    this.server = new TokenBucketServer(
      () => count,
      () => 0,
    );
    for (let i = 0; i < count; i++) {
      const worker: SharedBuckets = new SharedBuckets({
        send: (request) => {
          this.requests.push(request);
          this.queue.push(() => {
            const grant = this.server.lease(request);
            if (grant !== undefined) this.queue.push(() => worker.onGrant(grant));
          });
        },
      });
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

  test('a worker without a token denies while its lease is in flight, never waits', () => {
    const proxy = new Proxy(2);
    const bucket = proxy.workers[0]!.bucket('b', SPEC);
    assert.equal(bucket.consume(), false);
    assert.equal(bucket.consume(), false);
    assert.equal(proxy.requests.length, 1, 'one lease in flight at a time');
    proxy.deliver();
    // 100 available, 2 workers: a quarter of what is left.
    assert.equal(bucket.stock, 25);
    assert.equal(bucket.consume(), true);
  });

  test('the workers together admit exactly max_tokens, however requests are spread', () => {
    const proxy = new Proxy(3);
    const buckets = proxy.workers.map((w) => w.bucket('b', SPEC));
    let admitted = 0;
    for (let round = 0; round < 300; round++) {
      for (const [i, bucket] of buckets.entries()) {
        // Uneven spreading: worker 0 gets three requests per round, the others one.
        for (let k = 0; k < (i === 0 ? 3 : 1); k++) if (bucket.consume()) admitted++;
      }
      proxy.deliver();
    }
    assert.equal(admitted, SPEC.maxTokens);
  });

  test('prefetch: the stock is topped up before it runs out', () => {
    const proxy = new Proxy(1);
    const bucket = proxy.workers[0]!.bucket('b', SPEC);
    bucket.consume();
    proxy.deliver();
    const first = bucket.stock; // 50
    for (let i = 0; i < first - Math.floor(first / 2); i++) assert.equal(bucket.consume(), true);
    assert.equal(proxy.requests.filter((r) => r.want).length, 2, 'asked again at half the grant');
  });

  test('unused stock goes back to the primary when idle, and another worker gets it', () => {
    const proxy = new Proxy(2);
    const [a, b] = proxy.workers.map((w) => w.bucket('b', { ...SPEC, maxTokens: 4 }));
    a!.consume();
    proxy.deliver();
    assert.equal(a!.stock, 1);
    b!.consume();
    proxy.deliver();
    let admittedByB = 0;
    for (let i = 0; i < 10; i++) {
      if (b!.consume()) admittedByB++;
      proxy.deliver();
    }
    assert.equal(admittedByB, 3, 'b gets what the server had; a still holds one');
    mock.timers.tick(IDLE_RETURN_MS); // a's use is recent: kept
    mock.timers.tick(IDLE_RETURN_MS); // idle since the last look: returned
    proxy.deliver();
    assert.equal(a!.stock, 0);
    assert.equal(b!.consume(), false);
    proxy.deliver();
    assert.equal(b!.consume(), true, 'the returned token reached b');
  });

  test('x-ratelimit-remaining counts the primary and the stock', () => {
    const proxy = new Proxy(2);
    const bucket = proxy.workers[0]!.bucket('b', SPEC);
    bucket.consume();
    proxy.deliver();
    assert.equal(bucket.remaining(), 100);
    bucket.consume();
    assert.equal(bucket.remaining(), 99);
  });

  test('without a transport, an in-process server answers at once', () => {
    const buckets = new SharedBuckets();
    const bucket = buckets.bucket('b', { ...SPEC, maxTokens: 3 });
    assert.deepEqual(
      [bucket.consume(), bucket.consume(), bucket.consume(), bucket.consume()],
      [true, true, true, false],
    );
  });

  test('bucketId is stable and separates its parts', () => {
    assert.equal(bucketId('a', 'b'), bucketId('a', 'b'));
    assert.notEqual(bucketId('ab', ''), bucketId('a', 'b'));
  });
});
