/** A ClusterRuntime for tests: one cluster of one endpoint on 127.0.0.1 (Envoy's defaults). */
import { createLogger } from '@ferry/shared';
import type { ClusterModel } from '../config/model.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import { CircuitBreakerState } from './circuit-breaker.js';
import { ClusterRuntime } from './cluster-runtime.js';
import { ClusterStats } from './cluster-stats.js';
import { endpoint, lbCluster, locality } from './load-balancer-fixtures.js';

const logger = createLogger('cluster-runtime-fixture', 'silent');

/** Cluster `name` with one round-robin endpoint 127.0.0.1:`port`; the caller destroys it. */
export function loopbackClusterRuntime(
  name: string,
  port: number,
  extra: Partial<ClusterModel> = {},
): ClusterRuntime {
  const model = {
    ...lbCluster('ROUND_ROBIN', [locality([endpoint('127.0.0.1', port)])], extra),
    name,
  };
  return new ClusterRuntime(
    model,
    { circuit: new CircuitBreakerState(), stats: new ClusterStats(new MemoryStatsSink(), name) },
    logger,
  );
}
