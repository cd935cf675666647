/**
 * ProxyRuntime: what a worker runs. `apply(config)` compiles a ProxyConfig into route tables,
 * HTTP filter factories, cluster runtimes and listener bindings and swaps them in atomically;
 * requests in flight keep the objects they started with (docs/architecture.md, "Runtime
 * model"). Listener sockets are kept by address, so in a node:cluster
 * worker `listen()` on a shared address is only ever done once per address.
 *
 * Called by the worker process on every `{ type: 'config' }` IPC message; `close` on
 * SIGTERM/drain, `destroy` on a second signal or in tests.
 */
import type { Logger } from '@ferry/shared';
import type {
  HttpConnectionManagerModel,
  ListenerModel,
  ProxyConfig,
  RouteConfigModel,
} from '../config/model.js';
import type { AccessLogEntry } from '../access-log/access-log-record.js';
import { ServerHealthState } from '../filters/http/health_check/health-check-filter.js';
import { httpFilterByTypeUrl } from '../filters/http/registry.js';
import { compileRouteConfig, type RouteTable } from '../router/route-table.js';
import { perFilterConfigsOf } from '../config/route-per-filter-configs.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import type { CodecSettings, ServerConnectionCallbacks } from './codec/codec.js';
import { nodeConnectionInfo, nodeRequestHead, serveNodeRequest } from './codec/codec-node.js';
import {
  ActiveStream,
  type CompiledHcm,
  type RequestGuardStats,
  type RequestScope,
} from './connection-manager.js';
import type { CompiledHttpFilter } from './filter-manager.js';
import { ListenerManager } from './listener-manager.js';
import {
  chainIndexOf,
  type DownstreamRequest,
  type ListenerBinding,
  type ListenerHandlers,
} from './listener-server.js';
import { compileListenerRuntime, type ListenerRuntime } from '../listener/listener-runtime.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import {
  RouteStatusCounters,
  type ConnectionStats,
  type StatLabels,
  type StatsSink,
} from '../stats/stats.js';
import { proxyUpgrade } from './upgrade-proxy.js';
import { TracingManager, type TracingNode } from '../tracing/tracing-manager.js';

export type { AccessLogEntry } from '../access-log/access-log-record.js';

/** Envoy's default per_connection_buffer_limit_bytes (1 MiB). */
const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;

export interface ProxyRuntimeOptions {
  readonly logger: Logger;
  readonly workerId: number;
  /** Defaults to a private MemoryStatsSink. */
  readonly stats?: StatsSink;
  /** Called once per finished request (the access log). */
  readonly accessLog?: (entry: AccessLogEntry) => void;
  /**
   * Whether a config logs requests at all (default: always, when `accessLog` is set). When it
   * does not, no entry is built on the request path (hot paths stay lean).
   */
  readonly logsRequests?: (config: ProxyConfig) => boolean;
  /** How long a removed listener may drain before its connections are closed (default 30 s). */
  readonly listenerDrainMs?: number;
  /** The proxy's node (tracing's service.name default and service.instance.id). */
  readonly node?: TracingNode;
  /** Replaces the default TracingManager (tests: in-memory exporters, injected randomness). */
  readonly tracing?: TracingManager;
}

/** A listener compiled against one config version. */
class CompiledListener implements ListenerBinding {
  readonly model: ListenerModel;
  /**
   * Index-aligned with model.filterChains, the default chain (if any) last; undefined for
   * chains that are not HTTP (tcp_proxy, no filters).
   */
  readonly chains: readonly (CompiledHcm | undefined)[];
  /** The codec callbacks of each chain (index-aligned with chains). */
  readonly streamCallbacks: readonly (ServerConnectionCallbacks | undefined)[];
  readonly scope: RequestScope;
  readonly connectionStats: ConnectionStats;
  readonly runtime: ListenerRuntime;

  constructor(
    model: ListenerModel,
    chains: readonly (CompiledHcm | undefined)[],
    scope: RequestScope,
    connectionStats: ConnectionStats,
    runtime: ListenerRuntime,
    serverHealth: ServerHealthState,
  ) {
    this.model = model;
    this.connectionStats = connectionStats;
    this.chains = chains;
    this.scope = scope;
    this.runtime = runtime;
    this.streamCallbacks = chains.map((chain) =>
      chain === undefined ? undefined : streamCallbacks(chain, scope, serverHealth),
    );
  }

  /** The chain the request's connection was matched to (listener-server.ts). */
  chainIndexFor(req: DownstreamRequest): number | undefined {
    return chainIndexOf(req.socket);
  }
}

export class ProxyRuntime {
  readonly #logger: Logger;
  readonly #stats: StatsSink;
  readonly #accessLog: ((entry: AccessLogEntry) => void) | undefined;
  readonly #logsRequests: ((config: ProxyConfig) => boolean) | undefined;
  readonly #clusters: ClusterManager;
  readonly #tracing: TracingManager;
  readonly #listeners: ListenerManager<CompiledListener>;
  readonly #routeTables = new Map<string, RouteTable>();
  /** Admin /healthcheck/fail state, shared by the health_check filters of every config. */
  readonly #serverHealth = new ServerHealthState();
  /** node.cluster (--node-cluster or the bootstrap's), "" when unknown. */
  readonly #nodeCluster: string;
  /** node.id, "" when unknown. */
  readonly #nodeId: string;
  #applying: Promise<void> = Promise.resolve();
  #config: ProxyConfig | undefined;
  #closing: Promise<void> | undefined;
  #destroyed = false;

  constructor(opts: ProxyRuntimeOptions) {
    this.#logger = opts.logger.child({ worker: opts.workerId });
    this.#stats = opts.stats ?? new MemoryStatsSink();
    this.#accessLog = opts.accessLog;
    this.#logsRequests = opts.logsRequests;
    this.#nodeCluster = opts.node?.cluster ?? '';
    this.#nodeId = opts.node?.id ?? '';
    this.#clusters = new ClusterManager(this.#stats, this.#logger);
    this.#tracing =
      opts.tracing ??
      new TracingManager({
        node: opts.node ?? { id: '', cluster: '' },
        stats: this.#stats,
        logger: this.#logger,
      });
    const handlers: ListenerHandlers<CompiledListener> = {
      request: (binding, req, res) => {
        const index = binding.chainIndexFor(req);
        const callbacks = index === undefined ? undefined : binding.streamCallbacks[index];
        if (callbacks === undefined) {
          res.destroy();
          return;
        }
        // Envoy drain-closes HTTP/1 connections while failing health checks (DrainManager
        // drainClose()): each response carries `connection: close`, so a load balancer in front
        // moves its connections elsewhere.
        if (this.#serverHealth.failing && req.httpVersionMajor === 1)
          (res as { shouldKeepAlive: boolean }).shouldKeepAlive = false;
        serveNodeRequest(req, res, callbacks);
      },
      upgrade: (binding, req, socket, rest) => {
        const index = binding.chainIndexFor(req);
        const chain = index === undefined ? undefined : binding.chains[index];
        if (chain === undefined) {
          socket.destroy();
          return;
        }
        const connection = nodeConnectionInfo(req);
        const head = nodeRequestHead(req, connection);
        proxyUpgrade(
          chain,
          binding.scope,
          head,
          req.headers.upgrade ?? '',
          connection,
          socket,
          rest,
        );
      },
      protocolError: (binding, status) => {
        const chain = binding.chains.find((c) => c !== undefined);
        chain?.downstreamRq.record(status);
      },
      // A chain index the current config no longer has HTTP at (its connections are being
      // drained) is served by the listener's first HTTP chain.
      streamCallbacks: (binding, index) =>
        binding.streamCallbacks[index] ?? binding.streamCallbacks.find((c) => c !== undefined),
    };
    this.#listeners = new ListenerManager(handlers, this.#logger, opts.listenerDrainMs);
  }

  /** The config last applied (undefined before the first apply). */
  get config(): ProxyConfig | undefined {
    return this.#config;
  }

  /**
   * Makes `config` the served config. Applies are serialised; each one is atomic for requests
   * (they see the old or the new version, never a mix). Rejects when a listener address cannot
   * be bound; everything else of the config is in effect by then.
   */
  apply(config: ProxyConfig): Promise<void> {
    const run = this.#applying.then(() => this.#apply(config));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  async #apply(config: ProxyConfig): Promise<void> {
    if (this.#destroyed || this.#closing !== undefined) return;
    const clusters = await this.#clusters.apply(config.clusters);
    const tracers = await this.#tracing.apply(config, clusters);
    const logs = this.#logsRequests?.(config) ?? true;
    const scope: RequestScope = { clusters, accessLog: logs ? this.#accessLog : undefined };
    const usedTables = new Set<string>();
    const bindings = config.listeners.map((listener) => {
      const chains = [...listener.filterChains];
      if (listener.defaultFilterChain !== undefined) chains.push(listener.defaultFilterChain);
      const compiled = chains.map((chain): CompiledHcm | undefined => {
        const hcm = chain.http;
        if (hcm === undefined) return undefined;
        const routeModel =
          hcm.routeConfig ??
          (hcm.rdsRouteConfigName !== undefined
            ? config.routeConfigs[hcm.rdsRouteConfigName]
            : undefined);
        const labels = { listener: listener.name, stat_prefix: hcm.statPrefix };
        const listenerLabels = { listener: listener.name };
        const tracer = tracers.tracerFor(hcm);
        const filters = this.#httpFilters(hcm, listener.name, routeModel);
        return {
          listenerName: listener.name,
          hcm,
          routeTable:
            routeModel === undefined ? undefined : this.#routeTable(routeModel, usedTables),
          filters,
          keepClientHeaders: filters.some((f) => f.factory.inspectsClientHeaders === true),
          downstreamRq: new RouteStatusCounters(this.#stats, 'downstream_rq', labels),
          downstreamRqTime: this.#stats.histogram('downstream_rq_time', labels),
          downstreamRqActive: this.#stats.gauge('downstream_rq_active', listenerLabels),
          bufferLimitBytes: listener.perConnectionBufferLimitBytes || DEFAULT_BUFFER_LIMIT_BYTES,
          guardStats: this.#guardStats(labels),
          downstreamFlowControl: {
            pausedReading: this.#stats.counter(
              'downstream_flow_control_paused_reading_total',
              labels,
            ),
            resumedReading: this.#stats.counter(
              'downstream_flow_control_resumed_reading_total',
              labels,
            ),
          },
          ...(tracer !== undefined ? { tracer } : {}),
        };
      });
      const connectionLabels = { listener: listener.name };
      const runtime = compileListenerRuntime(listener, {
        stats: this.#stats,
        logger: this.#logger,
        listenerName: listener.name,
        clusters,
        accessLog: scope.accessLog,
      });
      return new CompiledListener(
        listener,
        compiled,
        scope,
        {
          active: this.#stats.gauge('downstream_cx_active', connectionLabels),
          total: this.#stats.counter('downstream_cx_total', connectionLabels),
        },
        runtime,
        this.#serverHealth,
      );
    });
    for (const key of this.#routeTables.keys())
      if (!usedTables.has(key)) this.#routeTables.delete(key);
    this.#config = config;
    await this.#listeners.apply(bindings);
  }

  /** The request hardening counters of one HCM (Envoy's names; the codec as a label). */
  #guardStats(labels: StatLabels): RequestGuardStats {
    const stats = this.#stats;
    const http1 = { ...labels, codec: 'http1' };
    const http2 = { ...labels, codec: 'http2' };
    return {
      failedPathNormalization: stats.counter('downstream_rq_failed_path_normalization', labels),
      redirectedWithNormalizedPath: stats.counter(
        'downstream_rq_redirected_with_normalized_path',
        labels,
      ),
      rejectedWithUnderscores: {
        http1: stats.counter('requests_rejected_with_underscores_in_headers', http1),
        http2: stats.counter('requests_rejected_with_underscores_in_headers', http2),
      },
      droppedWithUnderscores: {
        http1: stats.counter('dropped_headers_with_underscores', http1),
        http2: stats.counter('dropped_headers_with_underscores', http2),
      },
      tooManyPrematureResets: stats.counter('downstream_rq_too_many_premature_resets', labels),
    };
  }

  /** The HCM's HTTP filters, each factory built once per config version. */
  #httpFilters(
    hcm: HttpConnectionManagerModel,
    listenerName: string,
    routeModel: RouteConfigModel | undefined,
  ): CompiledHttpFilter[] {
    const context = {
      stats: this.#stats,
      logger: this.#logger,
      statPrefix: hcm.statPrefix,
      listenerName,
      serverHealth: this.#serverHealth,
      localServiceCluster: this.#nodeCluster,
      localNodeId: this.#nodeId,
    };
    return hcm.httpFilters.map((filter) => {
      const factory = httpFilterByTypeUrl(filter.typeUrl);
      // Translation only lets registered filters through; a miss is a bug, not a config error.
      if (factory === undefined) throw new Error(`HTTP filter ${filter.typeUrl} is not registered`);
      const streamFactory = factory.createFilterFactory(filter.config, context);
      if (streamFactory.prepareRoute !== undefined && routeModel !== undefined)
        for (const entry of perFilterConfigsOf(routeModel, filter.name))
          streamFactory.prepareRoute(entry.config);
      return {
        name: filter.name,
        factory: streamFactory,
        disabledByDefault: filter.disabled === true,
      };
    });
  }

  /**
   * Admin POST /healthcheck/fail (true) and /healthcheck/ok (false), relayed by the primary:
   * health_check filters answer 503 and HTTP/1 responses close their connections while set.
   */
  setHealthCheckFailing(failing: boolean): void {
    this.#serverHealth.failing = failing;
  }

  /** Compiled tables are reused across applies while their model is unchanged. */
  #routeTable(model: RouteConfigModel, used: Set<string>): RouteTable | undefined {
    const key = JSON.stringify(model);
    used.add(key);
    let table = this.#routeTables.get(key);
    if (table === undefined) {
      try {
        table = compileRouteConfig(model);
      } catch (err) {
        // Translation validates route configs; this only guards the worker against a bug there.
        this.#logger.error(
          { err, routeConfig: model.name },
          'route configuration does not compile',
        );
        return undefined;
      }
      this.#routeTables.set(key, table);
    }
    return table;
  }

  /** Bound port of a listener by name (resolves port 0), or undefined. */
  listenerPort(name: string): number | undefined {
    return this.#listeners.byName(name)?.port;
  }

  /** Admin /drain_listeners: stop accepting everywhere and drain connections gracefully. */
  async drainListeners(deadlineMs = 600_000): Promise<void> {
    await this.#listeners.close(deadlineMs);
  }

  /** Stops accepting, lets in-flight requests finish until `deadlineMs`, then destroys. */
  close(deadlineMs: number): Promise<void> {
    this.#closing ??= (async () => {
      await this.#applying;
      await this.#listeners.close(deadlineMs);
      this.#clusters.close();
      // In-flight requests have ended: export their spans before the worker exits.
      await this.#tracing.close().catch(() => undefined);
      this.destroy();
    })();
    return this.#closing;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#listeners.destroy();
    this.#clusters.destroy();
    this.#tracing.destroy();
  }
}

/**
 * The connection manager's codec callbacks for one compiled HCM: each request the codec delivers
 * becomes an ActiveStream of that HCM and the scope of its config version.
 */
function streamCallbacks(
  chain: CompiledHcm,
  scope: RequestScope,
  serverHealth: ServerHealthState,
): ServerConnectionCallbacks {
  const hcm = chain.hcm;
  const settings: CodecSettings = {
    maxRequestHeadersBytes: Math.max(1, hcm.maxRequestHeadersKb || 60) * 1024,
    maxHeadersCount: hcm.maxHeadersCount,
    requestHeadersTimeoutMs: hcm.requestHeadersTimeoutMs,
    idleTimeoutMs: hcm.idleTimeoutMs,
    bufferLimitBytes: chain.bufferLimitBytes,
    acceptHttp10: hcm.acceptHttp10,
  };
  return {
    settings: () => settings,
    newStream(head, encoder, connection, endStream) {
      // Envoy drain-closes HTTP/1 connections while failing health checks (DrainManager
      // drainClose()): a load balancer in front moves its connections elsewhere.
      if (serverHealth.failing && head.protocol !== 'HTTP/2')
        encoder.closeConnectionAfterResponse();
      const stream = new ActiveStream(chain, scope, head, encoder, connection);
      stream.start(endStream);
      return stream;
    },
    protocolError(status) {
      chain.downstreamRq.record(status);
    },
    prematureResetClose() {
      chain.guardStats.tooManyPrematureResets.inc();
    },
    upgrade(head, socket, rest, connection) {
      if (head.method === 'CONNECT') {
        // Envoy's answer when no route has a connect_matcher (ferry-proxy has none).
        chain.downstreamRq.record(404);
        socket.on('error', () => undefined);
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return;
      }
      const upgrade = head.get('upgrade') ?? '';
      head.remove('connection');
      head.remove('upgrade');
      proxyUpgrade(chain, scope, head, upgrade, connection, socket, rest);
    },
  };
}
