import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, summarize } from './latency-summary.js';
import { parseCpuTicks, parseRssBytes, sampleProcess, ticksPerSecond } from './proc-stats.js';

describe('latency summary', () => {
  test('nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(sorted, 50), 50);
    assert.equal(percentile(sorted, 99), 99);
    assert.equal(percentile(sorted, 100), 100);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  test('summarize sorts its input', () => {
    const s = summarize([30, 10, 20]);
    assert.deepEqual([s.count, s.minMs, s.p50Ms, s.maxMs], [3, 10, 20, 30]);
  });
});

describe('proc stats', () => {
  test('parses utime and stime after a command name with spaces and parentheses', () => {
    const stat =
      '4242 (node (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 11 0 1000 1 1';
    assert.equal(parseCpuTicks(stat), 325);
  });

  test('parses VmRSS in kB', () => {
    assert.equal(parseRssBytes('Name:\tnode\nVmRSS:\t   2048 kB\nThreads: 7\n'), 2048 * 1024);
    assert.throws(() => parseRssBytes('Name:\tnode\n'), /no VmRSS/);
  });

  test('samples this process: the CPU time getrusage reports, to the clock tick', () => {
    // Some CPU time to measure: loading the test runner alone costs more than a tick.
    const cpuSecondsOf = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;
    const before = cpuSecondsOf(process.cpuUsage());
    const sample = sampleProcess(process.pid);
    const after = cpuSecondsOf(process.cpuUsage());
    // procfs truncates user and system time to whole ticks each; getrusage reads the same
    // counters in microseconds.
    const tick = 1 / ticksPerSecond();
    assert.ok(sample.cpuSeconds > 0, `cpuSeconds ${sample.cpuSeconds}`);
    assert.ok(
      sample.cpuSeconds >= before - 2 * tick && sample.cpuSeconds <= after,
      `cpuSeconds ${sample.cpuSeconds} outside getrusage's [${before - 2 * tick}, ${after}]`,
    );
    // VmRSS and the RSS Node reports come from the same kernel counters, sampled apart.
    const rss = process.memoryUsage.rss();
    assert.ok(
      sample.rssBytes > rss / 2 && sample.rssBytes < rss * 2,
      `rssBytes ${sample.rssBytes} vs process.memoryUsage.rss() ${rss}`,
    );
  });
});
