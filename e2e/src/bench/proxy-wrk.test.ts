import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkDuration, parseWrkOutput } from './proxy-wrk.js';

const SAMPLE = `Running 10s test @ http://127.0.0.1:8080/small
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.31ms  208.17us   7.95ms   91.52%
    Req/Sec    48.92k     1.21k   50.88k    71.00%
  Latency Distribution
     50%    1.28ms
     75%    1.35ms
     90%    1.45ms
     99%    2.10ms
  486702 requests in 10.00s, 160.99MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  48660.41
Transfer/sec:     16.10MB
`;

test('parseWrkOutput reads throughput, percentiles and errors', () => {
  const result = parseWrkOutput(SAMPLE);
  assert.equal(result.requestsPerSec, 48660.41);
  assert.equal(result.requests, 486702);
  assert.equal(result.p50Ms, 1.28);
  assert.equal(result.p90Ms, 1.45);
  assert.equal(result.p99Ms, 2.1);
  assert.equal(result.errors, 7);
});

test('parseWrkOutput rejects output without a summary', () => {
  assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1'), /unexpected wrk output/);
});

test('parseWrkDuration converts every wrk unit to milliseconds', () => {
  assert.equal(parseWrkDuration('850.00us'), 0.85);
  assert.equal(parseWrkDuration('2.50ms'), 2.5);
  assert.equal(parseWrkDuration('1.20s'), 1200);
  assert.ok(Number.isNaN(parseWrkDuration('fast')));
});
