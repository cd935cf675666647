// In-process micro-benchmark of ferry-proxy's stream path: ActiveStream (connection manager),
// the filter manager and the HTTP filters of an HCM, for a GET answered 200 with 100 bytes. The
// router is replaced by a terminal filter that answers at once with nginx's response headers,
// and the codec by a recording encoder, so no socket or upstream is involved: what is measured
// is the JS per stream, without the network noise of `make bench-proxy`.
//
// Two chains: "plain" (router only) and "filters" (compressor, buffer and CORS before it, idle
// for this request, as bench-proxy's ferry-filters). Reported: CPU time (user + system) per
// stream, median of 7 rounds. Run each mode in its own process to keep call sites as
// monomorphic as in a real worker serving one chain:
//   node scripts/bench-stream-path.mjs plain; node scripts/bench-stream-path.mjs filters
// Build first (`npx tsc -b`). Options: [plain|filters|both] [streams per round, 200000].
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (file) => import(pathToFileURL(path.join(root, file)).href);
const { buildProxyConfig } = await load('data-plane/dist/config/translate.js');
const { resourcesOf } = await load('data-plane/dist/config/translate-test-fixtures.js');
const { ActiveStream } = await load('data-plane/dist/http/connection-manager.js');
const { RequestHeaderMap, ResponseHeaderMap, copyForwardableHeaders } = await load(
  'data-plane/dist/http/header-map.js',
);
const { httpFilterByTypeUrl } = await load('data-plane/dist/filters/http/registry.js');
const { compileRouteConfig } = await load('data-plane/dist/router/route-table.js');
const { RouteStatusCounters } = await load('data-plane/dist/stats/stats.js');
const { MemoryStatsSink } = await load('data-plane/dist/stats/stats-memory.js');
const { createLogger } = await load('shared/dist/index.js');

const mode = process.argv[2] ?? 'both';
const N = Number(process.argv[3] ?? 200_000);
const T = 'type.googleapis.com/';
const stats = new MemoryStatsSink();
const context = {
  stats,
  logger: createLogger('bench-stream-path', 'silent'),
  statPrefix: 'bench',
  listenerName: 'bench',
  serverHealth: { failing: false },
};

/** The idle filters of bench-proxy's ferry-filters (e2e/src/bench/proxy-configs.ts). */
const IDLE_FILTERS = [
  {
    name: 'envoy.filters.http.compressor',
    typed_config: {
      '@type': `${T}envoy.extensions.filters.http.compressor.v3.Compressor`,
      compressor_library: {
        name: 'text_optimized',
        typed_config: { '@type': `${T}envoy.extensions.compression.gzip.compressor.v3.Gzip` },
      },
    },
  },
  {
    name: 'envoy.filters.http.buffer',
    typed_config: {
      '@type': `${T}envoy.extensions.filters.http.buffer.v3.Buffer`,
      max_request_bytes: 1048576,
    },
  },
  {
    name: 'envoy.filters.http.cors',
    typed_config: { '@type': `${T}envoy.extensions.filters.http.cors.v3.Cors` },
  },
];

/** nginx's response to /small, as the upstream connection hands it on. */
const RAW_RESPONSE = [
  'Server', 'nginx/1.22.1',
  'Date', 'Sun, 06 Dec 2026 16:00:00 GMT',
  'Content-Type', 'application/octet-stream',
  'Content-Length', '100',
  'Last-Modified', 'Sun, 06 Dec 2026 15:00:00 GMT',
  'Connection', 'keep-alive',
  'ETag', '"6932d3a0-64"',
  'Accept-Ranges', 'bytes',
]; // prettier-ignore
const BODY = Buffer.alloc(100, 120);

/** Stands in for the router: the upstream's response, encoded at once. */
const TERMINAL = {
  create(callbacks) {
    return {
      decodeHeaders() {
        const headers = new ResponseHeaderMap(200);
        copyForwardableHeaders(RAW_RESPONSE, headers);
        callbacks.streamInfo.responseCodeDetails = 'via_upstream';
        callbacks.encodeHeaders(headers, false);
        callbacks.encodeData(BODY, true);
        return 'stop';
      },
    };
  },
};

function compileChain(withFilters) {
  const route = { match: { prefix: '/' }, route: { cluster: 'backend' } };
  if (withFilters)
    route.typed_per_filter_config = {
      'envoy.filters.http.cors': {
        '@type': `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
        allow_origin_string_match: [{ exact: 'https://example.com' }],
      },
    };
  const router = {
    name: 'envoy.filters.http.router',
    typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
  };
  const hcm = {
    '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
    stat_prefix: 'bench',
    route_config: { name: 'r', virtual_hosts: [{ name: 'any', domains: ['*'], routes: [route] }] },
    http_filters: [...(withFilters ? IDLE_FILTERS : []), router],
  };
  const docs = [
    {
      '@type': 'envoy.config.listener.v3.Listener',
      name: 'bench',
      address: { socket_address: { address: '127.0.0.1', port_value: 1 } },
      filter_chains: [
        { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] },
      ],
    },
    {
      '@type': 'envoy.config.cluster.v3.Cluster',
      name: 'backend',
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: {
        cluster_name: 'backend',
        endpoints: [
          {
            lb_endpoints: [
              {
                endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 2 } } },
              },
            ],
          },
        ],
      },
    },
  ];
  const result = buildProxyConfig(resourcesOf(docs));
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const model = result.value.listeners[0].filterChains[0].http;
  const filters = model.httpFilters.map((f) => ({
    name: f.name,
    disabledByDefault: f.disabled === true,
    factory:
      f.name === router.name
        ? TERMINAL
        : httpFilterByTypeUrl(f.typeUrl).createFilterFactory(f.config, context),
  }));
  const labels = { listener: 'bench', stat_prefix: 'bench' };
  return {
    listenerName: 'bench',
    hcm: model,
    routeTable: compileRouteConfig(model.routeConfig),
    filters,
    downstreamRq: new RouteStatusCounters(stats, 'downstream_rq', labels),
    downstreamRqTime: stats.histogram('downstream_rq_time', labels),
    downstreamRqActive: stats.gauge('downstream_rq_active', { listener: 'bench' }),
    bufferLimitBytes: 1 << 20,
  };
}

const scope = { clusters: new Map(), accessLog: undefined };
const socket = {
  remoteAddress: '127.0.0.1',
  remotePort: 40000,
  localAddress: '127.0.0.1',
  localPort: 1,
};
const connection = { id: 1, socket, encrypted: false, serverName: undefined };
let sentBytes = 0;
const encoder = {
  headersSent: false,
  encodeHeaders(headers) {
    this.headersSent = true;
    sentBytes += headers.names.length;
  },
  encodeData(data) {
    sentBytes += data.length;
    return true;
  },
  encodeTrailers() {},
  readDisable() {},
  resetStream() {},
  closeConnectionAfterResponse() {},
};

function serveOne(chain) {
  const head = new RequestHeaderMap('GET', '/small', '127.0.0.1:8080', 'http', 'HTTP/1.1');
  head.append('user-agent', 'wrk');
  encoder.headersSent = false;
  new ActiveStream(chain, scope, head, encoder, connection).start(true);
}

const chains = {};
if (mode !== 'filters') chains.plain = compileChain(false);
if (mode !== 'plain') chains.filters = compileChain(true);
const names = Object.keys(chains);
for (let i = 0; i < 50_000; i++) for (const name of names) serveOne(chains[name]);
const perStreamNs = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round < 7; round++) {
  for (const name of round % 2 === 0 ? names : [...names].reverse()) {
    const chain = chains[name];
    const start = process.cpuUsage();
    for (let i = 0; i < N; i++) serveOne(chain);
    const used = process.cpuUsage(start);
    perStreamNs[name].push(((used.user + used.system) * 1000) / N);
  }
}
if (sentBytes === 0) throw new Error('no response was encoded');
for (const name of names) {
  const sorted = perStreamNs[name].sort((a, b) => a - b);
  console.log(
    `${name}: ${sorted[3].toFixed(0)} ns CPU per stream (median of 7 rounds of ${N}; min ${sorted[0].toFixed(0)})`,
  );
}
