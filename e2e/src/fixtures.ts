/**
 * The set-up most proxy tests share, as one fixture: a control plane, backends, a first config
 * applied with ferryctl and published, then ferry-proxy processes connected to it that have
 * ACKed it. `useFleet` starts it in the calling suite's `before` and stops it (every process the
 * harness started, and the backends) in its `after`.
 */
import { after, before } from 'node:test';
import {
  ferryctl,
  freePortRun,
  httpRequest,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  waitForPublished,
  yamlDocs,
  type Backend,
  type CommandResult,
  type ControlPlane,
  type ControlPlaneOptions,
  type HttpResult,
  type Json,
  type Proxy,
  type ProxyStartOptions,
} from './harness.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

/** `ferryctl apply -f -` of `docs` (resources, or YAML text); throws with its stderr unless it exits 0. */
export async function applyConfig(
  cp: ControlPlane,
  docs: readonly Json[] | string,
  flags: readonly string[] = [],
): Promise<CommandResult> {
  const text = typeof docs === 'string' ? docs : yamlDocs(docs);
  const result = await ferryctl(cp.apiUrl, ['apply', '-f', '-', ...flags], text);
  if (result.code !== 0) throw new Error(`ferryctl apply exited ${result.code}: ${result.stderr}`);
  return result;
}

/** One xDS type of a node in GET /v1/status (`ferryctl status -o json`). */
export interface TypeStatusJson {
  readonly type_url: string;
  readonly version_sent: string;
  readonly version_acked: string;
  readonly last_nack?: { readonly error: string };
}

/** One node of GET /v1/status. */
export interface NodeStatusJson {
  readonly node_id: string;
  readonly connected: boolean;
  readonly types: readonly TypeStatusJson[];
}

/** GET /v1/status of `cp` (what `ferryctl status -o json` prints), its nodes. */
export async function fleetStatus(cp: ControlPlane): Promise<readonly NodeStatusJson[]> {
  const res = await httpRequest(`${cp.apiUrl}/v1/status`);
  if (res.status !== 200) throw new Error(`GET /v1/status: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { nodes: NodeStatusJson[] }).nodes;
}

/**
 * Resolves once every one of `nodeIds` is connected to `cp` and has ACKed the version of every
 * type it was sent, listeners included; fails after `timeoutMs` (a liveness bound).
 */
export async function waitForAcked(
  cp: ControlPlane,
  nodeIds: readonly string[],
  timeoutMs = 15000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: readonly NodeStatusJson[] = [];
  for (;;) {
    last = await fleetStatus(cp);
    const acked = nodeIds.every((id) => {
      const node = last.find((n) => n.node_id === id && n.connected);
      return (
        node !== undefined &&
        node.types.some((t) => t.type_url === LDS) &&
        node.types.every((t) => t.version_acked !== '' && t.version_acked === t.version_sent)
      );
    });
    if (acked) return;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${nodeIds.join(', ')} to ACK their config: ${JSON.stringify(last)}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface FleetOptions {
  controlPlane?: ControlPlaneOptions;
  /** HTTP backends started by name (startBackend: they answer `NAME PATH`). */
  backends?: readonly string[];
  /**
   * Node ids of the proxies started once the first config is published: the i-th with
   * `--listener-port-offset i`, so that it listens on `port + i`. Default none (start them with
   * `startProxy`).
   */
  proxies?: readonly string[];
  /** How many consecutive listener ports to reserve from `port` on (default one a proxy, at least 1). */
  ports?: number;
  /** Options of every proxy this fixture starts (the bootstrap is built from its node id). */
  proxy?: Omit<ProxyStartOptions, 'bootstrap'> & { apiType?: 'GRPC' | 'DELTA_GRPC' };
  /** The first config, applied with `ferryctl apply` once the backends are up. */
  config?: (fleet: Fleet) => readonly Json[] | string;
  /** Listeners of `config` whose publication the proxies' start waits for (default `http`). */
  listeners?: readonly string[];
}

/** A control plane, its backends and proxies: see useFleet. Fields are set once it started. */
export class Fleet {
  #cp: ControlPlane | undefined;
  #port = 0;
  #firstApply: CommandResult | undefined;
  readonly #backends = new Map<string, Backend>();
  /** The proxies started so far, in order (`startProxy` adds to them). */
  readonly proxies: Proxy[] = [];

  constructor(readonly options: FleetOptions = {}) {}

  get cp(): ControlPlane {
    if (!this.#cp) throw new Error('the fleet has not started');
    return this.#cp;
  }

  /** The first listener port; proxy i (by --listener-port-offset) listens on port + i. */
  get port(): number {
    return this.#port;
  }

  /** What the apply of the first config printed. */
  get firstApply(): CommandResult | undefined {
    return this.#firstApply;
  }

  backend(name: string): Backend {
    const backend = this.#backends.get(name);
    if (!backend) throw new Error(`no backend "${name}" in this fleet`);
    return backend;
  }

  /** http://127.0.0.1:<port + offset><pathname>: a request through proxy `offset`. */
  url(pathname: string, offset = 0): string {
    return `http://127.0.0.1:${this.#port + offset}${pathname}`;
  }

  /** GET `pathname` through proxy `offset` (one connection a request). */
  get(pathname: string, offset = 0): Promise<HttpResult> {
    return httpRequest(this.url(pathname, offset));
  }

  /** ferryctl apply of `docs` to this fleet's control plane; throws unless it exits 0. */
  apply(docs: readonly Json[] | string, flags: readonly string[] = []): Promise<CommandResult> {
    return applyConfig(this.cp, docs, flags);
  }

  /** The bootstrap of proxy `nodeId` on this control plane (with this fleet's apiType). */
  bootstrap(nodeId: string): Record<string, unknown> {
    return proxyBootstrap({
      nodeId,
      xdsAddress: this.cp.xdsAddress,
      ...(this.options.proxy?.apiType ? { apiType: this.options.proxy.apiType } : {}),
    });
  }

  /**
   * Starts proxy `nodeId` with this fleet's proxy options and `options` over them (`offset`:
   * its --listener-port-offset), adds it to `proxies` and resolves once it is ready.
   */
  async startProxy(
    nodeId: string,
    options: Omit<ProxyStartOptions, 'bootstrap'> & { offset?: number } = {},
  ): Promise<Proxy> {
    const proxy = await startProxy(this.#proxyOptions(nodeId, options));
    this.proxies.push(proxy);
    return proxy;
  }

  #proxyOptions(
    nodeId: string,
    options: Omit<ProxyStartOptions, 'bootstrap'> & { offset?: number },
  ): ProxyStartOptions {
    const { apiType: _apiType, ...shared } = this.options.proxy ?? {};
    const { offset, ...own } = options;
    const args = [
      ...(offset ? ['--listener-port-offset', String(offset)] : []),
      ...(shared.args ?? []),
      ...(own.args ?? []),
    ];
    return { ...shared, ...own, args, bootstrap: this.bootstrap(nodeId) };
  }

  /**
   * Starts everything in order: control plane, backends, first config, proxies, and waits until
   * the proxies have ACKed the first config.
   */
  async start(): Promise<void> {
    const o = this.options;
    // Process start-ups are mostly CPU (loading modules): side by side they use both cores of a
    // test machine that runs one test file at a time.
    const [cp, backends] = await Promise.all([
      startControlPlane(o.controlPlane),
      Promise.all((o.backends ?? []).map((name) => startBackend(name))),
    ]);
    this.#cp = cp;
    for (const backend of backends) this.#backends.set(backend.name, backend);
    this.#port = await freePortRun(Math.max(1, o.ports ?? o.proxies?.length ?? 1));
    if (o.config) {
      this.#firstApply = await this.apply(o.config(this));
      // A proxy started before the apply is published may start from the config before it.
      await waitForPublished(this.cp, LDS, o.listeners ?? ['http']);
    }
    const ids = o.proxies ?? [];
    const started = await Promise.all(
      ids.map((nodeId, offset) => startProxy(this.#proxyOptions(nodeId, { offset }))),
    );
    this.proxies.push(...started);
    if (o.config && ids.length > 0) await waitForAcked(this.cp, ids);
  }

  /** Kills every process the harness started (this fleet's and any other) and closes the backends. */
  async stop(): Promise<void> {
    await stopAll();
    await Promise.all([...this.#backends.values()].map((b) => b.close()));
  }
}

/**
 * A fleet started in the calling suite's `before` and stopped in its `after` (hooks run in the
 * order they are registered: a `before` registered earlier runs first, so it can start what
 * `config` reads).
 */
export function useFleet(options: FleetOptions): Fleet {
  const fleet = new Fleet(options);
  before(() => fleet.start());
  after(() => fleet.stop());
  return fleet;
}
