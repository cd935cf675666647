/**
 * Configuration files for the HTTP proxy benchmark (proxy-bench.ts): the nginx backend, and
 * ferry-proxy, nginx and HAProxy in front of it set up alike: HTTP/1.1 keep-alive on both sides,
 * no access log, the same number of workers.
 */

/** Response bodies the backend serves, by URL path. */
export const BODIES = { small: 100, large: 64 * 1024 } as const;
export type BodySize = keyof typeof BODIES;

/**
 * The bench's requests: a GET of each response size (wrk's bare request: a path and Host);
 * `form`, a 4 KiB urlencoded form POST to /form (FORM_BODY) that the backend answers with the
 * small body; `browser`, a GET of the small body as a browser sends it (BROWSER_PATH with
 * BROWSER_HEADERS), not run unless asked for.
 */
export type BenchCase = BodySize | 'form' | 'browser';
export const BENCH_CASES: readonly BenchCase[] = ['small', 'large', 'form', 'browser'];
export const DEFAULT_BENCH_CASES: readonly BenchCase[] = ['small', 'large', 'form'];
export const RESPONSE_BYTES: Readonly<Record<BenchCase, number>> = {
  ...BODIES,
  form: BODIES.small,
  browser: BODIES.small,
};

/** The `browser` case's path: the small body, with a query string. */
export const BROWSER_PATH = '/small?page=2&sort=price';
/** What a browser adds to every page view of a site it has a session with. */
export const BROWSER_HEADERS: Readonly<Record<string, string>> = {
  'User-Agent':
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Accept-Language': 'en-GB,en;q=0.9',
  'Accept-Encoding': 'gzip, deflate, br',
  Cookie: 'session=4f9a1c2b7d8e; theme=dark',
};

/** The path a case requests. */
export function casePath(size: BenchCase): string {
  return size === 'browser' ? BROWSER_PATH : `/${size}`;
}
export const FORM_BODY_BYTES = 4096;

/**
 * A contact form as a browser posts it, 4 KiB exactly: a few short fields and a long message
 * of plain prose (nothing a WAF should flag, so every request goes through all its rules).
 */
export const FORM_BODY: string = (() => {
  const head = new URLSearchParams({
    name: "Siobhan O'Brien",
    email: 'siobhan.obrien@example.ie',
    phone: '+353 1 234 5678',
    subject: 'Question about my order',
  }).toString();
  const prose =
    'Hello, I placed an order last week and would like to know when it will arrive. ' +
    'The tracking page has not changed for three days and the courier says it is still ' +
    'at the depot. Could you check with them, and let me know if I should expect a delay? ' +
    'Many thanks for your help, and have a nice day. ';
  let message = '';
  while (message.length < FORM_BODY_BYTES) message += prose;
  const body = `${head}&message=${new URLSearchParams({ m: message }).toString().slice(2)}`;
  return `${body.slice(0, FORM_BODY_BYTES - 1)}.`;
})();

export interface ProxyConfigInput {
  readonly listenPort: number;
  readonly backendPort: number;
  readonly workers: number;
  /** The temp dir the proxy may write into (pid, logs, state). */
  readonly dir: string;
}

/** nginx's `user` directive only applies (and is only needed) when the master runs as root. */
function userLine(): string {
  return process.getuid?.() === 0 ? 'user root root;\n' : '';
}

/** The fixed backend: nginx serving /small and /large from `docroot`, one worker. */
export function backendNginxConf(port: number, docroot: string, dir: string): string {
  return `${userLine()}worker_processes 1;
pid ${dir}/backend.pid;
error_log ${dir}/backend-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  open_file_cache max=16;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    root ${docroot};
    location / { }
    # The form case: the body is read and dropped, the answer is the small body.
    location = /form {
      client_body_buffer_size 16k;
      return 200 "${'x'.repeat(BODIES.small)}";
    }
  }
}
`;
}

/**
 * nginx as a reverse proxy with upstream keep-alive; with `modsecurity`, ModSecurity v3 runs
 * the rules of that file on every request (the module at that path), bodies buffered in memory.
 */
export function proxyNginxConf(
  input: ProxyConfigInput,
  modsecurity?: { readonly module: string; readonly rulesFile: string },
): string {
  const load = modsecurity ? `load_module ${modsecurity.module};\n` : '';
  const waf = modsecurity
    ? `  modsecurity on;
  modsecurity_rules_file ${modsecurity.rulesFile};
  client_body_buffer_size 16k;
`
    : '';
  return `${load}${userLine()}worker_processes ${input.workers};
pid ${input.dir}/proxy-nginx.pid;
error_log ${input.dir}/proxy-nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
${waf}  upstream backend {
    server 127.0.0.1:${input.backendPort};
    keepalive 128;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${input.listenPort} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** HAProxy in http mode, one process with `nbthread = workers`, server-side keep-alive. */
export function haproxyConf(input: ProxyConfigInput): string {
  return `global
  nbthread ${input.workers}
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend bench
  bind 127.0.0.1:${input.listenPort}
  default_backend backend
backend backend
  server b1 127.0.0.1:${input.backendPort} maxconn 1000
`;
}

/** What a ferry-proxy variant of the bench adds to the plain config (the cost being measured). */
export interface FerryExtras {
  /** OpenTelemetry tracing at this random_sampling percentage, exported over OTLP/HTTP. */
  readonly tracing?: { readonly percent: number; readonly collectorPort: number };
  /** An access log file (Envoy's default format). */
  readonly accessLogPath?: string;
  /**
   * Compressor (gzip), buffer (1 MiB) and CORS filters before the router, configured but idle
   * for the bench's requests: wrk sends no Accept-Encoding, no body and no Origin.
   */
  readonly idleFilters?: boolean;
  /**
   * An RBAC filter before the router whose ALLOW policy admits remote_ip in a list of this many
   * CIDR ranges; the bench's client (127.0.0.1) matches only the last one.
   */
  readonly rbacAllowListSize?: number;
  /**
   * A local rate limiter (envoy.filters.http.local_ratelimit) before the router, enabled and
   * enforced on every request, with a bucket no bench run can empty: its bookkeeping is the cost.
   */
  readonly localRateLimit?: boolean;
  /**
   * envoy.filters.http.ratelimit before the router, asking the control plane's rate limit
   * service at this gRPC address (`host:port`) about every request, under a limit no run reaches
   * (FLEET_RATE_LIMIT_POLICY): the round trip to the service is the cost.
   */
  readonly fleetRateLimitAddress?: string;
  /** The WAF filter (ferry.filters.http.waf) before the router, running these directives. */
  readonly wafDirectives?: string;
}

/**
 * The proxy's node cluster: its group at the control plane, whose RateLimitPolicy answers its
 * rate limit calls (ferry-proxy names its group in those calls).
 */
export const BENCH_GROUP = 'bench';

/** The rate limit domain of the fleet variant. */
export const FLEET_RATE_LIMIT_DOMAIN = 'bench';

/** The RateLimitPolicy the fleet variant's control plane holds: 10^9 requests per second. */
export const FLEET_RATE_LIMIT_POLICY = {
  '@type': 'type.googleapis.com/ferry.v1.RateLimitPolicy',
  name: 'bench',
  domain: FLEET_RATE_LIMIT_DOMAIN,
  descriptors: [
    {
      key: 'generic_key',
      value: 'bench',
      rate_limit: { unit: 'SECOND', requests_per_unit: 1000000000 },
    },
  ],
} as const;

/** The ratelimit filter of `fleetRateLimitAddress`, calling the cluster `rls`. */
export const FLEET_RATE_LIMIT_FILTER = {
  name: 'envoy.filters.http.ratelimit',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit',
    domain: FLEET_RATE_LIMIT_DOMAIN,
    // Envoy's default is 20 ms; a saturated bench must measure the calls, not time them out.
    timeout: '1s',
    failure_mode_deny: true,
    rate_limit_service: {
      grpc_service: { envoy_grpc: { cluster_name: 'rls' } },
      transport_api_version: 'V3',
    },
  },
} as const;

/**
 * `size` distinct /24 ranges in 10.0.0.0/8, then 127.0.0.1/32: an office-network allow list
 * the bench's client is on only through its last entry.
 */
export function benchAllowList(size: number): { address_prefix: string; prefix_len: number }[] {
  const ranges = [];
  for (let i = 0; i < size - 1; i++)
    ranges.push({ address_prefix: `10.${(i >> 8) & 255}.${i & 255}.0`, prefix_len: 24 });
  ranges.push({ address_prefix: '127.0.0.1', prefix_len: 32 });
  return ranges;
}

/** The RBAC filter of `rbacAllowListSize`: ALLOW any request whose remote_ip is on the list. */
export function rbacAllowListFilter(size: number): object {
  return {
    name: 'envoy.filters.http.rbac',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
      rules: {
        action: 'ALLOW',
        policies: {
          'office-network': {
            permissions: [{ any: true }],
            principals: [{ or_ids: { ids: benchAllowList(size).map((r) => ({ remote_ip: r })) } }],
          },
        },
      },
    },
  };
}

/**
 * The local rate limiter of `localRateLimit`: a proxy-wide bucket of 4e9 tokens refilled every
 * second, far above what a run sends, so every request takes a token and none is limited.
 */
export const LOCAL_RATE_LIMIT_FILTER = {
  name: 'envoy.filters.http.local_ratelimit',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
    stat_prefix: 'bench_rl',
    token_bucket: { max_tokens: 4000000000, tokens_per_fill: 4000000000, fill_interval: '1s' },
    filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
    filter_enforced: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
  },
} as const;

/** The route-level CORS policy of `idleFilters`: an origin the bench's requests never carry. */
export const IDLE_CORS_POLICY = {
  '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
  allow_origin_string_match: [{ exact: 'https://example.com' }],
} as const;

/**
 * The HTTP filters of `idleFilters`, in chain order, as an Envoy user would write them: the
 * compressor with the gzip library and Envoy's defaults, the buffer filter with a 1 MiB request
 * limit, and the CORS filter (its policy is per route, IDLE_CORS_POLICY).
 */
export const IDLE_HTTP_FILTERS: readonly object[] = [
  {
    name: 'envoy.filters.http.compressor',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor',
      compressor_library: {
        name: 'text_optimized',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip',
        },
      },
    },
  },
  {
    name: 'envoy.filters.http.buffer',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer',
      max_request_bytes: 1048576,
    },
  },
  {
    name: 'envoy.filters.http.cors',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' },
  },
];

/** The WAF filter of `wafDirectives`, blocking (mode ON). */
export function wafFilter(directives: string): object {
  return {
    name: 'ferry.filters.http.waf',
    typed_config: {
      '@type': 'type.googleapis.com/ferry.v1.Waf',
      directives: [directives],
      mode: 'ON',
    },
  };
}

/** HCM fields for the extras: `tracing` and `access_log`, as an Envoy user would write them. */
function hcmExtras(extras: FerryExtras): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (extras.tracing) {
    out.tracing = {
      provider: {
        name: 'envoy.tracers.opentelemetry',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
          http_service: {
            http_uri: {
              uri: `http://127.0.0.1:${extras.tracing.collectorPort}/v1/traces`,
              cluster: 'otlp',
              timeout: '5s',
            },
          },
          service_name: 'bench',
        },
      },
      random_sampling: { value: extras.tracing.percent },
      spawn_upstream_span: true,
    };
  }
  if (extras.accessLogPath !== undefined) {
    out.access_log = [
      {
        name: 'envoy.access_loggers.file',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
          path: extras.accessLogPath,
        },
      },
    ];
  }
  return out;
}

function staticCluster(name: string, port: number): object {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
            },
          ],
        },
      ],
    },
  };
}

/** The control plane's gRPC address as an HTTP/2 cluster, for the rate limit service. */
function rlsCluster(address: string): object {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return {
    ...staticCluster('rls', port),
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}

/**
 * ferry-proxy's static bootstrap, as an Envoy user would write it: one listener with an HCM
 * (router filter, a virtual host routing `/` to the cluster) and a STATIC cluster; plus the
 * extras of a variant (tracing to a collector cluster, an access log, idle HTTP filters).
 */
export function ferryBootstrap(
  input: ProxyConfigInput & { readonly adminPort: number },
  extras: FerryExtras = {},
): object {
  return {
    node: { id: 'bench-proxy', cluster: BENCH_GROUP },
    admin: {
      address: { socket_address: { address: '127.0.0.1', port_value: input.adminPort } },
    },
    static_resources: {
      listeners: [
        {
          name: 'bench',
          address: { socket_address: { address: '127.0.0.1', port_value: input.listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'bench',
                    codec_type: 'AUTO',
                    ...hcmExtras(extras),
                    route_config: {
                      name: 'bench',
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [
                            {
                              match: { prefix: '/' },
                              route: {
                                cluster: 'backend',
                                ...(extras.fleetRateLimitAddress !== undefined
                                  ? {
                                      rate_limits: [
                                        {
                                          actions: [{ generic_key: { descriptor_value: 'bench' } }],
                                        },
                                      ],
                                    }
                                  : {}),
                              },
                              ...(extras.idleFilters === true
                                ? {
                                    typed_per_filter_config: {
                                      'envoy.filters.http.cors': IDLE_CORS_POLICY,
                                    },
                                  }
                                : {}),
                            },
                          ],
                        },
                      ],
                    },
                    http_filters: [
                      ...(extras.wafDirectives !== undefined
                        ? [wafFilter(extras.wafDirectives)]
                        : []),
                      ...(extras.idleFilters === true ? IDLE_HTTP_FILTERS : []),
                      ...(extras.rbacAllowListSize !== undefined
                        ? [rbacAllowListFilter(extras.rbacAllowListSize)]
                        : []),
                      ...(extras.localRateLimit === true ? [LOCAL_RATE_LIMIT_FILTER] : []),
                      ...(extras.fleetRateLimitAddress !== undefined
                        ? [FLEET_RATE_LIMIT_FILTER]
                        : []),
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                        },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        staticCluster('backend', input.backendPort),
        ...(extras.tracing ? [staticCluster('otlp', extras.tracing.collectorPort)] : []),
        ...(extras.fleetRateLimitAddress !== undefined
          ? [rlsCluster(extras.fleetRateLimitAddress)]
          : []),
      ],
    },
  };
}
