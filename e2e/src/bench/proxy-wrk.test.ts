import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { pacingLua, parseWrkDuration, parseWrkOutput, runWrk } from './proxy-wrk.js';

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
  assert.equal(result.elapsedMs, 10_000);
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

test('pacingLua spaces each thread’s sends one interval apart and refuses a rate of 0', () => {
  const lua = pacingLua(2000);
  assert.match(lua, /local interval_ms = 0\.5\n/);
  assert.match(lua, /function delay\(\)/);
  assert.throws(() => pacingLua(0), /above 0/);
  assert.throws(() => pacingLua(Number.NaN), /above 0/);
});

test('a paced wrk sends no more than its rate, where unpaced it would send thousands', async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-wrk-pacing-'));
  try {
    const script = path.join(dir, 'pacing.lua');
    const rate = 100;
    const durationS = 2;
    fs.writeFileSync(script, pacingLua(rate));
    const { port } = server.address() as AddressInfo;
    const result = await runWrk({
      url: `http://127.0.0.1:${port}/`,
      threads: 1,
      connections: 4,
      durationS,
      script,
    });
    // One slot per 1/rate s from the start: at most rate * (the time wrk really ran) + 1 sends,
    // whatever the machine's speed (a loaded machine stretches a 2 s run); a loopback server
    // answering "ok" gets far more unpaced.
    const bound = Math.floor((rate * result.elapsedMs) / 1000) + 2;
    assert.ok(
      result.requests <= bound,
      `${result.requests} requests in ${result.elapsedMs} ms, at most ${bound} paced`,
    );
    assert.ok(result.requests >= 10, `${result.requests} requests`);
    assert.equal(result.errors, 0);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
