/**
 * Starts real Ferry processes on loopback with random free ports and stops them. Every process
 * started here is tracked and killed by `stopAll()` (call it in `after`), so a failing test leaks
 * nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { bindable, freePort } from '@ferry/shared/testing/free-port';
import { RawAdsClient, resourceNames } from './raw-ads-client.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CONTROL_PLANE_BIN = path.join(ROOT, 'control-plane', 'bin', 'ferry-control-plane');
export const FERRYCTL_BIN = path.join(ROOT, 'control-plane', 'bin', 'ferryctl');

const running = new Set<ChildProcess>();

function killRunning(): void {
  for (const p of running) p.kill('SIGKILL');
}
// A test file that ends without stopAll() (a failed `before`) or that the test runner ends with
// SIGTERM (it overran --test-timeout) takes its processes along instead of leaking them.
process.once('exit', killRunning);
process.once('SIGTERM', () => {
  killRunning();
  process.exit(143);
});

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ferry-${prefix}-`));
}

export interface ControlPlane {
  readonly proc: ChildProcess;
  readonly xdsAddress: string;
  readonly apiUrl: string;
  readonly grpcApiAddress: string;
  readonly logs: string[];
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export interface ControlPlaneOptions {
  store?: string;
  args?: string[];
  env?: Record<string, string>;
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/**
 * How long a started process may take to log that it is ready: a liveness bound (start-up takes
 * seconds, tens of seconds on a loaded machine), so that one that never gets ready fails its test
 * with its logs instead of hanging it.
 */
export const READY_BOUND_MS = 120_000;

/**
 * Collects `proc`'s stderr and stdout lines into `logs` and resolves with the first JSON line of
 * stdout whose msg is `readyMsg`; rejects, with the logs, if it exits first or is not ready
 * within READY_BOUND_MS.
 */
function readyLine(
  proc: ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream },
  name: string,
  readyMsg: string,
  logs: string[],
): Promise<Record<string, unknown>> {
  proc.stderr.on('data', (d: Buffer) => logs.push(d.toString()));
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stdout });
    const fail = (why: string): void => {
      proc.off('exit', onExit);
      clearTimeout(bound);
      reject(new Error(`${name} ${why} before it was ready:\n${logs.join('\n')}`));
    };
    const onExit = (code: number | null): void => fail(`exited (${code})`);
    const bound = setTimeout(() => fail(`took over ${READY_BOUND_MS} ms`), READY_BOUND_MS);
    proc.once('exit', onExit);
    rl.on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === readyMsg) {
          proc.off('exit', onExit);
          clearTimeout(bound);
          resolve(entry);
        }
      } catch {
        // not JSON: keep it in logs only
      }
    });
  });
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const store = options.store ?? `sqlite:${path.join(tempDir('cp'), 'ferry.db')}`;
  const proc = spawn(
    process.execPath,
    [
      CONTROL_PLANE_BIN,
      '--xds-address',
      '127.0.0.1:0',
      '--api-address',
      '127.0.0.1:0',
      '--api-grpc-address',
      '127.0.0.1:0',
      '--store',
      store,
      ...(options.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FERRY_LOG_LEVEL: 'info', ...options.env },
    },
  );
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const logs: string[] = [];
  const ready = await readyLine(proc, 'control plane', 'control plane ready', logs);
  return {
    proc,
    xdsAddress: String(ready.xds_address),
    apiUrl: String(ready.api_url),
    grpcApiAddress: String(ready.api_grpc_address),
    logs,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

let publishProbes = 0;

/**
 * Resolves once the control plane serves every one of `names` of `typeUrl` to `group`. An apply
 * returns when the store has committed; the control plane publishes ~100 ms later (its debounce),
 * so a proxy started, or a client connected, right after an apply may first get the config from
 * before it. Asks as a wildcard SotW ADS client with a node id of its own
 * (`publish-probe-N`, listed in `ferryctl status` as disconnected afterwards); fails after
 * `timeoutMs` (a liveness bound) with what it got.
 */
export async function waitForPublished(
  cp: ControlPlane,
  typeUrl: string,
  names: readonly string[],
  {
    group = 'default',
    timeoutMs = 15000,
    credentials,
  }: { group?: string; timeoutMs?: number; credentials?: ChannelCredentials } = {},
): Promise<void> {
  publishProbes += 1;
  const probe = new RawAdsClient(
    cp.xdsAddress,
    `publish-probe-${publishProbes}`,
    group,
    ...(credentials ? [credentials] : []),
  );
  try {
    probe.request(typeUrl, []);
    await probe.until(
      (response) => {
        const served = new Set(resourceNames(response));
        return names.every((n) => served.has(n));
      },
      `${names.join(', ')} published (${typeUrl.slice(typeUrl.lastIndexOf('.') + 1)})`,
      timeoutMs,
    );
  } finally {
    probe.close();
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `env` is added to this process's environment (FERRY_TOKEN, FERRY_CONFIG, ...). */
export function ferryctl(
  server: string,
  args: string[],
  input?: string,
  env?: Record<string, string>,
): Promise<CommandResult> {
  return run(process.execPath, [FERRYCTL_BIN, '--server', server, ...args], input, env);
}

export function run(
  command: string,
  args: string[],
  input?: string,
  env?: Record<string, string>,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    running.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) => {
      running.delete(proc);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    // A command that exits without reading its input (openssl) closes the pipe first: its exit
    // code tells what happened, not the EPIPE of writing to it.
    proc.stdin.on('error', () => undefined);
    proc.stdin.end(input ?? '');
  });
}

export interface KeyPair {
  cert: string;
  key: string;
}

/**
 * Tracks a process started outside these helpers (nginx, ...) like the harness's own: stopAll()
 * and this process's exit kill it.
 */
export function trackProcess(proc: ChildProcess): ChildProcess {
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  return proc;
}

export async function stopAll(): Promise<void> {
  const procs = [...running];
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map(exited));
}

/** Polls `check` until it returns a value or `timeoutMs` passes (a liveness bound, not a timing assertion). */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 15000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${lastError ? `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ------------------------------------------------------------------ ferry-proxy and backends

export const PROXY_BIN = path.join(ROOT, 'data-plane', 'bin', 'ferry-proxy');

/** A port that was free a moment ago, outside the ephemeral range: for listeners named in config. */
export { freePort };

/**
 * The xDS cluster's TLS for proxyBootstrap: files of the client certificate and key (omit them for
 * a proxy without one), the CA of the control plane's certificate, and optionally SNI and SAN
 * matchers (Envoy's `match_typed_subject_alt_names`).
 */
export interface XdsTlsFiles {
  certFile?: string;
  keyFile?: string;
  caFile: string;
  sni?: string;
  matchSans?: Array<{ san_type: 'DNS' | 'URI' | 'IP_ADDRESS'; matcher: Json }>;
}

/** The UpstreamTlsContext transport_socket of the xDS cluster for `tls`. */
export function xdsTransportSocket(tls: XdsTlsFiles): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      ...(tls.sni ? { sni: tls.sni } : {}),
      common_tls_context: {
        ...(tls.certFile && tls.keyFile
          ? {
              tls_certificates: [
                {
                  certificate_chain: { filename: tls.certFile },
                  private_key: { filename: tls.keyFile },
                },
              ],
            }
          : {}),
        validation_context: {
          trusted_ca: { filename: tls.caFile },
          ...(tls.matchSans ? { match_typed_subject_alt_names: tls.matchSans } : {}),
        },
      },
    },
  };
}

/**
 * The HTTP/2 keepalive of every test proxy's xDS connection (the xDS cluster's
 * connection_keepalive): a control plane that stops answering is left within
 * XDS_KEEPALIVE_BOUND_MS. The timeout is generous for a loaded test machine, where a busy control
 * plane's event loop may answer a PING late.
 */
export const XDS_KEEPALIVE = { interval: '1s', timeout: '3s' } as const;
/** One interval at its largest jitter (Envoy's default 15%), then the timeout. */
export const XDS_KEEPALIVE_BOUND_MS = 1150 + 3000;

/** An Envoy v3 bootstrap (JSON, which is YAML) for a proxy driven over ADS by `xdsAddress`. */
export function proxyBootstrap(opts: {
  nodeId: string;
  nodeCluster?: string;
  xdsAddress: string;
  /**
   * More control planes (replicas) after `xdsAddress`, each at the next priority of the xDS
   * cluster (1, 2, ...): the proxy uses one only while every better one fails.
   */
  xdsFailover?: readonly string[];
  /** default GRPC (state of the world) */
  apiType?: 'GRPC' | 'DELTA_GRPC';
  adminPort?: number;
  /** TLS of the xDS connection (plaintext without). */
  xdsTls?: XdsTlsFiles;
}): Record<string, unknown> {
  const endpoint = (address: string): Json => {
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon);
    const port = Number(address.slice(colon + 1));
    return { endpoint: { address: { socket_address: { address: host, port_value: port } } } };
  };
  const levels = [opts.xdsAddress, ...(opts.xdsFailover ?? [])].map((address, priority) => ({
    ...(priority > 0 ? { priority } : {}),
    lb_endpoints: [endpoint(address)],
  }));
  return {
    node: { id: opts.nodeId, cluster: opts.nodeCluster ?? 'default' },
    admin: {
      address: { socket_address: { address: '127.0.0.1', port_value: opts.adminPort ?? 0 } },
    },
    dynamic_resources: {
      ads_config: {
        api_type: opts.apiType ?? 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds_cluster',
          type: 'STATIC',
          connect_timeout: '1s',
          ...(opts.xdsTls ? { transport_socket: xdsTransportSocket(opts.xdsTls) } : {}),
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: {
                http2_protocol_options: { connection_keepalive: { ...XDS_KEEPALIVE } },
              },
            },
          },
          load_assignment: { cluster_name: 'xds_cluster', endpoints: levels },
        },
      ],
    },
  };
}

export interface Proxy {
  readonly proc: ChildProcess;
  /** http://127.0.0.1:PORT of the admin endpoint. */
  readonly adminUrl: string;
  readonly ready: Record<string, unknown>;
  readonly logs: string[];
  readonly stateDir: string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

export interface ProxyStartOptions {
  /** Bootstrap document (written to a temp file) or a path to one. */
  bootstrap: Record<string, unknown> | string;
  stateDir?: string;
  concurrency?: number;
  args?: string[];
  env?: Record<string, string>;
}

/** Starts ferry-proxy and waits for its `proxy ready` line (with the admin address). */
export async function startProxy(options: ProxyStartOptions): Promise<Proxy> {
  const dir = tempDir('proxy');
  const configPath =
    typeof options.bootstrap === 'string' ? options.bootstrap : path.join(dir, 'bootstrap.yaml');
  if (typeof options.bootstrap !== 'string')
    fs.writeFileSync(configPath, JSON.stringify(options.bootstrap, null, 2));
  const stateDir = options.stateDir ?? path.join(dir, 'state');
  const proc = spawn(
    process.execPath,
    [
      PROXY_BIN,
      '--config',
      configPath,
      '--concurrency',
      String(options.concurrency ?? 1),
      '--state-dir',
      stateDir,
      '--drain-timeout-s',
      '2',
      ...(options.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FERRY_LOG_LEVEL: 'info', ...options.env },
    },
  );
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const logs: string[] = [];
  const ready = await readyLine(proc, 'ferry-proxy', 'proxy ready', logs);
  return {
    proc,
    adminUrl: `http://${String(ready.admin_address)}`,
    ready,
    logs,
    stateDir,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
      return proc.exitCode;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  /** Requests seen, as "METHOD path". */
  readonly requests: string[];
  close(): Promise<void>;
}

/** An HTTP/1.1 backend on 127.0.0.1 (random port) answering `NAME PATH`, header x-backend. */
export async function startBackend(name: string): Promise<Backend> {
  const http = await import('node:http');
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
      res.end(`${name} ${req.url}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    name,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP/1.1 request without keep-alive (each call opens its own connection). */
export async function httpRequest(
  url: string,
  options: { method?: string; host?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: { ...(options.host ? { host: options.host } : {}), ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

// ------------------------------------------------------------------ Envoy resource fixtures

const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

export type Json = Record<string, unknown>;

/** An HttpConnectionManager network filter: RDS `rds` by name, or an inline route config. */
export function hcmFilter(routes: { rds: string } | { routeConfig: Json }, extra: Json = {}): Json {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: 'http',
      ...('rds' in routes
        ? {
            rds: {
              route_config_name: routes.rds,
              config_source: { ads: {}, resource_api_version: 'V3' },
            },
          }
        : { route_config: routes.routeConfig }),
      http_filters: [ROUTER_FILTER],
      ...extra,
    },
  };
}

/** A Listener on 127.0.0.1:port whose filter chains are given (default: one chain, `hcm`). */
export function listenerResource(name: string, port: number, filterChains: Json[]): Json {
  return {
    '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: filterChains,
  };
}

/** A RouteConfiguration from virtual hosts. */
export function routeConfigResource(name: string, virtualHosts: Json[]): Json {
  return {
    '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
    name,
    virtual_hosts: virtualHosts,
  };
}

/**
 * A RouteConfiguration `name` whose one virtual host ("all", every domain) sends every request
 * (prefix `/`) to `cluster`. `match` adds RouteMatch fields, `action` RouteAction fields (timeout,
 * ...), `route` Route fields (response_headers_to_add, typed_per_filter_config, ...).
 */
export function routeAllTo(
  name: string,
  cluster: string,
  opts: { match?: Json; action?: Json; route?: Json } = {},
): Json {
  return routeConfigResource(name, [
    {
      name: 'all',
      domains: ['*'],
      routes: [
        {
          match: { prefix: '/', ...opts.match },
          route: { cluster, ...opts.action },
          ...opts.route,
        },
      ],
    },
  ]);
}

/** A RouteConfiguration resource (routeAllTo, ...) as an HCM's inline route_config: no "@type". */
export function inlineRouteConfig(resource: Json): Json {
  const { '@type': _type, ...config } = resource;
  return config;
}

/**
 * A Listener on 127.0.0.1:port with one filter chain, one HttpConnectionManager: its routes over
 * RDS by name (`{ rds }`), inline and sending everything to a cluster (`{ cluster }`: route config
 * `<name>-routes`, as routeAllTo builds it), or an inline route config (`{ routeConfig }`).
 * `httpFilters` run before the router, `hcm` adds HCM fields (access_log, tracing, ...),
 * `listener` Listener fields.
 */
export function httpListener(
  name: string,
  port: number,
  routes: { rds: string } | { cluster: string } | { routeConfig: Json },
  opts: { httpFilters?: Json[]; hcm?: Json; listener?: Json } = {},
): Json {
  const source =
    'cluster' in routes
      ? { routeConfig: inlineRouteConfig(routeAllTo(`${name}-routes`, routes.cluster)) }
      : routes;
  const hcm = hcmFilter(source, {
    ...(opts.httpFilters ? { http_filters: [...opts.httpFilters, ROUTER_FILTER] } : {}),
    ...opts.hcm,
  });
  return { ...listenerResource(name, port, [{ filters: [hcm] }]), ...opts.listener };
}

/**
 * The config most proxy tests start from: listener "http" on `listenerPort` routing over RDS
 * ("main") every request to EDS cluster "web", whose one endpoint is 127.0.0.1:webPort. `match`
 * adds RouteMatch fields to the route.
 */
export function webConfig(listenerPort: number, webPort: number, match: Json = {}): Json[] {
  return [
    httpListener('http', listenerPort, { rds: 'main' }),
    routeAllTo('main', 'web', { match }),
    edsClusterResource('web'),
    endpointsResource('web', [webPort]),
  ];
}

/** Resources as one multi-document YAML text (JSON documents) for `ferryctl apply -f -`. */
export function yamlDocs(docs: readonly Json[]): string {
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

/** A ClusterLoadAssignment for `cluster` with loopback endpoints on `ports`. */
export function endpointsResource(cluster: string, ports: number[]): Json {
  return {
    '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
    cluster_name: cluster,
    endpoints: [
      {
        lb_endpoints: ports.map((port) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
        })),
      },
    ],
  };
}

/** An EDS cluster fed over ADS. */
export function edsClusterResource(name: string, extra: Json = {}): Json {
  return {
    '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    name,
    type: 'EDS',
    connect_timeout: '1s',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    ...extra,
  };
}

/** A STATIC cluster with loopback endpoints on `ports` (inline load_assignment). */
export function staticClusterResource(name: string, ports: number[], extra: Json = {}): Json {
  const { '@type': _type, ...assignment } = endpointsResource(name, ports);
  return {
    '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: assignment,
    ...extra,
  };
}

/** A bootstrap with static listeners and clusters only (no control plane). */
export function staticBootstrap(opts: {
  nodeId: string;
  listeners: Json[];
  clusters: Json[];
}): Json {
  const strip = ({ '@type': _type, ...rest }: Json): Json => rest;
  return {
    node: { id: opts.nodeId, cluster: 'default' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      listeners: opts.listeners.map(strip),
      clusters: opts.clusters.map(strip),
    },
  };
}

/** POST /v1/apply on the control plane's HTTP API (resources as proto3 JSON with '@type'). */
export async function apiApply(apiUrl: string, resources: Json[], group?: string): Promise<void> {
  const res = await httpRequest(`${apiUrl}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resources, ...(group ? { group } : {}) }),
  });
  if (res.status !== 200) throw new Error(`apply failed (${res.status}): ${res.body}`);
}

/** Two consecutive free ports (for a second proxy started with --listener-port-offset 1). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await bindable(port + 1))) return port;
  }
  throw new Error('no two consecutive free ports found');
}

/** `count` consecutive free ports (proxies started with --listener-port-offset 0..count-1). */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    let ok = port + count <= 65536;
    for (let i = 1; ok && i < count; i++) ok = await bindable(port + i);
    if (ok) return port;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

// ------------------------------------------------------------------ raw HTTP/1.1 exchanges

export interface RawExchange {
  /** Everything the server sent (latin1). */
  readonly response: string;
  /** Status code of the first response, or 0 when none arrived. */
  readonly status: number;
  /** The server closed the connection (before the bound, or right after its response). */
  readonly closed: boolean;
}

/**
 * Writes `bytes` on a fresh connection and reads until the first complete response
 * (content-length framed) has arrived and the server either closes or stays silent for
 * `settleMs`, or until the server closes, or `timeoutMs` passes (a liveness bound).
 */
export async function rawExchange(
  port: number,
  bytes: string | Buffer,
  opts: { settleMs?: number; timeoutMs?: number } = {},
): Promise<RawExchange> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    let done = false;
    let settleTimer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(bound);
      if (settleTimer) clearTimeout(settleTimer);
      socket.destroy();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(response);
      resolve({ response, status: match ? Number(match[1]) : 0, closed });
    };
    const bound = setTimeout(() => finish(false), opts.timeoutMs ?? 5000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      response += chunk;
      const end = response.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(response.slice(0, end));
      if (response.length - end - 4 >= Number(length?.[1] ?? 0)) {
        if (settleTimer) clearTimeout(settleTimer);
        settleTimer = setTimeout(() => finish(false), opts.settleMs ?? 300);
      }
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(bytes);
  });
}

/**
 * An HTTP backend on a fixed loopback port that can be stopped and started again on the same port
 * (a backend going down and coming back). Answers 200 with its name (body and `x-backend`);
 * counts health checks (`GET /healthz`) apart from the requests it serves.
 */
export class RestartableBackend {
  /** Served requests as "METHOD path" (health checks excluded). */
  readonly requests: string[] = [];
  healthChecks = 0;
  /** How long /healthz takes to answer (a slow health endpoint). */
  healthDelayMs = 0;
  #server: import('node:http').Server | undefined;

  constructor(
    readonly name: string,
    readonly port: number,
  ) {}

  /** A started backend on a free port. */
  static async start(name = 'backend'): Promise<RestartableBackend> {
    const backend = new RestartableBackend(name, await freePort());
    await backend.start();
    return backend;
  }

  async start(): Promise<void> {
    const http = await import('node:http');
    const server = http.createServer((req, res) => {
      const answer = (): void => void res.writeHead(200, { 'x-backend': this.name }).end(this.name);
      if (req.url !== '/healthz') {
        this.requests.push(`${req.method} ${req.url}`);
        answer();
        return;
      }
      this.healthChecks++;
      if (this.healthDelayMs > 0) setTimeout(answer, this.healthDelayMs);
      else answer();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.#server = server;
  }

  /** Stops listening and drops every connection, including a proxy's pooled ones. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** One endpoint of GET /v1/health (`ferryctl health -o json`). */
export interface HealthEndpoint {
  address: string;
  status: string;
  healthy: number;
  unhealthy: number;
  proxies: number;
  since: string;
  unhealthy_nodes: string[];
  eds_unhealthy_by_quorum?: boolean;
}

/**
 * The fleet's view of `127.0.0.1:port` in `cluster` of group "default": GET /v1/health, what
 * `ferryctl health -o json` prints. Tests poll it, so it is one HTTP request rather than a
 * ferryctl process per poll (the tests that check `ferryctl health` run it themselves).
 */
export async function fleetHealth(
  apiUrl: string,
  cluster: string,
  port: number,
): Promise<HealthEndpoint | undefined> {
  const result = await httpRequest(`${apiUrl}/v1/health`);
  if (result.status !== 200) throw new Error(`GET /v1/health: ${result.status} ${result.body}`);
  const body = JSON.parse(result.body) as {
    clusters: { group: string; cluster: string; endpoints: HealthEndpoint[] }[];
  };
  const found = body.clusters.find((c) => c.group === 'default' && c.cluster === cluster);
  return found?.endpoints.find((e) => e.address === `127.0.0.1:${port}`);
}

/** A host's `health_flags` in a proxy's admin /clusters (e.g. `healthy`, `/failed_active_hc`). */
export async function healthFlags(
  proxy: Proxy,
  cluster: string,
  port: number,
): Promise<string | undefined> {
  const text = await (await fetch(`${proxy.adminUrl}/clusters`)).text();
  return new RegExp(`${cluster}::127\\.0\\.0\\.1:${port}::health_flags::(\\S+)`).exec(text)?.[1];
}

/**
 * An HTTP health check of `/healthz` every 200 ms, also while the cluster has no traffic (Envoy's
 * no_traffic_interval defaults to 60 s), 2 results to flip either way: fast enough for tests.
 * `overrides` replaces any of those fields.
 */
export function fastHealthCheck(overrides: Json = {}): Json {
  return {
    timeout: '1s',
    interval: '0.2s',
    no_traffic_interval: '0.2s',
    unhealthy_threshold: 2,
    healthy_threshold: 2,
    http_health_check: { path: '/healthz' },
    ...overrides,
  };
}

/**
 * Route configuration "web": every request to cluster "web", answered with an `x-generation`
 * header naming `generation`, so a test sees which applied config a proxy serves.
 */
export function generationRoutes(generation: number): Json {
  return {
    ...routeConfigResource('web', [
      {
        name: 'web',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/' },
            route: { cluster: 'web' },
            response_headers_to_add: [
              { header: { key: 'x-generation', value: String(generation) } },
            ],
          },
        ],
      },
    ]),
    ignore_port_in_host_matching: true,
  };
}
