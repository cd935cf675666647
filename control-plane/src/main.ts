/**
 * `ferry-control-plane`: opens the store, starts the xDS server (ADS SotW + delta, per-type
 * services, CSDS), the HTTP/JSON management API and the gRPC management API, and logs one
 * `control plane ready` line with the bound addresses. SIGTERM/SIGINT close everything
 * gracefully; a second signal exits at once.
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  createLogger,
  FerryError,
  flushLogs,
  formatHostPort,
  isLoopback,
  parseHostPort,
} from '@ferry/shared';
import { openStore } from './store/open-store.js';
import {
  ETCD_ACCESS_FLAGS,
  etcdAccessFromFlags,
  type EtcdAccess,
} from './store/store-etcd-spec.js';
import { SnapshotCache } from './xds/snapshot-cache.js';
import { HealthAggregate } from './health/health-aggregate.js';
import { HealthReportWriter } from './health/health-report-writer.js';
import { HEALTH_REPORTS_NAMESPACE } from './health/quorum.js';
import { healthMetrics } from './health/health-metrics.js';
import { HealthOverlay } from './health/health-overlay.js';
import { XdsServer } from './xds/xds-server.js';
import { AccessPolicy } from './xds/access-policy.js';
import type { XdsTlsFiles } from './xds/tls-listener.js';
import { FleetTracker } from './xds/fleet.js';
import { wafStatus } from './xds/waf-status.js';
import { ManagementService } from './api/management-service.js';
import { Preflight } from './preflight/preflight.js';
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  HttpApi,
} from './api/http-api.js';
import { UiAssets } from './api/ui-assets.js';
import { DEFAULT_MAX_NESTING_DEPTH } from '@ferry/proto';
import {
  DEFAULT_EVENTS_HISTORY,
  DEFAULT_EVENTS_HISTORY_BYTES,
  DEFAULT_EVENTS_MAX_STREAMS,
  EventHub,
} from './api/events/event-hub.js';
import { EventSources, healthEvent, nodeEvent } from './api/events/event-sources.js';
import { DEFAULT_EVENTS_BUFFER_BYTES } from './api/events/http-events.js';
import { EventPeers } from './api/events/peer-events.js';
import { DEFAULT_XDS_STREAM_LIMITS, type XdsStreamLimits } from './xds/stream-context.js';
import { DEFAULT_XDS_SERVER_KEEPALIVE, type XdsServerKeepalive } from './xds/server-keepalive.js';
import { addManagementService } from './api/grpc-api.js';
import { prepareApiAccess } from './api/api-access-setup.js';
import { grpcServerCredentials, loadApiTls, type ApiTls } from './api/api-tls.js';
import { tokenCommand } from './token-command.js';
import { tracingConfig, type TracingConfig } from './tracing/tracing-config.js';
import { SnapshotOverlayChain } from './xds/snapshot-overlay-chain.js';
import { AcmeChallengeOverlay } from './acme/acme-challenge-overlay.js';
import { AcmeManager } from './acme/acme-manager.js';
import { LeaderElection } from './replicas/leader.js';
import {
  DEFAULT_HISTORY_RETAIN,
  HistoryTrimmer,
  type HistoryRetention,
} from './store/history-trimmer.js';
import { parseDuration } from './ctl/args.js';
import { replicaSetStatus, type ReplicaSetStatus } from './replicas/replica-set.js';
import { PeerStatus } from './replicas/peer-status.js';
import { LoadAggregate } from './load/load-aggregate.js';
import { certificatesStatus } from './acme/acme-status.js';
import { RateLimitPolicies } from './ratelimit/rate-limit-policies.js';
import { RlsMembership } from './ratelimit/rls-membership.js';
import { RlsService } from './ratelimit/rls-service.js';
import { rlsPeerCredentials, type RlsPeerTlsFiles } from './ratelimit/rls-peer-credentials.js';
import { RolloutController } from './rollout/rollout-controller.js';
import {
  refuseDuringRollout,
  RolloutService,
  withRolloutStatus,
} from './rollout/rollout-service.js';

const DEFAULT_STORE = `sqlite:${path.join('data', 'ferry.db')}`;

const USAGE = `Usage: ferry-control-plane [options]
       ferry-control-plane token create|list|revoke ...   API tokens, in the store (token --help)

  --xds-address HOST:PORT       xDS server (ADS, LDS/RDS/CDS/EDS/SDS, CSDS)   [127.0.0.1:18000]
  --xds-tls-cert FILE           serve xDS over TLS with this PEM certificate chain (with
                                --xds-tls-key); re-read on SIGHUP               [plaintext]
  --xds-tls-key FILE            its PEM private key
  --xds-client-ca FILE          require client certificates signed by this PEM CA bundle and
                                admit each proxy to its node.cluster only if the access policy
                                lets its certificate's SAN (URI or DNS) join that group
  --xds-group-from-san PATTERN  (repeatable) admit an identity matching PATTERN to the group
                                it names: * = one path segment, ** = anything, {group} = the
                                claimed group, {node} = the claimed node id; e.g.
                                'spiffe://ferry/group/{group}/node/{node}'. Per-group rules:
                                apply a ferry.v1.XdsAccessPolicy (docs/architecture.md)
  --xds-admin-san PATTERN       (repeatable) identities that may read CSDS (every group's
                                status) when client certificates are required, and whose
                                forwarded rate limit checks (x-ferry-rls-forwarded) are
                                accepted: the replicas' own xDS certificates must match it
                                Plaintext xDS is for loopback: binding elsewhere without
                                --xds-client-ca logs a warning.
  --api-address HOST:PORT       management API, HTTP/JSON (ferryctl)          [127.0.0.1:18001]
  --api-grpc-address HOST:PORT  management API, gRPC (ferry.v1.Management)    [127.0.0.1:18002]
  --api-tls-cert FILE           serve both management APIs over TLS with this PEM certificate
  --api-tls-key FILE            ... and this PEM private key                  [plaintext]
  --api-client-ca FILE          accept client certificates signed by this CA; one acts under the
                                token binding naming its URI/DNS SAN or CN (ferryctl token create
                                NAME --client-identity ID)                    [off]
  --store SPEC                  sqlite:PATH or memory:                        [sqlite:./data/ferry.db]
                                or etcd://HOST:PORT[,HOST:PORT...]/PREFIX (etcds:// for TLS):
                                shared by control planes on several hosts (README, "the etcd
                                store"; docs/architecture.md, "The store on etcd")
  --etcd-ca FILE                etcds://: PEM CA the members' certificates chain to [system]
  --etcd-cert FILE              etcds://: PEM client certificate (--client-cert-auth members)
  --etcd-key FILE               ... and its PEM private key
  --etcd-username NAME          etcd user, when etcd's auth is enabled
  --etcd-password-file FILE     its password, read from FILE [FERRY_ETCD_PASSWORD]; never a flag
  --history-retain N            revisions the store's log keeps for history, rollback and
                                watch resumes; older ones are trimmed by the leader replica
                                (0: no count limit)                           [10000]
  --history-retain-age DURATION also trim revisions older than this (90m, 12h, 30d, 8w);
                                whichever limit is reached first trims; the newest revision
                                is always kept (docs/architecture.md, "How the log is
                                trimmed")                                     [off]
  --history-trim-interval-ms N  how often the leader looks for revisions to trim [60000]
  --debounce-ms N               coalesce bursts of changes before pushing     [100]
  --hds-interval-ms N           health report interval asked of proxies (HDS) [5000]
  --lrs-interval-ms N           load report interval asked of proxies (LRS)   [10000]
  --xds-keepalive-interval-ms N HTTP/2 PING to every xDS connection this often, and
  --xds-keepalive-timeout-ms N  close it when no reply comes within this: the streams of a
                                proxy that vanished without closing its connection are
                                released (docs/architecture.md, "Noticing a hung control
                                plane"); proxies' own PINGs are answered at any rate
                                                                       [30000, 10000]
  --replica-id ID               this replica's name in the shared store (holder of its
                                health quorum reports); distinct per replica [HOSTNAME:XDS_PORT]
  --rls-advertise-address HOST:PORT
                                where the other replicas reach this one's xDS port to
                                forward the rate limit checks of counters it owns
                                                     [--xds-address host, bound port]
  --rls-peer-ca FILE            under xDS TLS, checks are forwarded over TLS presenting
                                --xds-tls-cert/--xds-tls-key; the owner's certificate must
                                chain to this PEM CA bundle         [--xds-client-ca, else system]
  --rls-peer-server-name NAME   name the owner's certificate must carry
                                                     [the owner's advertised host]
  --acme-check-interval-ms N    how often the ACME lease holder looks for certificates to
                                order or renew, besides store changes          [10000]
  --acme-retry-base-ms N        first retry delay after a failed ACME order, doubled per
                                failure up to 6 h                              [60000]
  --acme-poll-min-ms N          first wait when polling the CA for a status    [5000]
  --acme-lease-ttl-ms N         older name of --leader-lease-ttl-ms (ACME ordering is a
                                leader duty)
  --leader-lease-ttl-ms N       how long the leader replica (singleton duties: ACME
                                ordering) holds the store lease without renewing it; when
                                it dies another replica takes over after this [15000];
                                when given, also the lease of the replica driving
                                rollouts                                      [10000]
  --log-level LEVEL             trace, debug, info, warn, error, silent       [info]
  --otlp-endpoint URL           export traces over OTLP (apply, validate, store.commit,
                                snapshot.build, xds.push per node); tracing is off without an
                                endpoint here or in OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT;
                                http: a URL without a path gets /v1/traces      [off]
  --otlp-protocol grpc|http     OTLP over gRPC or HTTP/protobuf
                                [OTEL_EXPORTER_OTLP_PROTOCOL, else http]
  --jaeger-ui-url URL           the dashboard (/ui/ on the API address) links applies and pushes
                                to their traces in this Jaeger UI                  [no links]
Limits under bad input and abuse (docs/architecture.md, "Limits under bad input and abuse"):
  --api-max-body-bytes N        larger request bodies get 413 (HTTP) and larger messages
                                RESOURCE_EXHAUSTED (gRPC management API)    [16777216]
  --api-max-nesting-depth N     JSON/YAML nested deeper is refused (400)      [100]
  --api-headers-timeout-ms N    a client must send its request headers within this, and
  --api-request-timeout-ms N    its whole request within this (slow clients get 408 and are
                                disconnected)                       [20000, 60000]
  --api-events-max-streams N    open GET /v1/events streams at most; more get 429   [256]
  --api-events-buffer-bytes N   an event stream leaving more bytes unread is cut off (the
                                client resumes from its last event)        [4194304]
  --api-events-history N        recent store, health and rollout events kept for resuming
                                (Last-Event-ID); older cursors get a reset event [10000]
  --api-events-history-bytes N  and their bytes at most (node events are not kept: a resume
                                sends nodes' current rows)                 [8388608]
  --xds-max-resource-names N    names one stream may subscribe to per type; more ends the
                                stream with INVALID_ARGUMENT                  [20000]
  --xds-max-requests-per-second N
                                requests read per xDS stream per second on average; a faster
  --xds-request-burst N         client (past the burst) is paused, not dropped  [100, 500]
  --xds-max-pending-bytes N     a client leaving more response bytes unread is cut off
                                (RESOURCE_EXHAUSTED)                      [67108864]
  --xds-max-disconnected-nodes N
                                disconnected nodes listed in status/CSDS at most (10 minutes
                                each); the oldest are forgotten first         [10000]
  --debug-gc-on-metrics         run a full garbage collection before each /metrics scrape, so
                                that nodejs_heap_used_bytes is live memory (leak tests; slow)
  -h, --help

Management API access (docs/architecture.md, "API authentication and roles"): callers present an
API token (viewer, operator or admin of some groups; "ferryctl token create", stored hashed in the
store) or a client certificate. While no token exists, both APIs are bound to loopback, no client
CA is set and FERRY_API_TOKEN is unset, requests without credentials are let in as an admin named
"loopback" (development); once the first token exists every request needs credentials.

Environment: FERRY_ETCD_PASSWORD (the --etcd-username's password). FERRY_API_TOKEN (a bootstrap admin token kept outside the store, to create the first
tokens; required to bind an API to a non-loopback address before any token exists, unless one was
made with "ferry-control-plane token create"), FERRY_LOG_LEVEL. Tracing: OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, OTEL_SERVICE_NAME
[ferry-control-plane], OTEL_TRACES_SAMPLER (always_on, always_off, traceidratio, parentbased_*)
and OTEL_TRACES_SAMPLER_ARG, OTEL_TRACES_EXPORTER (otlp, none), OTEL_SDK_DISABLED,
OTEL_BSP_* (export queue), OTEL_EXPORTER_OTLP_HEADERS and the exporter's other settings.
`;

function fail(message: string): never {
  process.stderr.write(`ferry-control-plane: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parse(): {
  xds: { host: string; port: number };
  api: { host: string; port: number };
  apiGrpc: { host: string; port: number };
  apiTls: ApiTls | undefined;
  store: string;
  etcd: EtcdAccess;
  debounceMs: number;
  hdsIntervalMs: number;
  lrsIntervalMs: number;
  replicaId: string | undefined;
  rlsAdvertise: { host: string; port: number } | undefined;
  rlsPeerCa: string | undefined;
  rlsPeerServerName: string | undefined;
  acme: { checkIntervalMs: number; retryBaseMs: number; pollMinMs: number };
  leaderLeaseTtlMs: number;
  /** The rollout driver's lease: --leader-lease-ttl-ms when given, else the controller's default. */
  rolloutLeaseTtlMs: number | undefined;
  historyRetention: HistoryRetention;
  historyTrimIntervalMs: number;
  limits: {
    apiMaxBodyBytes: number;
    apiMaxNestingDepth: number;
    apiHeadersTimeoutMs: number;
    apiRequestTimeoutMs: number;
    apiEventsMaxStreams: number;
    apiEventsBufferBytes: number;
    apiEventsHistory: number;
    apiEventsHistoryBytes: number;
    maxDisconnectedNodes: number;
    xds: XdsStreamLimits;
  };
  xdsKeepalive: XdsServerKeepalive;
  debugGcOnMetrics: boolean;
  logLevel: string;
  tracing: TracingConfig | undefined;
  jaegerUiUrl: string | undefined;
  xdsTls: XdsTlsFiles | undefined;
  accessPolicy: AccessPolicy | undefined;
} {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'xds-address': { type: 'string', default: '127.0.0.1:18000' },
        'xds-tls-cert': { type: 'string' },
        'xds-tls-key': { type: 'string' },
        'xds-client-ca': { type: 'string' },
        'xds-group-from-san': { type: 'string', multiple: true },
        'xds-admin-san': { type: 'string', multiple: true },
        'api-address': { type: 'string', default: '127.0.0.1:18001' },
        'api-grpc-address': { type: 'string', default: '127.0.0.1:18002' },
        'api-tls-cert': { type: 'string' },
        'api-tls-key': { type: 'string' },
        'api-client-ca': { type: 'string' },
        store: { type: 'string', default: DEFAULT_STORE },
        ...ETCD_ACCESS_FLAGS,
        'history-retain': { type: 'string', default: String(DEFAULT_HISTORY_RETAIN) },
        'history-retain-age': { type: 'string' },
        'history-trim-interval-ms': { type: 'string', default: '60000' },
        'debounce-ms': { type: 'string', default: '100' },
        'hds-interval-ms': { type: 'string', default: '5000' },
        'lrs-interval-ms': { type: 'string', default: '10000' },
        'replica-id': { type: 'string' },
        'rls-advertise-address': { type: 'string' },
        'rls-peer-ca': { type: 'string' },
        'rls-peer-server-name': { type: 'string' },
        'acme-check-interval-ms': { type: 'string', default: '10000' },
        'acme-retry-base-ms': { type: 'string', default: '60000' },
        'acme-poll-min-ms': { type: 'string', default: '5000' },
        'acme-lease-ttl-ms': { type: 'string' },
        'leader-lease-ttl-ms': { type: 'string' },
        'log-level': { type: 'string', default: process.env.FERRY_LOG_LEVEL ?? 'info' },
        'otlp-endpoint': { type: 'string' },
        'otlp-protocol': { type: 'string' },
        'jaeger-ui-url': { type: 'string' },
        'api-max-body-bytes': { type: 'string', default: String(DEFAULT_MAX_BODY_BYTES) },
        'api-max-nesting-depth': { type: 'string', default: String(DEFAULT_MAX_NESTING_DEPTH) },
        'api-headers-timeout-ms': { type: 'string', default: String(DEFAULT_HEADERS_TIMEOUT_MS) },
        'api-request-timeout-ms': { type: 'string', default: String(DEFAULT_REQUEST_TIMEOUT_MS) },
        'api-events-max-streams': { type: 'string', default: String(DEFAULT_EVENTS_MAX_STREAMS) },
        'api-events-buffer-bytes': { type: 'string', default: String(DEFAULT_EVENTS_BUFFER_BYTES) },
        'api-events-history': { type: 'string', default: String(DEFAULT_EVENTS_HISTORY) },
        'api-events-history-bytes': {
          type: 'string',
          default: String(DEFAULT_EVENTS_HISTORY_BYTES),
        },
        'xds-max-resource-names': {
          type: 'string',
          default: String(DEFAULT_XDS_STREAM_LIMITS.maxResourceNames),
        },
        'xds-max-requests-per-second': {
          type: 'string',
          default: String(DEFAULT_XDS_STREAM_LIMITS.requestsPerSecond),
        },
        'xds-request-burst': {
          type: 'string',
          default: String(DEFAULT_XDS_STREAM_LIMITS.requestBurst),
        },
        'xds-max-pending-bytes': {
          type: 'string',
          default: String(DEFAULT_XDS_STREAM_LIMITS.maxPendingBytes),
        },
        'xds-max-disconnected-nodes': { type: 'string', default: '10000' },
        'xds-keepalive-interval-ms': {
          type: 'string',
          default: String(DEFAULT_XDS_SERVER_KEEPALIVE.intervalMs),
        },
        'xds-keepalive-timeout-ms': {
          type: 'string',
          default: String(DEFAULT_XDS_SERVER_KEEPALIVE.timeoutMs),
        },
        'debug-gc-on-metrics': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const debounceMs = Number(values['debounce-ms']);
  if (!Number.isInteger(debounceMs) || debounceMs < 0 || debounceMs > 60_000) {
    fail(
      `--debounce-ms: expected an integer 0..60000, got ${JSON.stringify(values['debounce-ms'])}`,
    );
  }
  const hdsIntervalMs = Number(values['hds-interval-ms']);
  if (!Number.isInteger(hdsIntervalMs) || hdsIntervalMs < 100 || hdsIntervalMs > 3_600_000) {
    fail(
      `--hds-interval-ms: expected an integer 100..3600000, got ${JSON.stringify(values['hds-interval-ms'])}`,
    );
  }
  const lrsIntervalMs = Number(values['lrs-interval-ms']);
  if (!Number.isInteger(lrsIntervalMs) || lrsIntervalMs < 100 || lrsIntervalMs > 3_600_000) {
    fail(
      `--lrs-interval-ms: expected an integer 100..3600000, got ${JSON.stringify(values['lrs-interval-ms'])}`,
    );
  }
  const tlsCert = values['api-tls-cert'];
  const tlsKey = values['api-tls-key'];
  const clientCa = values['api-client-ca'];
  if ((tlsCert === undefined) !== (tlsKey === undefined))
    fail('--api-tls-cert and --api-tls-key go together');
  if (clientCa !== undefined && tlsCert === undefined)
    fail('--api-client-ca needs --api-tls-cert and --api-tls-key (client certificates need TLS)');
  const acmeMs = (flag: string, min: number, max: number): number => {
    const raw = (values as Record<string, unknown>)[flag];
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      fail(`--${flag}: expected an integer ${min}..${max}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const intFlag = acmeMs;
  const limits = {
    apiMaxBodyBytes: intFlag('api-max-body-bytes', 1024, 1024 * 1024 * 1024),
    apiMaxNestingDepth: intFlag('api-max-nesting-depth', 8, 10_000),
    apiHeadersTimeoutMs: intFlag('api-headers-timeout-ms', 100, 3_600_000),
    apiRequestTimeoutMs: intFlag('api-request-timeout-ms', 100, 3_600_000),
    apiEventsMaxStreams: intFlag('api-events-max-streams', 1, 1_000_000),
    apiEventsBufferBytes: intFlag('api-events-buffer-bytes', 64 * 1024, 1024 * 1024 * 1024),
    apiEventsHistory: intFlag('api-events-history', 1, 10_000_000),
    apiEventsHistoryBytes: intFlag('api-events-history-bytes', 1024, 1024 * 1024 * 1024),
    maxDisconnectedNodes: intFlag('xds-max-disconnected-nodes', 0, 10_000_000),
    xds: {
      maxResourceNames: intFlag('xds-max-resource-names', 1, 10_000_000),
      requestsPerSecond: intFlag('xds-max-requests-per-second', 1, 1_000_000),
      requestBurst: intFlag('xds-request-burst', 1, 1_000_000),
      maxPendingBytes: intFlag('xds-max-pending-bytes', 64 * 1024, 16 * 1024 * 1024 * 1024),
    },
  };
  const xdsKeepalive = {
    intervalMs: intFlag('xds-keepalive-interval-ms', 100, 86_400_000),
    timeoutMs: intFlag('xds-keepalive-timeout-ms', 100, 3_600_000),
  };
  const acme = {
    checkIntervalMs: acmeMs('acme-check-interval-ms', 100, 3_600_000),
    retryBaseMs: acmeMs('acme-retry-base-ms', 100, 86_400_000),
    pollMinMs: acmeMs('acme-poll-min-ms', 10, 60_000),
  };
  const leaderFlag =
    values['leader-lease-ttl-ms'] !== undefined
      ? 'leader-lease-ttl-ms'
      : values['acme-lease-ttl-ms'] !== undefined
        ? 'acme-lease-ttl-ms'
        : undefined;
  const leaderLeaseTtlMs = leaderFlag ? acmeMs(leaderFlag, 300, 600_000) : 15_000;
  const historyRetention: HistoryRetention = {
    revisions: intFlag('history-retain', 0, Number.MAX_SAFE_INTEGER),
    maxAgeMs: parseRetainAge(values['history-retain-age']),
  };
  try {
    return {
      acme,
      leaderLeaseTtlMs,
      rolloutLeaseTtlMs: leaderFlag ? leaderLeaseTtlMs : undefined,
      historyRetention,
      historyTrimIntervalMs: intFlag('history-trim-interval-ms', 100, 86_400_000),
      limits,
      xdsKeepalive,
      debugGcOnMetrics: values['debug-gc-on-metrics'] === true,
      apiTls:
        tlsCert && tlsKey
          ? loadApiTls({ cert: tlsCert, key: tlsKey, ...(clientCa ? { clientCa } : {}) })
          : undefined,
      xds: parseHostPort(values['xds-address'], '--xds-address'),
      api: parseHostPort(values['api-address'], '--api-address'),
      apiGrpc: parseHostPort(values['api-grpc-address'], '--api-grpc-address'),
      store: values.store,
      etcd: etcdAccessFromFlags(values),
      debounceMs,
      hdsIntervalMs,
      lrsIntervalMs,
      replicaId: values['replica-id'],
      rlsAdvertise:
        values['rls-advertise-address'] !== undefined
          ? parseHostPort(values['rls-advertise-address'], '--rls-advertise-address')
          : undefined,
      rlsPeerCa: values['rls-peer-ca'],
      rlsPeerServerName: values['rls-peer-server-name'],
      logLevel: values['log-level'],
      tracing: parseTracing(values['otlp-endpoint'], values['otlp-protocol']),
      jaegerUiUrl: parseJaegerUiUrl(values['jaeger-ui-url']),
      ...parseXdsSecurity(values),
    };
  } catch (err) {
    fail((err as Error).message);
  }
}

/** The xDS TLS and access flags, checked for combinations that would not mean what they say. */
function parseXdsSecurity(values: {
  'xds-tls-cert'?: string | undefined;
  'xds-tls-key'?: string | undefined;
  'xds-client-ca'?: string | undefined;
  'xds-group-from-san'?: string[] | undefined;
  'xds-admin-san'?: string[] | undefined;
  'rls-peer-ca'?: string | undefined;
  'rls-peer-server-name'?: string | undefined;
}): { xdsTls: XdsTlsFiles | undefined; accessPolicy: AccessPolicy | undefined } {
  const cert = values['xds-tls-cert'];
  const key = values['xds-tls-key'];
  const clientCa = values['xds-client-ca'];
  const groupFromSan = values['xds-group-from-san'] ?? [];
  const adminSan = values['xds-admin-san'] ?? [];
  if ((cert === undefined) !== (key === undefined))
    throw new Error('--xds-tls-cert and --xds-tls-key go together: give both or neither');
  if (clientCa !== undefined && cert === undefined)
    throw new Error(
      '--xds-client-ca needs --xds-tls-cert and --xds-tls-key (client certificates need TLS)',
    );
  if ((groupFromSan.length > 0 || adminSan.length > 0) && clientCa === undefined)
    throw new Error(
      '--xds-group-from-san and --xds-admin-san need --xds-client-ca: without client certificates there is no identity to match',
    );
  if (cert === undefined || key === undefined) {
    if (values['rls-peer-ca'] !== undefined || values['rls-peer-server-name'] !== undefined)
      throw new Error(
        '--rls-peer-ca and --rls-peer-server-name need --xds-tls-cert and --xds-tls-key: checks are forwarded over TLS only when xDS serves TLS',
      );
    return { xdsTls: undefined, accessPolicy: undefined };
  }
  return {
    xdsTls: {
      certFile: cert,
      keyFile: key,
      ...(clientCa !== undefined ? { clientCaFile: clientCa } : {}),
    },
    accessPolicy: clientCa !== undefined ? new AccessPolicy({ groupFromSan, adminSan }) : undefined,
  };
}

function parseTracing(
  otlpEndpoint: string | undefined,
  otlpProtocol: string | undefined,
): TracingConfig | undefined {
  const result = tracingConfig(process.env, { otlpEndpoint, otlpProtocol });
  if (!result.ok) fail(result.errors.join('\n'));
  return result.value;
}

/** An http(s) URL without a trailing slash, or undefined. */
function parseJaegerUiUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(`--jaeger-ui-url: expected an http(s) URL such as http://jaeger:16686, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(`--jaeger-ui-url: expected an http(s) URL, got "${raw}"`);
  return url.href.replace(/\/+$/, '');
}

async function main(): Promise<void> {
  if (process.argv[2] === 'token') {
    process.exitCode = await tokenCommand(process.argv.slice(3), DEFAULT_STORE);
    return;
  }
  const options = parse();
  const logger = createLogger('control-plane', options.logLevel as 'info');

  // The SDK and exporters are loaded only when tracing is on: off costs nothing, not even imports.
  const tracing = options.tracing
    ? (await import('./tracing/tracing-otlp.js')).startTracing(options.tracing)
    : undefined;
  const tracer = tracing?.tracer;
  const store = await openStore(options.store, { etcd: options.etcd });
  const healthOverlay = new HealthOverlay({
    onInvalid: (message) => logger.warn({ message }, 'health quorum rule not applied'),
  });
  const acmeOverlay = new AcmeChallengeOverlay({
    onInvalid: (message) => logger.warn({ message }, 'ACME challenge route not served'),
  });
  const overlay = new SnapshotOverlayChain([healthOverlay, acmeOverlay]);
  const cache = new SnapshotCache({
    store,
    logger,
    debounceMs: options.debounceMs,
    overlay,
    ...(tracer ? { tracer } : {}),
  });
  const fleet = new FleetTracker({
    snapshots: (group, typeUrl) => cache.snapshot(group, typeUrl).resources,
    maxDisconnected: options.limits.maxDisconnectedNodes,
  });
  const replica = options.replicaId ?? formatHostPort(os.hostname(), options.xds.port);
  const healthReports = new HealthReportWriter({
    store,
    overlay: healthOverlay,
    replica,
    logger,
    // How long a dead replica's reports keep counting (its proxies reconnect to another replica
    // and report there meanwhile): a few HDS intervals, and never below 10 s.
    ttlMs: Math.max(10_000, 3 * options.hdsIntervalMs),
  });
  // The reports are leased records: every replica follows them, not the revisions.
  const healthReportsWatch = store.watchLeased(HEALTH_REPORTS_NAMESPACE, (event) =>
    cache.overlayChanged(healthOverlay.observeReports(event)),
  );
  const transitions = healthMetrics();
  const rateLimitPolicies = new RateLimitPolicies(store, logger);
  const rlsMembership = new RlsMembership({
    store,
    id: replica,
    logger,
    onChange: (members) => {
      rateLimit.membershipChanged(members);
      eventPeers.changed();
    },
  });
  // Whose node events GET /v1/events merges in (api/events/peer-events.ts).
  const eventPeers = new EventPeers({
    replicas: () => rlsMembership.members(),
    self: () => rlsMembership.self.id,
    logger,
  });
  const xdsTls = options.xdsTls;
  const peerTls: RlsPeerTlsFiles | undefined = xdsTls && {
    certFile: xdsTls.certFile,
    keyFile: xdsTls.keyFile,
    ...((options.rlsPeerCa ?? xdsTls.clientCaFile) !== undefined
      ? { caFile: options.rlsPeerCa ?? xdsTls.clientCaFile }
      : {}),
    ...(options.rlsPeerServerName !== undefined ? { serverName: options.rlsPeerServerName } : {}),
  };
  const rateLimit = new RlsService({
    policies: rateLimitPolicies,
    membership: rlsMembership,
    logger,
    authenticated: options.xdsTls?.clientCaFile !== undefined,
    ...(peerTls ? { peerCredentials: await rlsPeerCredentials(peerTls) } : {}),
  });
  await rateLimitPolicies.start();
  // Owned here so the API can read its load history (GET /v1/load/history).
  const loadAggregate = new LoadAggregate();
  const xds = new XdsServer({
    rateLimit,
    cache,
    logger,
    fleet,
    load: loadAggregate,
    health: new HealthAggregate({
      onTransition: (status) => transitions.transitions(status).inc(),
      onReport: (nodeId, group, clusters) => healthReports.report(nodeId, group, clusters),
      onForget: (nodeId) => healthReports.forget(nodeId),
      quorum: (group, cluster) => {
        const setting = healthOverlay.setting(group, cluster);
        return setting && { ...setting, marked: healthOverlay.marked(group, cluster) };
      },
    }),
    hdsIntervalMs: options.hdsIntervalMs,
    hdsWork: (group) => healthOverlay.hdsWork(group),
    lrsIntervalMs: options.lrsIntervalMs,
    ...(tracer ? { tracer } : {}),
    ...(options.xdsTls ? { tls: options.xdsTls, policyStore: store } : {}),
    ...(options.accessPolicy ? { accessPolicy: options.accessPolicy } : {}),
    limits: options.limits.xds,
    keepalive: options.xdsKeepalive,
  });
  // Known once the xDS port is bound (the default replica id names it).
  const replicaView: { status?: () => ReplicaSetStatus } = {};
  const rolloutController = new RolloutController({
    store,
    replica,
    cache,
    fleet,
    load: xds.load(),
    health: xds.health(),
    logger,
    // The tallies of replicas that stopped renewing their membership are not waited for.
    liveReplicas: () => rlsMembership.members().map((m) => m.id),
    ...(options.rolloutLeaseTtlMs !== undefined ? { leaseTtlMs: options.rolloutLeaseTtlMs } : {}),
    ...(tracer ? { tracer } : {}),
  });
  fleet.onNack = (nodeId, _group, _typeUrl, error) => rolloutController.noteNack(nodeId, error);
  // The other replicas' management APIs: status, the node list and load history fan out to them.
  const peers = new PeerStatus({
    replicas: () => rlsMembership.members(),
    self: () => rlsMembership.self.id,
  });
  const service = new ManagementService({
    store,
    fleet: {
      nodes: (o) => fleet.nodes(o).map((n) => withRolloutStatus(cache, n)),
      summaries: () => fleet.summaries(),
    },
    logger,
    writeGuard: (group) => refuseDuringRollout(rolloutController, group),
    preflight: new Preflight({ fleet, overlay }),
    replicas: () => replicaView.status?.(),
    peers,
    ...(tracer ? { tracer } : {}),
  });
  const rollouts = new RolloutService(service, rolloutController);
  const health = xds.health();
  const events = new EventHub({
    history: options.limits.apiEventsHistory,
    historyBytes: options.limits.apiEventsHistoryBytes,
    maxStreams: options.limits.apiEventsMaxStreams,
    node: (nodeId) => nodeEvent(service, nodeId),
    health: (group, cluster) => healthEvent(health, group, cluster),
    outliers: (group, cluster) => loadAggregate.history.outlierEvent(group, cluster),
  });
  const eventSources = new EventSources({
    hub: events,
    store,
    fleet,
    health,
    outliers: loadAggregate.history.outliers,
    logger,
  });
  const authenticator = await prepareApiAccess({
    service,
    logger,
    bootstrapToken: process.env.FERRY_API_TOKEN || undefined,
    listeners: [options.api, options.apiGrpc],
    tls: options.apiTls,
    storeSpec: options.store,
  });
  const httpApi = new HttpApi({
    service,
    logger,
    authenticator,
    ...(options.apiTls ? { tls: options.apiTls } : {}),
    health: xds.health(),
    load: xds.load(),
    loadHistory: { source: loadAggregate.history, peers },
    waf: (readable, group) => wafStatus(fleet.views(), readable, group),
    certificates: (group, readable) => certificatesStatus(store, group, readable),
    traceContext: tracer !== undefined,
    rollouts,
    ui: await UiAssets.load(
      options.jaegerUiUrl === undefined ? {} : { jaegerUiUrl: options.jaegerUiUrl },
    ),
    maxBodyBytes: options.limits.apiMaxBodyBytes,
    maxNestingDepth: options.limits.apiMaxNestingDepth,
    headersTimeoutMs: options.limits.apiHeadersTimeoutMs,
    requestTimeoutMs: options.limits.apiRequestTimeoutMs,
    collectGarbageOnScrape: options.debugGcOnMetrics,
    events,
    eventsBufferBytes: options.limits.apiEventsBufferBytes,
    eventPeers,
  });
  const grpcApi = new grpc.Server({
    'grpc.max_receive_message_length': options.limits.apiMaxBodyBytes,
  });
  addManagementService(grpcApi, service, {
    logger,
    authenticator,
    traceContext: tracer !== undefined,
    health: xds.health(),
    load: xds.load(),
    rollouts,
  });

  healthOverlay.onHdsWorkChanged = (group) => xds.reassignHealthChecks(group);
  const xdsPort = await xds.listen(options.xds.host, options.xds.port);
  // Without --replica-id the id names the bound port: replicas on one host need distinct ids.
  const boundReplica = options.replicaId ?? formatHostPort(os.hostname(), xdsPort);
  const leader = new LeaderElection({
    store,
    holder: boundReplica,
    ttlMs: options.leaderLeaseTtlMs,
    logger,
  });
  replicaView.status = () => replicaSetStatus(leader.status(), rlsMembership.members());
  // Before the API listens: a client's first stream misses nothing of what happens next.
  await eventSources.start();
  const api = await httpApi.listen(options.api.host, options.api.port);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcApi.bindAsync(
      formatHostPort(options.apiGrpc.host, options.apiGrpc.port),
      grpcServerCredentials(options.apiTls),
      (err, port) => (err ? reject(err) : resolve(port)),
    ),
  );

  if (xds.transportSecurity !== 'mtls' && !isLoopback(options.xds.host)) {
    logger.warn(
      { xds_address: formatHostPort(options.xds.host, xdsPort), transport: xds.transportSecurity },
      `xDS is bound to ${options.xds.host} without client certificates: anyone who reaches this port gets any group's configuration and secrets; set --xds-tls-cert, --xds-tls-key and --xds-client-ca (docs/architecture.md, "Who may connect") or bind a loopback address`,
    );
  }
  if (options.xdsTls) {
    process.on('SIGHUP', () => {
      Promise.all([
        xds.reloadTls(),
        // Forwarding re-reads the same certificate and key (and --rls-peer-ca).
        peerTls && rlsPeerCredentials(peerTls).then((c) => rateLimit.setPeerCredentials(c)),
      ]).then(
        () => logger.info({ transport: xds.transportSecurity }, 'xDS TLS files re-read'),
        (err: unknown) =>
          logger.error({ err }, 'xDS TLS files not re-read; the previous ones stay in use'),
      );
    });
  }
  await healthReports
    .removeLegacyReports()
    .catch((err: unknown) =>
      logger.warn(
        { err },
        'health quorum: old report resources not removed; the next start retries',
      ),
    );
  // Forwarding between replicas uses the xDS port's transport: TLS with the replica's own
  // certificate when xDS serves TLS (rls-peer-credentials.ts), plaintext otherwise.
  await rlsMembership.start(
    formatHostPort(
      options.rlsAdvertise?.host ?? advertisedHost(options.xds.host),
      options.rlsAdvertise?.port ?? xdsPort,
    ),
    boundReplica,
    // Where peers ask for this replica's proxies (replicas/peer-status.ts).
    `${httpApi.scheme}://${formatHostPort(advertisedHost(options.api.host), api.port)}`,
  );
  // One leader among the replicas of the store runs the singleton duties (replicas/leader.ts).
  await leader.start();
  const acmeManager = new AcmeManager({
    store,
    cache,
    fleet,
    overlay: acmeOverlay,
    replica: boundReplica,
    leadership: leader,
    logger,
    checkIntervalMs: options.acme.checkIntervalMs,
    retryBaseMs: options.acme.retryBaseMs,
    pollMinMs: options.acme.pollMinMs,
  });
  await acmeManager.start();
  rolloutController.start(boundReplica);
  const historyTrimmer = new HistoryTrimmer({
    store,
    leadership: leader,
    retention: options.historyRetention,
    intervalMs: options.historyTrimIntervalMs,
    logger,
  });
  historyTrimmer.start();
  const revision = await store.currentRevision();
  logger.info(
    {
      xds_address: formatHostPort(options.xds.host, xdsPort),
      api_url: `${httpApi.scheme}://${formatHostPort(api.host, api.port)}`,
      api_grpc_address: formatHostPort(options.apiGrpc.host, grpcPort),
      store: options.store,
      revision,
      tracing: options.tracing ? `${options.tracing.protocol} ${options.tracing.endpoint}` : 'off',
    },
    'control plane ready',
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.warn('graceful shutdown took longer than 10 s: exiting now');
      process.exit(1);
    }, 10_000);
    deadline.unref();
    void (async () => {
      await Promise.allSettled([
        xds.close(),
        httpApi.close(),
        new Promise<void>((resolve) => grpcApi.tryShutdown(() => resolve())),
      ]);
      eventSources.close();
      await rolloutController.close();
      await acmeManager.close();
      await historyTrimmer.close();
      // Released at once: another replica leads from its next campaign round.
      await leader.close();
      await rlsMembership.close();
      rateLimit.close();
      rateLimitPolicies.close();
      await healthReports.close();
      healthReportsWatch.close();
      cache.close();
      await store.close();
      // Pushes still waiting for an ACK end as disconnected when the xDS server closes; export
      // them and everything queued (bounded by the export timeout).
      await tracing?.shutdown();
      logger.info('stopped');
      // Bounded: a stdout reader that stalls or went away costs log lines, never the exit.
      await flushLogs();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** `--history-retain-age 30d`: milliseconds, 0 when unset. */
function parseRetainAge(value: string | undefined): number {
  if (value === undefined) return 0;
  try {
    return parseDuration(value) * 1000;
  } catch {
    fail(
      `--history-retain-age: expected a duration like 90m, 12h, 30d or 8w, got ${JSON.stringify(value)}`,
    );
  }
}

/** A bind address other replicas can dial: the wildcard addresses name no host to reach. */
function advertisedHost(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? os.hostname() : host;
}

main().catch((err: unknown) => {
  const message = err instanceof FerryError ? `${err.code}: ${err.message}` : (err as Error).stack;
  process.stderr.write(`ferry-control-plane: cannot start: ${message}\n`);
  process.exit(1);
});
