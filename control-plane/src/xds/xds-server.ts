/**
 * The xDS gRPC server (docs/architecture.md, "The wire is Envoy's xDS v3"): ADS (state of the world
 * and delta), the per-type services (LDS, RDS, CDS, EDS, SDS; Stream*, Delta* and a one-shot
 * Fetch*) and CSDS, all fed by one SnapshotCache, plus HDS (../health/hds-server.ts), which
 * receives proxies' health reports, and LRS (../load/lrs-server.ts), which receives their load
 * reports, and, when given, the RateLimitService (../ratelimit/rls-service.ts). Plaintext by default, for loopback; with `tls` it serves TLS (tls-listener.ts), and
 * with a client CA it requires client certificates and admits each call by the identity of its
 * certificate (admission.ts, access-policy.ts; docs/architecture.md, "Who may connect").
 *
 * Lifecycle: listen() waits for the cache to load the store before binding, so no proxy is ever
 * answered from an empty cache. close() ends every stream (clients reconnect, possibly to another
 * replica) and then shuts the server down; destroy() cancels everything now. Both idempotent.
 * The cache is not closed here: whoever created it owns it.
 */
import type { Tracer } from '@opentelemetry/api';
import os from 'node:os';
import { status, type ServiceDefinition } from '@grpc/grpc-js';
import {
  serviceDefinition,
  type ClientStatusRequest,
  type DiscoveryRequest,
} from '@ferry/proto/grpc';
import { servedResourceTypeByUrl, XDS_RESOURCE_TYPES } from '@ferry/proto';
import type { Logger } from '@ferry/shared';
import { GrpcLiteServer } from '../grpc-lite/server.js';
import type {
  LiteServerCall,
  LiteServiceImplementation,
  LiteUnaryCallback,
} from '../grpc-lite/server-call.js';
import { xdsMetrics, type XdsMetrics } from '../metrics/xds-metrics.js';
import { HealthAggregate, type HealthStatusSource } from '../health/health-aggregate.js';
import type { HdsClusterWork } from '../health/hds-assignment.js';
import { HDS_SERVICE, HdsService } from '../health/hds-server.js';
import { healthMetrics } from '../health/health-metrics.js';
import { LoadAggregate, type LoadSource } from '../load/load-aggregate.js';
import { LRS_SERVICE, LrsService } from '../load/lrs-server.js';
import { RLS_SERVICE, type RlsService } from '../ratelimit/rls-service.js';
import { clientStatus } from './csds.js';
import { FleetTracker, groupOf } from './fleet.js';
import type { FleetStatusSource } from './fleet-status.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { encodeControlPlane } from './response-encoder.js';
import { discoveryRequestDeserializer } from './request-decoder.js';
import {
  DEFAULT_XDS_STREAM_LIMITS,
  nodeIdentity,
  tooManyNames,
  type StreamContext,
  type XdsStreamLimits,
} from './stream-context.js';
import type { ResourceStore } from '../store/store.js';
import { xdsAccessRefusals } from '../metrics/xds-access-metrics.js';
import { AccessPolicy } from './access-policy.js';
import { AccessPolicyStore } from './access-policy-store.js';
import { Admission } from './admission.js';
import { XdsTlsListener, type XdsTlsFiles } from './tls-listener.js';
import { DEFAULT_XDS_SERVER_KEEPALIVE, type XdsServerKeepalive } from './server-keepalive.js';
import { DeltaStream } from './stream-delta.js';
import { PushTracker } from './push-tracker.js';
import { selectSotw, SotwStream, updateSotwNames, type SotwSubscription } from './stream-sotw.js';

export interface XdsServerOptions {
  readonly cache: SnapshotCache;
  readonly logger: Logger;
  /** Shared with the management API when given; otherwise the server makes its own. */
  readonly fleet?: FleetTracker;
  /** `control_plane.identifier` in every response (default "ferry/<hostname>/<pid>"). */
  readonly controlPlaneId?: string;
  /** PINGs to every connection, to release vanished proxies (default DEFAULT_XDS_SERVER_KEEPALIVE). */
  readonly keepalive?: XdsServerKeepalive;
  /** Where counters go (default: the process registry that `GET /metrics` serves). */
  readonly metrics?: XdsMetrics;
  /** Where HDS reports go (shared with the management API); otherwise the server makes its own. */
  readonly health?: HealthAggregate;
  /** Report interval asked of proxies over HDS (default 5 s). */
  readonly hdsIntervalMs?: number;
  /** The group's clusters whose health checks HDS hands out (../health/health-overlay.ts). */
  readonly hdsWork?: (group: string) => HdsClusterWork[];
  /** Where LRS reports go (shared with the management API); otherwise the server makes its own. */
  readonly load?: LoadAggregate;
  /** load_reporting_interval asked of proxies over LRS (default 10 s). */
  readonly lrsIntervalMs?: number;
  /** Traces pushes (`xds.push`, ended by ACK/NACK) when set (tracing on). */
  readonly tracer?: Tracer;
  /** Serve TLS with these files; with `clientCaFile`, require and check client certificates. */
  readonly tls?: XdsTlsFiles;
  /** Who may join which group when client certificates are required (default: stored policies only). */
  readonly accessPolicy?: AccessPolicy;
  /** Where XdsAccessPolicy resources are read from (the store the cache follows). */
  readonly policyStore?: ResourceStore;
  /** Envoy's RateLimitService, served on this server when given (../ratelimit/rls-service.ts). */
  readonly rateLimit?: RlsService;
  /** Per-stream limits against misbehaving clients (default DEFAULT_XDS_STREAM_LIMITS). */
  readonly limits?: Partial<XdsStreamLimits>;
}

/** How the xDS port is protected: plaintext, TLS, or TLS with client certificates checked. */
export type XdsTransportSecurity = 'plaintext' | 'tls' | 'mtls';

/** Per-type services: gRPC service name and the stem of its Stream, Delta and Fetch method names. */
const TYPE_SERVICES: ReadonlyArray<{ service: string; stem: string; short: string }> = [
  {
    service: 'envoy.service.listener.v3.ListenerDiscoveryService',
    stem: 'Listeners',
    short: 'LDS',
  },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', stem: 'Routes', short: 'RDS' },
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', stem: 'Clusters', short: 'CDS' },
  {
    service: 'envoy.service.endpoint.v3.EndpointDiscoveryService',
    stem: 'Endpoints',
    short: 'EDS',
  },
  { service: 'envoy.service.secret.v3.SecretDiscoveryService', stem: 'Secrets', short: 'SDS' },
];

/** Unknown type URLs are logged once each, up to this many distinct ones. */
const MAX_LOGGED_UNKNOWN_TYPES = 64;

type Stream = SotwStream | DeltaStream;

export class XdsServer {
  private readonly server: GrpcLiteServer;
  private readonly cache: SnapshotCache;
  private readonly logger: Logger;
  private readonly fleetTracker: FleetTracker;
  private readonly context: StreamContext;
  private readonly metrics: XdsMetrics;
  private readonly streams = new Set<Stream>();
  private readonly statusCalls = new Set<LiteServerCall>();
  private readonly loggedUnknownTypes = new Set<string>();
  private readonly healthAggregate: HealthAggregate;
  private readonly hds: HdsService;
  private readonly loadAggregate: LoadAggregate;
  private readonly lrs: LrsService;
  private readonly tls: XdsTlsListener | undefined;
  private readonly admission: Admission | undefined;
  private readonly policies: AccessPolicyStore | undefined;
  private readonly rateLimit: RlsService | undefined;
  private closing: Promise<void> | undefined;
  private destroyed = false;

  constructor(options: XdsServerOptions) {
    this.cache = options.cache;
    this.logger = options.logger;
    this.rateLimit = options.rateLimit;
    this.fleetTracker = options.fleet ?? new FleetTracker();
    this.metrics = options.metrics ?? xdsMetrics();
    const health = healthMetrics();
    this.healthAggregate =
      options.health ??
      new HealthAggregate({ onTransition: (status) => health.transitions(status).inc() });
    this.hds = new HdsService({
      aggregate: this.healthAggregate,
      logger: this.logger,
      metrics: health,
      ...(options.hdsIntervalMs !== undefined ? { intervalMs: options.hdsIntervalMs } : {}),
      ...(options.hdsWork ? { work: options.hdsWork } : {}),
    });
    this.loadAggregate = options.load ?? new LoadAggregate();
    this.lrs = new LrsService({
      aggregate: this.loadAggregate,
      logger: this.logger,
      ...(options.lrsIntervalMs !== undefined ? { intervalMs: options.lrsIntervalMs } : {}),
    });
    const controlPlaneId = options.controlPlaneId ?? `ferry/${os.hostname()}/${process.pid}`;
    this.context = {
      cache: this.cache,
      fleet: this.fleetTracker,
      logger: this.logger,
      controlPlaneId,
      encodedControlPlane: {
        sotw: encodeControlPlane(6, controlPlaneId),
        delta: encodeControlPlane(7, controlPlaneId),
      },
      metrics: this.metrics,
      limits: { ...DEFAULT_XDS_STREAM_LIMITS, ...options.limits },
      pushes: new PushTracker(this.metrics, options.tracer),
      unknownType: (typeUrl, nodeId) => {
        if (
          this.loggedUnknownTypes.has(typeUrl) ||
          this.loggedUnknownTypes.size >= MAX_LOGGED_UNKNOWN_TYPES
        )
          return;
        this.loggedUnknownTypes.add(typeUrl);
        this.logger.warn(
          { typeUrl, node: nodeId },
          'request for a type URL this server does not serve: not answered',
        );
      },
    };
    if (options.tls?.clientCaFile !== undefined) {
      const policy = options.accessPolicy ?? new AccessPolicy();
      const refusals = xdsAccessRefusals();
      const admission = new Admission({ policy, logger: this.logger, refused: refusals });
      this.admission = admission;
      this.policies = options.policyStore
        ? new AccessPolicyStore(options.policyStore, policy, this.logger, (groups) =>
            admission.recheck(groups),
          )
        : undefined;
    }
    if (options.tls) {
      const admission = this.admission;
      this.tls = new XdsTlsListener(options.tls, (peer, error) => {
        if (admission) admission.handshakeRefused(peer, error);
        else this.logger.warn({ peer, error: error.message }, 'xDS TLS handshake failed');
      });
    }
    // grpc-lite, not grpc-js: memory per connected proxy (docs/architecture.md, "The xDS port's
    // gRPC server").
    this.server = new GrpcLiteServer({
      ...(this.admission ? { gate: this.admission } : {}),
      // Detect proxies that vanished without closing their connection; proxies' own PINGs are
      // answered at any rate (server-keepalive.ts).
      keepalive: options.keepalive ?? DEFAULT_XDS_SERVER_KEEPALIVE,
      // node:http2 refuses new streams on a session holding more than 10 MB by default, which a
      // proxy's ADS push in flight can reach, and its LRS, HDS and rate limit calls would then be
      // refused. What a stream may hold is bounded by --xds-max-pending-bytes (stream-base.ts).
      http2: { maxSessionMemory: Number.MAX_SAFE_INTEGER },
      onError: (error) =>
        this.logger.error(
          { err: error },
          'xDS server: accepting a connection failed; it keeps serving. Out of file descriptors? Raise `ulimit -n` (one per connected proxy)',
        ),
    });
    this.addServices();
  }

  /** Loads the cache, binds host:port (0 = any free port) and resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    await Promise.all([this.cache.start(), this.policies?.start()]);
    let bound: number;
    if (this.tls) {
      // TLS is terminated by the listener; gRPC runs over the verified socket.
      bound = await this.tls.listen(host, port, this.server);
    } else {
      bound = await this.server.listen(port, host);
    }
    this.logger.info(
      { address: host, port: bound, transport: this.transportSecurity },
      'xDS server listening',
    );
    return bound;
  }

  get transportSecurity(): XdsTransportSecurity {
    if (!this.tls) return 'plaintext';
    return this.admission ? 'mtls' : 'tls';
  }

  /**
   * Re-reads the TLS files (SIGHUP): new connections use them, established ones keep theirs.
   * Throws, keeping the current ones, when a file cannot be read or parsed. No-op in plaintext.
   */
  async reloadTls(): Promise<void> {
    await this.tls?.reload();
  }

  /** The fleet as the management API shows it. */
  fleet(): FleetStatusSource {
    return this.fleetTracker;
  }

  /** The fleet's health view from HDS reports, as the management API shows it. */
  /** Re-sends HDS specifiers to the group's proxies whose handed-out work changed. */
  reassignHealthChecks(group: string): void {
    this.hds.reassign(group);
  }

  health(): HealthStatusSource {
    return this.healthAggregate;
  }

  /** The fleet's load from LRS reports, as the management API shows it. */
  load(): LoadSource {
    return this.loadAggregate;
  }

  /** Ends every stream, then stops accepting calls and waits for in-flight ones. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const stream of [...this.streams]) stream.close();
      for (const call of [...this.statusCalls]) call.end();
      this.statusCalls.clear();
      this.hds.close();
      this.lrs.close();
      this.policies?.close();
      this.tls?.close();
      void this.server.close().then(resolve);
    });
    return this.closing;
  }

  /** Cancels every call and closes every connection now. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const stream of [...this.streams]) stream.destroy();
    this.metrics.connectedStreams.inc(-this.streams.size);
    this.streams.clear();
    this.statusCalls.clear();
    this.policies?.close();
    this.tls?.destroy();
    this.server.forceClose();
  }

  private addServices(): void {
    const forget = (stream: Stream): void => {
      if (this.streams.delete(stream)) this.metrics.connectedStreams.inc(-1);
    };
    const track = (stream: Stream): void => {
      this.streams.add(stream);
      this.metrics.connectedStreams.inc(1);
    };
    const sotw =
      (kind: string, typeUrl: string | undefined) =>
      (call: LiteServerCall): void => {
        track(new SotwStream(call, this.context, kind, typeUrl, forget));
      };
    const delta =
      (kind: string, typeUrl: string | undefined) =>
      (call: LiteServerCall): void => {
        track(new DeltaStream(call, this.context, kind, typeUrl, forget));
      };

    this.server.addService(
      xdsServiceDefinition('envoy.service.discovery.v3.AggregatedDiscoveryService'),
      {
        StreamAggregatedResources: sotw('ads-sotw', undefined),
        DeltaAggregatedResources: delta('ads-delta', undefined),
      },
    );
    for (const { service, stem, short } of TYPE_SERVICES) {
      const type = XDS_RESOURCE_TYPES.find((t) => t.short === short);
      if (!type) throw new Error(`xds: no resource type ${short}`);
      const kind = short.toLowerCase();
      const implementation: LiteServiceImplementation = {
        [`Stream${stem}`]: sotw(kind, type.typeUrl),
        [`Delta${stem}`]: delta(`${kind}-delta`, type.typeUrl),
        [`Fetch${stem}`]: (call, callback) =>
          this.fetch(call.request as DiscoveryRequest, type.typeUrl, callback),
      };
      this.server.addService(xdsServiceDefinition(service), implementation);
    }
    this.server.addService(
      serviceDefinition('envoy.service.status.v3.ClientStatusDiscoveryService'),
      {
        FetchClientStatus: (call, callback) => {
          callback(
            null,
            clientStatus(call.request as ClientStatusRequest, this.fleetTracker, this.cache),
          );
        },
        StreamClientStatus: (call) => {
          this.statusCalls.add(call);
          call.on('close', () => this.statusCalls.delete(call));
          call.on('data', (request: ClientStatusRequest) =>
            call.write(clientStatus(request, this.fleetTracker, this.cache)),
          );
          call.on('end', () => call.end());
          call.on('error', () => undefined);
        },
      },
    );
    this.server.addService(serviceDefinition(HDS_SERVICE), this.hds.implementation());
    this.server.addService(serviceDefinition(LRS_SERVICE), this.lrs.implementation());
    if (this.rateLimit)
      this.server.addService(serviceDefinition(RLS_SERVICE), this.rateLimit.implementation());
  }

  /** One-shot SotW answer (the REST-style Fetch* methods): no nonce, nothing tracked. */
  private fetch(
    request: DiscoveryRequest,
    fixedTypeUrl: string,
    callback: LiteUnaryCallback,
  ): void {
    const typeUrl = request.type_url || fixedTypeUrl;
    if (typeUrl !== fixedTypeUrl || !servedResourceTypeByUrl(typeUrl)) {
      callback({
        code: status.INVALID_ARGUMENT,
        details: `this service serves ${fixedTypeUrl} only`,
      });
      return;
    }
    const names = request.resource_names ?? [];
    if (names.length > this.context.limits.maxResourceNames) {
      callback({
        code: status.INVALID_ARGUMENT,
        details: tooManyNames(names.length, typeUrl, this.context.limits),
      });
      return;
    }
    const group = groupOf(nodeIdentity(request.node) ?? {});
    const sub: SotwSubscription = {
      wildcard: false,
      names: new Set(),
      nonce: undefined,
      versionSent: '',
      rejected: undefined,
    };
    updateSotwNames(sub, names, true, typeUrl);
    const selection = selectSotw(
      this.cache.snapshotFor(
        { group, node: { id: nodeIdentity(request.node)?.id ?? '' } },
        typeUrl,
      ),
      sub,
    );
    callback(null, {
      version_info: selection.version,
      resources: selection.resources,
      type_url: typeUrl,
      control_plane: { identifier: this.context.controlPlaneId },
    });
  }
}

/**
 * An xDS service definition whose DiscoveryRequest methods read the common requests (ACKs) with
 * the hand-written reader (request-decoder.ts) and the rest with the generated deserializer.
 */
function xdsServiceDefinition(fullName: string): ServiceDefinition {
  const definition = serviceDefinition(fullName);
  const wrapped: Record<string, unknown> = {};
  for (const [method, d] of Object.entries(definition)) {
    const requestType = (d as { requestType?: { type?: { name?: string } } }).requestType;
    wrapped[method] =
      requestType?.type?.name === 'DiscoveryRequest'
        ? { ...d, requestDeserialize: discoveryRequestDeserializer(d.requestDeserialize) }
        : d;
  }
  return wrapped as unknown as ServiceDefinition;
}
