/**
 * Test helpers for the xDS server: fixture builders that produce canonical resources, a server
 * harness on 127.0.0.1 over a MemoryStore, and xDS clients (SotW and delta, ADS or per-type)
 * that queue responses and fail with a clear message when one does not arrive in time.
 *
 * "Nothing was sent" is checked without timing: `barrier()` sends a request the server must
 * answer; responses come back in request order on a stream, so any response caused by an earlier
 * request would arrive first.
 */
import { credentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  parseResourceBinary,
  parseResourceJson,
  resourceTypeByKind,
  type ParsedResource,
} from '@ferry/proto';
import {
  GrpcClient,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type NodeMessage,
} from '@ferry/proto/grpc';
import { createLogger } from '@ferry/shared';
import { MemoryStore } from '../store/store-memory.js';
import type { Mutation } from '../store/store.js';
import { FleetTracker } from './fleet.js';
import { SnapshotCache } from './snapshot-cache.js';
import { XdsServer } from './xds-server.js';
import type { XdsStreamLimits } from './stream-context.js';
import type { XdsServerKeepalive } from './server-keepalive.js';

/**
 * Resolves once `condition()` holds, checking every 10 ms; fails naming `what` after `timeoutMs`
 * (a liveness bound, not a timing assertion: a condition that never holds fails the test
 * instead of hanging the suite).
 */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `promise`, or a failure naming `what` once `timeoutMs` passed (a liveness bound). */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${what} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export const LDS = resourceTypeByKind('Listener').typeUrl;
export const RDS = resourceTypeByKind('RouteConfiguration').typeUrl;
export const CDS = resourceTypeByKind('Cluster').typeUrl;
export const EDS = resourceTypeByKind('ClusterLoadAssignment').typeUrl;
export const SDS = resourceTypeByKind('Secret').typeUrl;

function parsed(doc: Record<string, unknown>): ParsedResource {
  const result = parseResourceJson(doc);
  if (!result.ok) throw new Error(`fixture does not parse: ${result.errors.join('; ')}`);
  return result.value;
}

export function cluster(
  name: string,
  opts: { connectTimeoutSeconds?: number } = {},
): ParsedResource {
  return parsed({
    '@type': CDS,
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    connect_timeout: `${opts.connectTimeoutSeconds ?? 1}s`,
  });
}

export function endpoints(clusterName: string, ports: readonly number[] = [8080]): ParsedResource {
  return parsed({
    '@type': EDS,
    cluster_name: clusterName,
    endpoints: [
      {
        // gRPC's xDS client needs a locality with a weight.
        locality: { region: 'local' },
        load_balancing_weight: 1,
        lb_endpoints: ports.map((port) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
        })),
      },
    ],
  });
}

export function route(name: string, clusterName: string): ParsedResource {
  return parsed({
    '@type': RDS,
    name,
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }],
      },
    ],
  });
}

export function listener(name: string, routeName: string, port = 10000): ParsedResource {
  return parsed({
    '@type': LDS,
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              rds: { route_config_name: routeName, config_source: { ads: {} } },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  });
}

export function secret(name: string, value = 'secret'): ParsedResource {
  return parsed({ '@type': SDS, name, generic_secret: { secret: { inline_string: value } } });
}

export function put(group: string, ...resources: ParsedResource[]): Mutation[] {
  return resources.map((r) => ({
    op: 'put',
    typeUrl: r.type.typeUrl,
    group,
    name: r.name,
    value: r.bytes,
    version: r.version,
  }));
}

export function del(group: string, typeUrl: string, ...names: string[]): Mutation[] {
  return names.map((name) => ({ op: 'delete', typeUrl, group, name }));
}

/** Names of the resources in a SotW response (decoded from the Any bytes). */
export function namesOf(response: DiscoveryResponse): string[] {
  return (response.resources ?? [])
    .map((r) => {
      const p = parseResourceBinary(r.type_url, r.value);
      if (!p.ok) throw new Error(p.errors.join('; '));
      return p.value.name;
    })
    .sort();
}

export interface Harness {
  readonly store: MemoryStore;
  readonly cache: SnapshotCache;
  readonly fleet: FleetTracker;
  readonly server: XdsServer;
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
}

/** A server on 127.0.0.1:<random> over a MemoryStore, debounce 0 (pushes are synchronous). */
export async function startHarness(
  opts: {
    store?: MemoryStore;
    limits?: Partial<XdsStreamLimits>;
    keepalive?: XdsServerKeepalive;
  } = {},
): Promise<Harness> {
  const store = opts.store ?? new MemoryStore();
  const logger = createLogger('xds-test', 'silent');
  const cache = new SnapshotCache({ store, logger, debounceMs: 0 });
  const fleet = new FleetTracker();
  const server = new XdsServer({
    cache,
    logger,
    fleet,
    controlPlaneId: 'test',
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.keepalive ? { keepalive: opts.keepalive } : {}),
  });
  const port = await server.listen('127.0.0.1', 0);
  return {
    store,
    cache,
    fleet,
    server,
    port,
    address: `127.0.0.1:${port}`,
    close: async () => {
      server.destroy();
      cache.close();
      await store.close();
    },
  };
}

/** Reads messages of one stream in order; `next()` waits for the next one or times out. */
class ResponseQueue<Message> {
  private readonly queued: Message[] = [];
  private readonly waiters: Array<{
    resolve: (m: Message) => void;
    reject: (e: Error) => void;
  }> = [];
  private ended: Error | undefined;

  push(message: Message): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(message);
    else this.queued.push(message);
  }

  end(err: Error): void {
    this.ended ??= err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  get isEnded(): boolean {
    return this.ended !== undefined;
  }

  next(timeoutMs: number, what: string): Promise<Message> {
    const queued = this.queued.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (m: Message) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

abstract class TestClient<Request, Response> {
  protected readonly client: GrpcClient;
  protected readonly call: ClientDuplexStream<Request, Response>;
  protected readonly queue = new ResponseQueue<Response>();
  protected barriers = 0;
  /** The error status the stream ends with (pending while it has not failed). */
  readonly failure: Promise<ServiceError>;

  constructor(address: string, service: string, method: string) {
    this.client = new GrpcClient(service, address, credentials.createInsecure());
    this.call = this.client.stream<Request, Response>(method);
    this.call.on('data', (m: Response) => this.queue.push(m));
    this.failure = new Promise((resolve) => this.call.on('error', resolve));
    this.call.on('error', (err: Error) => this.queue.end(err));
    this.call.on('end', () => this.queue.end(new Error('stream ended by the server')));
  }

  send(request: Request): void {
    this.call.write(request);
  }

  next(timeoutMs = 3000): Promise<Response> {
    return this.queue.next(timeoutMs, 'response');
  }

  /**
   * Resolves when the server ended the stream (or it failed); fails when it does not within
   * `timeoutMs`, whether responses keep coming or not.
   */
  async ended(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`the stream did not end within ${timeoutMs} ms`);
      try {
        await this.queue.next(timeoutMs, 'end of stream');
      } catch (err) {
        if (this.queue.isEnded) return;
        throw err;
      }
    }
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** A state-of-the-world client (ADS by default). Tracks the latest nonce per type. */
export class SotwClient extends TestClient<DiscoveryRequest, DiscoveryResponse> {
  readonly nonces = new Map<string, string>();
  readonly versions = new Map<string, string>();
  private barrierNames: string[] = [];

  constructor(address: string, service = ADS, method = 'StreamAggregatedResources') {
    super(address, service, method);
  }

  override async next(timeoutMs = 3000): Promise<DiscoveryResponse> {
    const m = await super.next(timeoutMs);
    this.nonces.set(m.type_url ?? '', m.nonce ?? '');
    return m;
  }

  /** Next response, asserting its type. */
  async expect(typeUrl: string, timeoutMs = 3000): Promise<DiscoveryResponse> {
    const m = await this.next(timeoutMs);
    if (m.type_url !== typeUrl)
      throw new Error(
        `expected a ${typeUrl} response, got ${m.type_url} (${namesOf(m).join(', ')})`,
      );
    return m;
  }

  /** Sends a request; `nonce: true` fills in the latest nonce and version of that type. */
  request(typeUrl: string, names: readonly string[], extra: DiscoveryRequest = {}): void {
    this.send({
      type_url: typeUrl,
      resource_names: names,
      response_nonce: this.nonces.get(typeUrl) ?? '',
      ...extra,
    });
  }

  ack(response: DiscoveryResponse, names: readonly string[]): void {
    this.send({
      type_url: response.type_url,
      resource_names: names,
      version_info: response.version_info,
      response_nonce: response.nonce,
    });
  }

  nack(
    response: DiscoveryResponse,
    names: readonly string[],
    message: string,
    lastGoodVersion = '',
  ): void {
    this.send({
      type_url: response.type_url,
      resource_names: names,
      version_info: lastGoodVersion,
      response_nonce: response.nonce,
      error_detail: { code: 3, message },
    });
  }

  /**
   * Proves that nothing else is queued: subscribes to one more SDS name (which the server must
   * answer) and asserts that this answer is the next response. Do not use in SDS tests.
   */
  async barrier(): Promise<void> {
    this.barrierNames = [...this.barrierNames, `barrier-${++this.barriers}`];
    this.request(SDS, this.barrierNames);
    const m = await this.next();
    if (m.type_url !== SDS)
      throw new Error(
        `expected only the barrier response, got ${m.type_url} (${namesOf(m).join(', ')})`,
      );
  }
}

/** A delta client (ADS by default). */
export class DeltaClient extends TestClient<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  readonly nonces = new Map<string, string>();

  constructor(address: string, service = ADS, method = 'DeltaAggregatedResources') {
    super(address, service, method);
  }

  override async next(timeoutMs = 3000): Promise<DeltaDiscoveryResponse> {
    const m = await super.next(timeoutMs);
    this.nonces.set(m.type_url ?? '', m.nonce ?? '');
    return m;
  }

  async expect(typeUrl: string, timeoutMs = 3000): Promise<DeltaDiscoveryResponse> {
    const m = await this.next(timeoutMs);
    if (m.type_url !== typeUrl)
      throw new Error(`expected a ${typeUrl} delta response, got ${m.type_url}`);
    return m;
  }

  request(typeUrl: string, fields: DeltaDiscoveryRequest = {}): void {
    this.send({ type_url: typeUrl, ...fields });
  }

  ack(response: DeltaDiscoveryResponse): void {
    this.send({ type_url: response.type_url, response_nonce: response.nonce });
  }

  nack(response: DeltaDiscoveryResponse, message: string): void {
    this.send({
      type_url: response.type_url,
      response_nonce: response.nonce,
      error_detail: { code: 3, message },
    });
  }

  /** Like SotwClient.barrier: a new SDS subscription is always answered. */
  async barrier(): Promise<void> {
    this.request(SDS, { resource_names_subscribe: [`barrier-${++this.barriers}`] });
    const m = await this.next();
    if (m.type_url !== SDS)
      throw new Error(`expected only the barrier response, got ${m.type_url}`);
  }
}

/** Resource names in a delta response, sorted. */
export function deltaNames(response: DeltaDiscoveryResponse): string[] {
  return (response.resources ?? []).map((r) => r.name ?? '').sort();
}

/** A node object for the first request. */
export function node(id: string, cluster = ''): NodeMessage {
  return { id, cluster, user_agent_name: 'ferry-test', user_agent_version: '1.0' };
}
