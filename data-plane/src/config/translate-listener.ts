/**
 * Listener → ListenerModel: address, listener filters (filters/listener/registry.ts), filter
 * chains with their filter_chain_match (translate-filter-chain-match.ts), transport socket and
 * network filters (filters/network/registry.ts: the HttpConnectionManager, tcp_proxy), and the
 * buffer limit.
 */
import {
  DEFAULT_BUFFER_LIMIT_BYTES,
  NOT_SUPPORTED,
  asObject,
  bool,
  checkFields,
  durationMs,
  int,
  join,
  messageSpec,
  objectsOf,
  socketAddress,
  str,
  type ExtensionSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import type { HcmOptions } from './translate-hcm.js';
import { translateDownstreamTls, type SecretResolver } from './translate-tls.js';
import {
  CIDR_RANGE_SPEC,
  FILTER_CHAIN_MATCH_SPEC,
  MATCH_ANY,
  checkDistinctMatches,
  detectedFieldsUsed,
  translateFilterChainMatch,
} from './translate-filter-chain-match.js';
import type {
  FilterChainModel,
  ListenerFilterModel,
  ListenerModel,
  NetworkFilterModel,
} from './model.js';
import { NETWORK_FILTERS, networkFilterByTypeUrl } from '../filters/network/registry.js';
import type { DetectedMatchField } from '../filters/listener/filter.js';
import {
  LISTENER_FILTERS,
  listenerFilterByName,
  listenerFilterByTypeUrl,
} from '../filters/listener/registry.js';

/** Envoy's default listener_filters_timeout. */
export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

const LISTENER_SPEC = messageSpec('envoy.config.listener.v3.Listener', {
  name: 'listener name',
  address: 'TCP socket address to bind',
  stat_prefix: 'stats naming',
  filter_chains: 'chosen by filter_chain_match: Envoy’s order, the most specific match wins',
  default_filter_chain: 'used when no chain matches (without one the connection is closed)',
  per_connection_buffer_limit_bytes:
    'default 1 MiB: the downstream write watermark (tcp_proxy splice, HTTP)',
  listener_filters: 'see the listener filter list (envoy.filters.listener.tls_inspector)',
  listener_filters_timeout: 'default 15s (0s: none); then the connection is closed',
  continue_on_listener_filters_timeout:
    'on that timeout, choose a chain with what is known instead of closing',
  metadata: 'accepted, no effect',
  traffic_direction: 'accepted, no effect (tracing/stats only)',
});

const FILTER_CHAIN_SPEC = messageSpec('envoy.config.listener.v3.FilterChain', {
  name: 'label (access logs, stats)',
  filter_chain_match: 'see FilterChainMatch (ignored on default_filter_chain, as in Envoy)',
  filters:
    'network filters in order, the last one terminal (http_connection_manager or tcp_proxy); none: connections are closed',
  transport_socket:
    'DownstreamTlsContext (TLS terminated before the network filters) or raw_buffer',
  metadata: 'accepted, no effect',
});

const FILTER_SPEC = messageSpec('envoy.config.listener.v3.Filter', {
  name: 'label',
  typed_config: 'the filter config; its type selects the filter',
});

const LISTENER_FILTER_SPEC = messageSpec('envoy.config.listener.v3.ListenerFilter', {
  name: 'label; selects the filter when typed_config is absent',
  typed_config: 'the filter config; its type selects the filter',
});

export const LISTENER_SPECS: readonly MessageSpec[] = [
  LISTENER_SPEC,
  FILTER_CHAIN_SPEC,
  FILTER_CHAIN_MATCH_SPEC,
  CIDR_RANGE_SPEC,
  FILTER_SPEC,
  LISTENER_FILTER_SPEC,
];

const SUPPORTED_NETWORK_FILTERS = NETWORK_FILTERS.map((f) => f.names[0]).join(', ');

export const LISTENER_EXTENSIONS: readonly ExtensionSpec[] = [
  ...NETWORK_FILTERS.map((f) => ({
    where: 'Listener filter_chains[].filters[]',
    typeUrl: f.typeUrl,
    names: f.names,
    note: `${f.terminal === false ? '' : 'terminal: '}${f.note}`,
  })),
  ...LISTENER_FILTERS.map((f) => ({
    where: 'Listener listener_filters[]',
    typeUrl: f.typeUrl,
    names: f.names,
    note: f.note,
  })),
];

/** What a listener's translation needs beyond its HCMs' options: the SDS secrets in scope. */
export interface ListenerOptions extends HcmOptions {
  readonly secrets?: SecretResolver;
}

export function translateListener(
  obj: JsonObject,
  issues: Issues,
  options: ListenerOptions,
): ListenerModel {
  checkFields(obj, LISTENER_SPEC, '', issues);
  const address = socketAddress(asObject(obj.address), 'address', issues, { allowHostname: false });
  const { listenerFilters, detected } = translateListenerFilters(obj, issues);

  const chainObjects = objectsOf(obj, 'filter_chains', '');
  const filterChains = chainObjects.map(([chain, path]) =>
    filterChain(chain, path, issues, options, detected),
  );
  checkDistinctMatches(
    chainObjects.map(([chain]) => asObject(chain.filter_chain_match)),
    filterChains,
    issues,
  );
  const defaultObj = asObject(obj.default_filter_chain);
  const defaultChain = defaultObj
    ? filterChain(defaultObj, 'default_filter_chain', issues, options, undefined)
    : undefined;
  if (chainObjects.length === 0 && !defaultObj)
    issues.add('filter_chains', 'at least one filter chain (or default_filter_chain) is required');
  return {
    name: str(obj.name),
    address: address ?? { host: '', port: 0 },
    listenerFilters,
    listenerFiltersTimeoutMs: durationMs(
      obj.listener_filters_timeout,
      DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
    ),
    continueOnListenerFiltersTimeout: bool(obj.continue_on_listener_filters_timeout, false),
    filterChains,
    ...(defaultChain ? { defaultFilterChain: defaultChain } : {}),
    perConnectionBufferLimitBytes: int(
      obj.per_connection_buffer_limit_bytes,
      DEFAULT_BUFFER_LIMIT_BYTES,
    ),
  };
}

function translateListenerFilters(
  obj: JsonObject,
  issues: Issues,
): { listenerFilters: ListenerFilterModel[]; detected: Set<DetectedMatchField> } {
  const listenerFilters: ListenerFilterModel[] = [];
  const detected = new Set<DetectedMatchField>();
  for (const [filter, path] of objectsOf(obj, 'listener_filters', '')) {
    checkFields(filter, LISTENER_FILTER_SPEC, path, issues);
    const name = str(filter.name);
    const typed = asObject(filter.typed_config);
    const typeUrl = str(typed?.['@type']);
    const factory = typed ? listenerFilterByTypeUrl(typeUrl) : listenerFilterByName(name);
    if (!factory) {
      issues.add(path, `listener filter ${typeUrl || name} is ${NOT_SUPPORTED}`);
      continue;
    }
    const config = factory.validate(typed ?? {}, join(path, 'typed_config'), issues);
    listenerFilters.push({ name, typeUrl: factory.typeUrl, config });
    for (const field of factory.detects) detected.add(field);
  }
  return { listenerFilters, detected };
}

/**
 * `detected`: what the listener's filters detect, for a chain in filter_chains (undefined for
 * the default chain, whose filter_chain_match Envoy ignores).
 */
function filterChain(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: ListenerOptions,
  detected: ReadonlySet<DetectedMatchField> | undefined,
): FilterChainModel {
  checkFields(obj, FILTER_CHAIN_SPEC, path, issues);
  const matchPath = join(path, 'filter_chain_match');
  const match =
    detected === undefined
      ? MATCH_ANY
      : translateFilterChainMatch(asObject(obj.filter_chain_match), matchPath, issues);
  for (const field of detectedFieldsUsed(match)) {
    if (detected?.has(field) === false)
      issues.add(
        join(matchPath, field),
        'needs a listener filter that detects it (envoy.filters.listener.tls_inspector): without one no connection has it, so this chain would never match',
      );
  }
  const tls = translateDownstreamTls(
    asObject(obj.transport_socket),
    join(path, 'transport_socket'),
    issues,
    options.secrets,
  );
  const terminal = networkFilters(obj, path, issues, options);
  return {
    name: str(obj.name),
    ...match,
    ...(tls ? { tls } : {}),
    ...terminal,
  };
}

function networkFilters(
  chain: JsonObject,
  path: string,
  issues: Issues,
  options: HcmOptions,
): Pick<FilterChainModel, 'networkFilters' | 'http' | 'tcpProxy'> {
  const out: {
    networkFilters: NetworkFilterModel[];
    http?: FilterChainModel['http'];
    tcpProxy?: FilterChainModel['tcpProxy'];
  } = { networkFilters: [] };
  const entries = objectsOf(chain, 'filters', path);
  entries.forEach(([filter, filterPath], index) => {
    checkFields(filter, FILTER_SPEC, filterPath, issues);
    const name = str(filter.name);
    const typed = asObject(filter.typed_config);
    if (!typed) {
      issues.add(
        join(filterPath, 'typed_config'),
        `required: the filter config selects the filter (supported: ${SUPPORTED_NETWORK_FILTERS})`,
      );
      return;
    }
    const typeUrl = str(typed['@type']);
    const factory = networkFilterByTypeUrl(typeUrl);
    const typedPath = join(filterPath, 'typed_config');
    if (!factory) {
      issues.add(
        typedPath,
        `network filter ${typeUrl.slice(typeUrl.lastIndexOf('/') + 1)} is ${NOT_SUPPORTED} (supported: ${SUPPORTED_NETWORK_FILTERS})`,
      );
      return;
    }
    const last = index === entries.length - 1;
    const label = name || factory.names[0]!;
    if (factory.terminal !== false && !last)
      issues.add(filterPath, `${label} is terminal and must be the last network filter`);
    if (factory.terminal === false && last)
      issues.add(
        filterPath,
        `${label} is not terminal and cannot be the last network filter (end with one of: ${SUPPORTED_NETWORK_FILTERS})`,
      );
    const config = factory.validate(typed, typedPath, issues, options);
    if (factory.terminal === false) out.networkFilters.push({ name, typeUrl, config });
    else if (factory.terminal === 'http') out.http = config as FilterChainModel['http'];
    else out.tcpProxy = config as FilterChainModel['tcpProxy'];
  });
  return out;
}
