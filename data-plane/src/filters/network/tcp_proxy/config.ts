/**
 * Config factory of envoy.filters.network.tcp_proxy: validates Envoy's
 * `envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy` into a TcpProxyModel (Envoy's
 * defaults applied) and builds the chain's TcpProxyFilter in the workers. Listed in
 * NETWORK_FILTERS (filters/network/registry.ts).
 */
import type { TerminalFilterFactory } from '../filter.js';
import type { TcpProxyModel } from '../../../config/model.js';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  durationMs,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { translateAccessLogs } from '../../../config/translate-access-log.js';
import { TcpProxyFilter } from './tcp-proxy-filter.js';

const TCP_PROXY_SPEC = messageSpec('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', {
  stat_prefix: 'tcp stats: tcp_downstream_cx_total{stat_prefix} ...',
  cluster: 'the upstream cluster (an unknown one closes the connection: NC)',
  weighted_clusters: 'a cluster per connection, chosen at random by weight',
  idle_timeout: 'no byte either way for this long closes both sides (default 1h, 0s disables)',
  max_connect_attempts: 'connect attempts, each to a host the load balancer picks (default 1)',
  access_log: 'one entry per TCP session when it ends (bytes, duration, upstream host, flags)',
});

const WEIGHTED_SPEC = messageSpec(
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster',
  { clusters: 'at least one' },
);

const CLUSTER_WEIGHT_SPEC = messageSpec(
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight',
  { name: 'cluster name', weight: 'relative weight (at least 1)' },
);

export const TCP_PROXY_TYPE_URL = TYPE_URL_PREFIX + TCP_PROXY_SPEC.message;

/** Envoy's TcpProxy defaults. */
export const TCP_PROXY_DEFAULTS = Object.freeze({
  idleTimeoutMs: 60 * 60_000,
  maxConnectAttempts: 1,
});

/** Fields Envoy has that change behaviour and ferry-proxy does not implement. */
const UNSUPPORTED_REASONS: Readonly<Record<string, string>> = {
  metadata_match: `${NOT_SUPPORTED} (no subset load balancing)`,
  hash_policy: `${NOT_SUPPORTED} (the cluster's load balancer picks without a hash)`,
  tunneling_config: `${NOT_SUPPORTED} (TCP over HTTP tunnels)`,
  on_demand: `${NOT_SUPPORTED} (on-demand CDS)`,
  max_downstream_connection_duration: NOT_SUPPORTED,
  downstream_idle_timeout: `${NOT_SUPPORTED} (use idle_timeout)`,
  upstream_idle_timeout: `${NOT_SUPPORTED} (use idle_timeout)`,
  access_log_options: `${NOT_SUPPORTED} (sessions are logged once, when they end)`,
  access_log_flush_interval: `${NOT_SUPPORTED} (sessions are logged once, when they end)`,
  flush_access_log_on_connected: `${NOT_SUPPORTED} (sessions are logged once, when they end)`,
};

export const tcpProxyFilter: TerminalFilterFactory<TcpProxyModel> = {
  typeUrl: TCP_PROXY_TYPE_URL,
  names: ['envoy.filters.network.tcp_proxy', 'envoy.tcp_proxy'],
  terminal: 'tcpProxy',
  note: 'splices the connection to a host of the cluster (TLS passthrough without transport_socket)',
  specs: [TCP_PROXY_SPEC, WEIGHTED_SPEC, CLUSTER_WEIGHT_SPEC],
  validate: validateTcpProxy,
  createTerminal(config, chain, context) {
    return new TcpProxyFilter(config, context);
  },
};

export function validateTcpProxy(obj: JsonObject, path: string, issues: Issues): TcpProxyModel {
  checkFields(obj, TCP_PROXY_SPEC, path, issues, UNSUPPORTED_REASONS);
  const statPrefix = str(obj.stat_prefix);
  if (statPrefix === '') issues.add(join(path, 'stat_prefix'), 'required');
  const cluster = str(obj.cluster);
  const weighted = asObject(obj.weighted_clusters);
  let weightedClusters: { name: string; weight: number }[] | undefined;
  if (weighted) {
    const weightedPath = join(path, 'weighted_clusters');
    checkFields(weighted, WEIGHTED_SPEC, weightedPath, issues);
    weightedClusters = objectsOf(weighted, 'clusters', weightedPath).map(([entry, entryPath]) => {
      checkFields(entry, CLUSTER_WEIGHT_SPEC, entryPath, issues, {
        metadata_match: `${NOT_SUPPORTED} (no subset load balancing)`,
      });
      const name = str(entry.name);
      if (name === '') issues.add(join(entryPath, 'name'), 'required');
      const weight = int(entry.weight, 0);
      if (weight < 1) issues.add(join(entryPath, 'weight'), 'must be at least 1');
      return { name, weight };
    });
    if (weightedClusters.length === 0)
      issues.add(join(weightedPath, 'clusters'), 'at least one cluster is required');
  } else if (cluster === '') {
    issues.add(path, 'one of cluster or weighted_clusters is required');
  }
  const maxConnectAttempts = int(obj.max_connect_attempts, TCP_PROXY_DEFAULTS.maxConnectAttempts);
  if (maxConnectAttempts < 1) issues.add(join(path, 'max_connect_attempts'), 'must be at least 1');
  const accessLogs = translateAccessLogs(obj, path, issues);
  return {
    statPrefix,
    ...(weightedClusters ? { weightedClusters } : { cluster }),
    idleTimeoutMs: durationMs(obj.idle_timeout, TCP_PROXY_DEFAULTS.idleTimeoutMs),
    maxConnectAttempts,
    ...(accessLogs.length > 0 ? { accessLogs } : {}),
  };
}
