/**
 * The process's memory in the standard Prometheus names, sampled when /metrics is scraped (no
 * timer): resident set size and the V8 heap. heapUsed includes garbage not yet collected, so a
 * leak shows as a trend across scrapes, not in one value; with `collectGarbage` (the
 * --debug-gc-on-metrics flag, for leak tests) every scrape runs a full collection first, so that
 * heapUsed is what is still referenced.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { MetricsRegistry } from './registry.js';

/** Registers the gauges in `registry` and returns the function that samples them. */
export function processMemoryMetrics(
  registry: MetricsRegistry,
  collectGarbage = false,
): () => void {
  const rss = registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  const heapUsed = registry.gauge(
    'nodejs_heap_used_bytes',
    'V8 heap in use, in bytes (including garbage not yet collected).',
  );
  const heapTotal = registry.gauge('nodejs_heap_total_bytes', 'V8 heap allocated, in bytes.');
  const external = registry.gauge(
    'nodejs_external_memory_bytes',
    'Memory of objects outside the V8 heap (Buffers), in bytes.',
  );
  const gc = collectGarbage ? exposedGc() : undefined;
  return () => {
    gc?.();
    const usage = process.memoryUsage();
    rss.set(usage.rss);
    heapUsed.set(usage.heapUsed);
    heapTotal.set(usage.heapTotal);
    external.set(usage.external);
  };
}

/** V8's full collection, made reachable without starting node with --expose-gc. */
function exposedGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
