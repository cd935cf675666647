/**
 * Which clusters have had upstream traffic in this process, and who is told the first time.
 *
 * Envoy checks the hosts of a cluster that never made an upstream connection only every
 * `no_traffic_interval` (HealthCheck); the checks run in the primary while traffic flows through
 * the workers, so each worker tells the primary once per cluster (worker-main.ts). The note is
 * taken where a host's connection pool is created, so the request path pays nothing after the
 * first request to each host.
 */
const seen = new Set<string>();
let listener: ((cluster: string) => void) | undefined;

/** Sets who hears of a cluster's first upstream traffic in this process. */
export function onFirstUpstreamTraffic(callback: (cluster: string) => void): void {
  listener = callback;
}

/** A request is about to go to a host of `cluster`. */
export function noteUpstreamTraffic(cluster: string): void {
  if (seen.has(cluster)) return;
  seen.add(cluster);
  listener?.(cluster);
}
