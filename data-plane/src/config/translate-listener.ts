/**
 * Listener → ListenerModel: address, filter chains (SNI / transport protocol match, TLS, one
 * HttpConnectionManager each), listener filters (tls_inspector is implied) and buffer limit.
 */
import {
  DEFAULT_BUFFER_LIMIT_BYTES,
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  int,
  join,
  messageSpec,
  objectsOf,
  socketAddress,
  str,
  strings,
  type ExtensionSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import { HCM_NAME, HCM_TYPE_URL, translateHcm, type HcmOptions } from './translate-hcm.js';
import { translateDownstreamTls } from './translate-tls.js';
import type { FilterChainModel, ListenerModel } from './model.js';

const TLS_INSPECTOR_TYPE_URL =
  TYPE_URL_PREFIX + 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

const LISTENER_SPEC = messageSpec('envoy.config.listener.v3.Listener', {
  name: 'listener name',
  address: 'TCP socket address to bind',
  stat_prefix: 'stats naming',
  filter_chains: 'chosen by SNI (server_names) and transport protocol',
  default_filter_chain: 'used when no chain matches',
  per_connection_buffer_limit_bytes: 'default 1 MiB',
  listener_filters: 'envoy.filters.listener.tls_inspector only (ferry-proxy always inspects TLS)',
  metadata: 'accepted, no effect',
  traffic_direction: 'accepted, no effect (tracing/stats only)',
});

const FILTER_CHAIN_SPEC = messageSpec('envoy.config.listener.v3.FilterChain', {
  name: 'label',
  filter_chain_match: 'server_names, transport_protocol',
  filters: 'exactly one: envoy.filters.network.http_connection_manager',
  transport_socket: 'DownstreamTlsContext or raw_buffer',
  metadata: 'accepted, no effect',
});

const FILTER_CHAIN_MATCH_SPEC = messageSpec('envoy.config.listener.v3.FilterChainMatch', {
  server_names: 'SNI: exact or *.suffix',
  transport_protocol: '"tls" or "raw_buffer"',
});

const FILTER_SPEC = messageSpec('envoy.config.listener.v3.Filter', {
  name: 'label',
  typed_config: 'HttpConnectionManager',
});

const LISTENER_FILTER_SPEC = messageSpec('envoy.config.listener.v3.ListenerFilter', {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: 'TlsInspector',
});

const TLS_INSPECTOR_SPEC = messageSpec(
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  {},
);

export const LISTENER_SPECS: readonly MessageSpec[] = [
  LISTENER_SPEC,
  FILTER_CHAIN_SPEC,
  FILTER_CHAIN_MATCH_SPEC,
  FILTER_SPEC,
  LISTENER_FILTER_SPEC,
  TLS_INSPECTOR_SPEC,
];

export const LISTENER_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'Listener filter_chains[].filters[]',
    typeUrl: HCM_TYPE_URL,
    names: [HCM_NAME],
    note: 'the only network filter; one per chain',
  },
  {
    where: 'Listener listener_filters[]',
    typeUrl: TLS_INSPECTOR_TYPE_URL,
    names: ['envoy.filters.listener.tls_inspector'],
    note: 'accepted; ferry-proxy always reads SNI/ALPN for chain selection',
  },
];

export function translateListener(
  obj: JsonObject,
  issues: Issues,
  options: HcmOptions,
): ListenerModel {
  checkFields(obj, LISTENER_SPEC, '', issues);
  const address = socketAddress(asObject(obj.address), 'address', issues, { allowHostname: false });
  for (const [filter, path] of objectsOf(obj, 'listener_filters', '')) {
    checkFields(filter, LISTENER_FILTER_SPEC, path, issues);
    const typed = asObject(filter.typed_config);
    const known = typed
      ? str(typed['@type']) === TLS_INSPECTOR_TYPE_URL
      : str(filter.name) === 'envoy.filters.listener.tls_inspector';
    if (!known)
      issues.add(
        path,
        `listener filter ${str(typed?.['@type']) || str(filter.name)} is ${NOT_SUPPORTED}`,
      );
    else if (typed) checkFields(typed, TLS_INSPECTOR_SPEC, join(path, 'typed_config'), issues);
  }
  const filterChains = objectsOf(obj, 'filter_chains', '').flatMap(([chain, path]) => {
    const model = filterChain(chain, path, issues, options);
    return model ? [model] : [];
  });
  checkDistinctMatches(filterChains, issues);
  const defaultObj = asObject(obj.default_filter_chain);
  const defaultChain = defaultObj
    ? filterChain(defaultObj, 'default_filter_chain', issues, options)
    : undefined;
  if (obj.filter_chains === undefined && !defaultObj)
    issues.add('filter_chains', 'at least one filter chain (or default_filter_chain) is required');
  return {
    name: str(obj.name),
    address: address ?? { host: '', port: 0 },
    filterChains,
    ...(defaultChain ? { defaultFilterChain: defaultChain } : {}),
    perConnectionBufferLimitBytes: int(
      obj.per_connection_buffer_limit_bytes,
      DEFAULT_BUFFER_LIMIT_BYTES,
    ),
  };
}

function filterChain(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: HcmOptions,
): FilterChainModel | undefined {
  checkFields(obj, FILTER_CHAIN_SPEC, path, issues);
  const matchPath = join(path, 'filter_chain_match');
  const match = asObject(obj.filter_chain_match) ?? {};
  checkFields(match, FILTER_CHAIN_MATCH_SPEC, matchPath, issues);
  const transportProtocol = str(match.transport_protocol);
  if (!['', 'tls', 'raw_buffer'].includes(transportProtocol))
    issues.add(
      join(matchPath, 'transport_protocol'),
      `${transportProtocol} is ${NOT_SUPPORTED} (supported: tls, raw_buffer)`,
    );
  const tls = translateDownstreamTls(
    asObject(obj.transport_socket),
    join(path, 'transport_socket'),
    issues,
  );

  const filters = objectsOf(obj, 'filters', path);
  let http: FilterChainModel['http'] | undefined;
  for (const [filter, filterPath] of filters) {
    checkFields(filter, FILTER_SPEC, filterPath, issues);
    const typed = asObject(filter.typed_config);
    const typeUrl = str(typed?.['@type']);
    if (!typed || typeUrl !== HCM_TYPE_URL) {
      issues.add(
        typed ? join(filterPath, 'typed_config') : filterPath,
        `network filter ${typeUrl.slice(typeUrl.lastIndexOf('/') + 1) || str(filter.name)} is ${NOT_SUPPORTED} (supported: ${HCM_NAME})`,
      );
      continue;
    }
    if (http) {
      issues.add(filterPath, `only one ${HCM_NAME} per filter chain is supported (it is terminal)`);
      continue;
    }
    http = translateHcm(typed, join(filterPath, 'typed_config'), issues, options);
  }
  if (filters.length === 0) issues.add(join(path, 'filters'), `a ${HCM_NAME} filter is required`);
  // Without an HCM an error has been reported and the whole config will be discarded.
  if (!http) return undefined;
  return {
    name: str(obj.name),
    serverNames: strings(match.server_names).map((n) => n.toLowerCase()),
    transportProtocol,
    ...(tls ? { tls } : {}),
    http,
  };
}

/** Envoy rejects a listener whose filter chains have identical matching rules. */
function checkDistinctMatches(chains: readonly FilterChainModel[], issues: Issues): void {
  const seen = new Map<string, number>();
  chains.forEach((chain, i) => {
    const names = chain.serverNames.length > 0 ? chain.serverNames : [''];
    for (const name of names) {
      const key = `${chain.transportProtocol}\0${name}`;
      const first = seen.get(key);
      if (first !== undefined)
        issues.add(
          join('filter_chains', i),
          `has the same filter_chain_match as filter_chains[${first}] (server name ${JSON.stringify(name)})`,
        );
      else seen.set(key, i);
    }
  });
}
