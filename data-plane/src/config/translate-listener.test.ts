/**
 * Listener translation: filter_chain_match, listener filters, tcp_proxy and network filter order
 * into the model, and the NACKs (with field paths) for what ferry-proxy does not do or Envoy
 * refuses (identical or overlapping matches, partial wildcards, matching on a property no
 * listener filter detects).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyConfig } from './translate.js';
import { resourcesOf } from './translate-test-fixtures.js';
import type { ListenerModel } from './model.js';

const T = 'type.googleapis.com/';
type Doc = Record<string, unknown>;

const TLS_INSPECTOR: Doc = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` },
};

/** A tcp_proxy filter to cluster "db"; a field given as undefined is left out. */
function tcpProxy(fields: Doc = {}): Doc {
  const config: Doc = {
    '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
    stat_prefix: 'tcp',
    cluster: 'db',
    ...fields,
  };
  for (const key of Object.keys(config)) if (config[key] === undefined) delete config[key];
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: config };
}

function hcm(): Doc {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
      stat_prefix: 'http',
      rds: { route_config_name: 'main', config_source: { ads: {} } },
      http_filters: [
        {
          name: 'envoy.filters.http.router',
          typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
        },
      ],
    },
  };
}

function listener(chains: Doc[], extra: Doc = {}): Doc {
  return {
    '@type': 'envoy.config.listener.v3.Listener',
    name: 'edge',
    address: { socket_address: { address: '127.0.0.1', port_value: 9000 } },
    filter_chains: chains,
    ...extra,
  };
}

function translate(doc: Doc): ListenerModel {
  const r = buildProxyConfig(resourcesOf([doc]));
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.value.listeners[0]!;
}

function errors(doc: Doc): string[] {
  const r = buildProxyConfig(resourcesOf([doc]));
  assert.equal(r.ok, false, 'expected a NACK');
  return r.ok ? [] : r.errors;
}

const L = 'Listener "edge"';

describe('translateListener: tcp_proxy', () => {
  test('Envoy’s defaults: 1 h idle timeout, one connect attempt, no access log', () => {
    const model = translate(listener([{ filters: [tcpProxy()] }]));
    const chain = model.filterChains[0]!;
    assert.deepEqual(chain.tcpProxy, {
      statPrefix: 'tcp',
      cluster: 'db',
      idleTimeoutMs: 3_600_000,
      maxConnectAttempts: 1,
    });
    assert.equal(chain.http, undefined);
    assert.deepEqual(chain.networkFilters, []);
    assert.equal(model.perConnectionBufferLimitBytes, 1024 * 1024);
    assert.equal(model.listenerFiltersTimeoutMs, 15_000);
    assert.equal(model.continueOnListenerFiltersTimeout, false);
  });

  test('weighted clusters, idle_timeout 0s (disabled), attempts and an access log', () => {
    const model = translate(
      listener(
        [
          {
            filters: [
              tcpProxy({
                cluster: undefined,
                weighted_clusters: {
                  clusters: [
                    { name: 'a', weight: 1 },
                    { name: 'b', weight: 3 },
                  ],
                },
                idle_timeout: '0s',
                max_connect_attempts: 3,
                access_log: [
                  {
                    name: 'envoy.access_loggers.stdout',
                    typed_config: {
                      '@type': `${T}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
                      log_format: { text_format: '%UPSTREAM_HOST% %BYTES_SENT%\n' },
                    },
                  },
                ],
              }),
            ],
          },
        ],
        { per_connection_buffer_limit_bytes: 32768 },
      ),
    );
    assert.deepEqual(model.filterChains[0]!.tcpProxy, {
      statPrefix: 'tcp',
      weightedClusters: [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 3 },
      ],
      idleTimeoutMs: 0,
      maxConnectAttempts: 3,
      accessLogs: [
        {
          name: 'envoy.access_loggers.stdout',
          sink: 'stdout',
          textFormat: '%UPSTREAM_HOST% %BYTES_SENT%\n',
        },
      ],
    });
    assert.equal(model.perConnectionBufferLimitBytes, 32768);
  });

  test('an unknown cluster is not a NACK (Envoy closes such connections: NC)', () => {
    const model = translate(listener([{ filters: [tcpProxy({ cluster: 'not-yet-known' })] }]));
    assert.equal(model.filterChains[0]!.tcpProxy?.cluster, 'not-yet-known');
  });

  test('fields ferry-proxy does not implement are NACKed with their paths', () => {
    const path = `${L}: filter_chains[0].filters[0].typed_config`;
    assert.deepEqual(
      errors(
        listener([
          {
            filters: [
              tcpProxy({
                hash_policy: [{ source_ip: {} }],
                max_downstream_connection_duration: '10s',
                access_log_options: { flush_access_log_on_connected: true },
              }),
            ],
          },
        ]),
      ),
      [
        `${path}.hash_policy: not supported by ferry-proxy (the cluster's load balancer picks without a hash)`,
        `${path}.max_downstream_connection_duration: not supported by ferry-proxy`,
        `${path}.access_log_options: not supported by ferry-proxy (sessions are logged once, when they end)`,
      ],
    );
    assert.deepEqual(
      errors(
        listener([
          {
            filters: [
              tcpProxy({
                cluster: undefined,
                weighted_clusters: {
                  clusters: [{ name: 'a', weight: 1, metadata_match: { filter_metadata: {} } }],
                },
              }),
            ],
          },
        ]),
      ),
      [
        `${path}.weighted_clusters.clusters[0].metadata_match: not supported by ferry-proxy (no subset load balancing)`,
      ],
    );
  });

  test('a terminal filter must be last; a chain may have no filters at all', () => {
    assert.deepEqual(errors(listener([{ filters: [tcpProxy(), hcm()] }])), [
      `${L}: filter_chains[0].filters[0]: envoy.filters.network.tcp_proxy is terminal and must be the last network filter`,
    ]);
    const model = translate(listener([{ filter_chain_match: { destination_port: 1 } }]));
    const chain = model.filterChains[0]!;
    assert.equal(chain.http, undefined);
    assert.equal(chain.tcpProxy, undefined);
  });

  test('a network filter without typed_config is NACKed', () => {
    assert.deepEqual(
      errors(listener([{ filters: [{ name: 'envoy.filters.network.tcp_proxy' }] }])),
      [
        `${L}: filter_chains[0].filters[0].typed_config: required: the filter config selects the filter (supported: envoy.filters.network.http_connection_manager, envoy.filters.network.local_ratelimit, envoy.filters.network.tcp_proxy)`,
      ],
    );
  });
});

describe('translateListener: filter_chain_match', () => {
  test('every field into the model, CIDRs normalised', () => {
    const model = translate(
      listener(
        [
          {
            filter_chain_match: {
              destination_port: 9000,
              prefix_ranges: [{ address_prefix: '10.1.2.3', prefix_len: 8 }],
              server_names: ['Shop.Example.com', '*.example.org'],
              transport_protocol: 'tls',
              application_protocols: ['h2'],
              direct_source_prefix_ranges: [
                { address_prefix: '2001:db8:0:0:1::1', prefix_len: 64 },
              ],
              source_type: 'EXTERNAL',
              source_prefix_ranges: [{ address_prefix: '192.0.2.77', prefix_len: 24 }],
              source_ports: [4000, 4001],
            },
            filters: [tcpProxy()],
          },
        ],
        { listener_filters: [TLS_INSPECTOR] },
      ),
    );
    const chain = model.filterChains[0]!;
    assert.deepEqual(
      {
        destinationPort: chain.destinationPort,
        prefixRanges: chain.prefixRanges,
        serverNames: chain.serverNames,
        transportProtocol: chain.transportProtocol,
        applicationProtocols: chain.applicationProtocols,
        directSourcePrefixRanges: chain.directSourcePrefixRanges,
        sourceType: chain.sourceType,
        sourcePrefixRanges: chain.sourcePrefixRanges,
        sourcePorts: chain.sourcePorts,
      },
      {
        destinationPort: 9000,
        prefixRanges: [{ address: '10.0.0.0', prefixLen: 8 }],
        serverNames: ['shop.example.com', '*.example.org'],
        transportProtocol: 'tls',
        applicationProtocols: ['h2'],
        directSourcePrefixRanges: [{ address: '2001:db8::', prefixLen: 64 }],
        sourceType: 'EXTERNAL',
        sourcePrefixRanges: [{ address: '192.0.2.0', prefixLen: 24 }],
        sourcePorts: [4000, 4001],
      },
    );
    assert.deepEqual(model.listenerFilters, [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typeUrl: `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
        config: {},
      },
    ]);
  });

  test('identical matches are NACKed, as Envoy refuses them', () => {
    const match = { server_names: ['a.test'] };
    assert.deepEqual(
      errors(
        listener(
          [
            { filter_chain_match: match, filters: [tcpProxy()] },
            { filter_chain_match: match, filters: [tcpProxy()] },
          ],
          { listener_filters: [TLS_INSPECTOR] },
        ),
      ),
      [
        `${L}: filter_chains[1]: has the same filter_chain_match as filter_chains[0] (Envoy: filter chains with the same matching rules)`,
      ],
    );
    assert.deepEqual(errors(listener([{ filters: [tcpProxy()] }, { filters: [tcpProxy()] }])), [
      `${L}: filter_chains[1]: has the same filter_chain_match as filter_chains[0] (Envoy: filter chains with the same matching rules)`,
    ]);
  });

  test('overlapping matches are NACKed; disjoint ones are not', () => {
    const overlap = listener(
      [
        { filter_chain_match: { server_names: ['a.test', 'b.test'] }, filters: [tcpProxy()] },
        { filter_chain_match: { server_names: ['b.test'] }, filters: [tcpProxy()] },
      ],
      { listener_filters: [TLS_INSPECTOR] },
    );
    assert.deepEqual(errors(overlap), [
      `${L}: filter_chains[1]: its filter_chain_match overlaps filter_chains[0]'s: a connection could match both equally (Envoy: multiple filter chains with overlapping matching rules)`,
    ]);
    translate(
      listener(
        [
          { filter_chain_match: { server_names: ['a.test'] }, filters: [tcpProxy()] },
          {
            filter_chain_match: { server_names: ['a.test'], source_ports: [1] },
            filters: [tcpProxy()],
          },
          { filter_chain_match: { server_names: ['*.test'] }, filters: [tcpProxy()] },
        ],
        { listener_filters: [TLS_INSPECTOR] },
      ),
    );
  });

  test('bad server names, ranges and protocols are NACKed with their paths', () => {
    const path = `${L}: filter_chains[0].filter_chain_match`;
    assert.deepEqual(
      errors(
        listener(
          [
            {
              filter_chain_match: {
                server_names: ['*w.example.com', '*'],
                prefix_ranges: [{ address_prefix: 'example.com', prefix_len: 8 }],
                source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 33 }],
                transport_protocol: 'quic',
                address_suffix: '1',
              },
              filters: [tcpProxy()],
            },
          ],
          { listener_filters: [TLS_INSPECTOR] },
        ),
      ),
      [
        `${path}.address_suffix: not supported by ferry-proxy (Envoy does not implement it either)`,
        `${path}.transport_protocol: quic is not supported by ferry-proxy (supported: tls, raw_buffer)`,
        `${path}.prefix_ranges[0]: "example.com" is not an IP address`,
        `${path}.server_names[0]: partial wildcards are not supported in "server_names" ("*w.example.com"); use an exact name or *.domain`,
        `${path}.server_names[1]: "*" is not supported: omit server_names to match any server name`,
        `${path}.source_prefix_ranges[0]: prefix_len 33 is out of range for "10.0.0.0" (0-32)`,
      ],
    );
  });

  test('matching on SNI, "tls" or ALPN without tls_inspector is NACKed', () => {
    const path = `${L}: filter_chains[0].filter_chain_match`;
    const why =
      'needs a listener filter that detects it (envoy.filters.listener.tls_inspector): without one no connection has it, so this chain would never match';
    assert.deepEqual(
      errors(
        listener([
          {
            filter_chain_match: {
              server_names: ['a.test'],
              transport_protocol: 'tls',
              application_protocols: ['h2'],
            },
            filters: [tcpProxy()],
          },
        ]),
      ),
      [
        `${path}.server_names: ${why}`,
        `${path}.transport_protocol: ${why}`,
        `${path}.application_protocols: ${why}`,
      ],
    );
    // "raw_buffer" is every connection's transport protocol without a listener filter.
    translate(
      listener([
        { filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [tcpProxy()] },
      ]),
    );
  });

  test('the default chain’s filter_chain_match is ignored, as in Envoy', () => {
    const model = translate(
      listener([], {
        default_filter_chain: {
          filter_chain_match: { server_names: ['ignored.test'] },
          filters: [tcpProxy()],
        },
      }),
    );
    assert.deepEqual(model.defaultFilterChain?.serverNames, []);
  });
});

describe('translateListener: listener filters', () => {
  test('tls_inspector by name or typed_config; JA3 fingerprinting is NACKed', () => {
    const byName = translate(
      listener([{ filters: [tcpProxy()] }], {
        listener_filters: [{ name: 'envoy.filters.listener.tls_inspector' }],
        listener_filters_timeout: '2s',
        continue_on_listener_filters_timeout: true,
      }),
    );
    assert.equal(byName.listenerFilters.length, 1);
    assert.equal(byName.listenerFiltersTimeoutMs, 2000);
    assert.equal(byName.continueOnListenerFiltersTimeout, true);
    assert.deepEqual(
      errors(
        listener([{ filters: [tcpProxy()] }], {
          listener_filters: [
            {
              name: 'tls',
              typed_config: {
                ...(TLS_INSPECTOR.typed_config as Doc),
                enable_ja3_fingerprinting: true,
              },
            },
          ],
        }),
      ),
      [
        `${L}: listener_filters[0].typed_config.enable_ja3_fingerprinting: not supported by ferry-proxy`,
      ],
    );
  });
});
