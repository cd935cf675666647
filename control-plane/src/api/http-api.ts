/**
 * The management API over HTTP/JSON (node:http). Routes:
 *   POST   /v1/apply                    {group, resources, dry_run, expected_revision, message}
 *                                       or YAML (Content-Type application/yaml; the same fields as query parameters)
 *   GET    /v1/resources                ?type=&name=&group=&show_secrets=&revision= (as of a revision)
 *   GET    /v1/resources/{type}/{name}  ?group=&show_secrets=
 *   DELETE /v1/resources/{type}/{name}  ?group=&dry_run=&expected_revision=
 *   POST   /v1/delete                   {group, resources: [{type, name}], dry_run, expected_revision, message}
 *   GET    /v1/history                  ?limit=  (history_base: revisions up to it were trimmed)
 *   POST   /v1/rollback                 {revision, group, dry_run, message}
 *   (apply, delete and rollback also take `force`: write even when the pre-flight refuses)
 *   GET    /v1/status                   ?node=&resources=true  per resource: what each runs
 *   GET    /v1/nodes                    ?group=&state=&q=&offset=&limit=&local=  the fleet, paged (nodes-page.ts)
 *   GET    /v1/events                   ?since=&types=&local=  text/event-stream of changes (events/)
 *   GET    /v1/health                   ?group=&cluster=  the fleet's health view (HDS reports)
 *   GET    /v1/load                     ?group=&cluster=  the fleet's load (LRS reports)
 *   GET    /v1/load/history             ?group=&cluster=&localities=&local=  the last hour of it, in buckets
 *   GET    /v1/waf                      ?group=  which proxies run the WAF, rule set, mode (xds/waf-status.ts)
 *   GET    /v1/rollouts                 ?group=  rollouts; POST an apply as a rollout;
 *   POST   /v1/rollouts/{action}        {group}  pause, resume, abort, promote (http-rollout-routes.ts)
 *   GET    /v1/whoami                   the caller: name, role, groups
 *   GET    /v1/tokens                   API tokens (admin)
 *   POST   /v1/tokens                   {name, role, groups, expires_in_seconds, client_identity} (admin)
 *   DELETE /v1/tokens/{name}            revoke (admin)
 *   GET    /v1/certificates             ?group=  ACME certificates' state, certificates in Secrets (readable groups)
 *   GET    /healthz                     (no authentication)
 *   GET    /ui/...                      the dashboard's static files (no authentication; ui-assets.ts)
 *   GET    /metrics                     Prometheus text (any authenticated caller)
 * Errors are `{code, message, details}` with the FerryError's status: 401 without valid
 * credentials, 403 when the caller's role does not allow the request for its group. Every route but
 * /healthz authenticates (authenticator.ts) and passes the caller to the service, which checks its
 * role (access.ts; docs/architecture.md, "API authentication and roles"). HTTPS with `tls`.
 * Request bodies are never logged.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { context } from '@opentelemetry/api';
import { DEFAULT_MAX_NESTING_DEPTH } from '@ferry/proto';
import { FerryError, isFerryError, isLoopback, type Logger } from '@ferry/shared';
import { incomingTraceContext } from '../tracing/tracing.js';
import { processMemoryMetrics } from '../metrics/process-memory-metrics.js';
import type { ManagementService } from './management-service.js';
import type { HealthStatusSource } from '../health/health-aggregate.js';
import type { WafStatusJson } from '@ferry/shared/api-wire';
import type { LoadSource } from '../load/load-aggregate.js';
import { httpsServerOptions, verifiedPeerCertificate, type ApiTls } from './api-tls.js';
import type { Authenticator } from './authenticator.js';
import { scopedHealthJson, scopedLoadHistoryJson, scopedLoadJson } from './scoped-views.js';
import type { LoadHistory } from '../load/load-history.js';
import type { PeerStatus } from '../replicas/peer-status.js';
import { tokenRoute } from './http-token-routes.js';
import { rolloutRoute } from './http-rollout-routes.js';
import { UI_CONTENT_SECURITY_POLICY, type UiAssets } from './ui-assets.js';
import type { RolloutService } from '../rollout/rollout-service.js';
import { canRead } from './access.js';
import type { EventHub } from './events/event-hub.js';
import { DEFAULT_EVENTS_BUFFER_BYTES, eventsQuery, serveEvents } from './events/http-events.js';
import type { EventPeers } from './events/peer-events.js';
import {
  DEFAULT_NODES_LIMIT,
  MAX_NODES_LIMIT,
  NODE_SYNC_STATES,
  type NodesQuery,
} from './nodes-page.js';
import type { NodeSyncState, NodesPageJson, WhoamiJson } from '@ferry/shared/api-wire';
import {
  processMetrics,
  PROMETHEUS_CONTENT_TYPE,
  type MetricsRegistry,
} from '../metrics/registry.js';
import {
  BodyTooLargeError,
  expectMethod,
  isYaml,
  MethodNotAllowed,
  optionalBoolean,
  optionalRevision,
  optionalString,
  parseJsonObject,
  parseYamlDocuments,
  queryBoolean,
  queryObject,
  readBody,
  resolveType,
} from './http-request.js';
import {
  applyResponseJson,
  historyJson,
  listResponseJson,
  nodeStatusJson,
  resourceJson,
  statusJson,
  unansweredReplicaJson,
} from './wire-json.js';

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** A client must have sent its request headers within this long (slow-header clients). */
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;
/** ... and its whole request within this long (slow-body clients). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_HTTP_API_PORT = 18001;

export interface HttpApiOptions {
  readonly service: ManagementService;
  /** Who is calling; while it allows the open mode, only loopback addresses may be bound. */
  readonly authenticator: Authenticator;
  /** Serve HTTPS (and accept client certificates when it has a client CA). */
  readonly tls?: ApiTls;
  readonly logger?: Logger;
  /** Larger bodies are refused with 413. Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** JSON/YAML bodies nesting deeper are refused with 400 (default DEFAULT_MAX_NESTING_DEPTH). */
  readonly maxNestingDepth?: number;
  /** Connections that have not sent their headers within this are closed (408). */
  readonly headersTimeoutMs?: number;
  /** Connections that have not sent their whole request within this are closed (408). */
  readonly requestTimeoutMs?: number;
  /** Run a full garbage collection before each /metrics scrape (leak tests only). */
  readonly collectGarbageOnScrape?: boolean;
  /** Served at GET /metrics (default: the process registry). */
  readonly metrics?: MetricsRegistry;
  /** The WAF filters this replica's proxies run; GET /v1/waf answers 404 without it. */
  readonly waf?: (readable: (group: string) => boolean, group?: string) => WafStatusJson;
  /** Proxies' health reports (HDS); GET /v1/health answers 404 without it. */
  readonly health?: HealthStatusSource;
  /** Proxies' load reports (LRS); GET /v1/load answers 404 without it. */
  readonly load?: LoadSource;
  /**
   * The last hour of this replica's load reports and, when set, the other replicas to merge theirs
   * from; GET /v1/load/history answers 404 without it.
   */
  readonly loadHistory?: { readonly source: LoadHistory; readonly peers?: PeerStatus };
  /**
   * ACME certificates and certificates in Secrets of `group` (every group when undefined) that
   * `readable` allows; GET /v1/certificates answers 404 without it.
   */
  readonly certificates?: (
    group: string | undefined,
    readable: (group: string) => boolean,
  ) => Promise<unknown>;
  /**
   * Honour an incoming W3C `traceparent` (tracing on): the request's writes become its children,
   * so ferryctl or a CI job can be an apply's parent.
   */
  readonly traceContext?: boolean;
  /** Progressive rollouts; the /v1/rollouts routes answer 404 without it. */
  readonly rollouts?: RolloutService;
  /** The dashboard, served under /ui/; /ui/ answers 404 without it. */
  readonly ui?: UiAssets;
  /** The event stream; GET /v1/events answers 404 without it. Closed with the API. */
  readonly events?: EventHub;
  /** An event stream with more unsent bytes is cut off (the client resumes). Default 4 MiB. */
  readonly eventsBufferBytes?: number;
  /** The other replicas whose node events GET /v1/events merges in (unless `local=true`). */
  readonly eventPeers?: EventPeers;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  /** Set for a plain-text body (a string sent as is); otherwise `body` is sent as JSON. */
  readonly contentType?: string;
  /** Set for a streamed response: it takes over the response instead of `body`. */
  readonly stream?: (res: ServerResponse) => void;
}

export class HttpApi {
  private readonly server: HttpServer | HttpsServer;
  private readonly service: ManagementService;
  private readonly authenticator: Authenticator;
  private readonly tls: boolean;
  private readonly logger: Logger | undefined;
  private readonly maxBodyBytes: number;
  private readonly maxNestingDepth: number;
  private readonly metrics: MetricsRegistry;
  private readonly sampleMemory: () => void;
  private readonly health: HealthStatusSource | undefined;
  private readonly waf: HttpApiOptions['waf'];
  private readonly load: LoadSource | undefined;
  private readonly loadHistory: HttpApiOptions['loadHistory'];
  private readonly certificates: HttpApiOptions['certificates'];
  private readonly traceContext: boolean;
  private readonly rollouts: RolloutService | undefined;
  private readonly ui: UiAssets | undefined;
  private readonly events: EventHub | undefined;
  private readonly eventsBufferBytes: number;
  private readonly eventPeers: EventPeers | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: HttpApiOptions) {
    this.service = options.service;
    this.authenticator = options.authenticator;
    this.tls = options.tls !== undefined;
    this.logger = options.logger;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxNestingDepth = options.maxNestingDepth ?? DEFAULT_MAX_NESTING_DEPTH;
    this.metrics = options.metrics ?? processMetrics;
    this.sampleMemory = processMemoryMetrics(this.metrics, options.collectGarbageOnScrape === true);
    this.health = options.health;
    this.waf = options.waf;
    this.load = options.load;
    this.loadHistory = options.loadHistory;
    this.certificates = options.certificates;
    this.traceContext = options.traceContext === true;
    this.rollouts = options.rollouts;
    this.ui = options.ui;
    this.events = options.events;
    this.eventsBufferBytes = options.eventsBufferBytes ?? DEFAULT_EVENTS_BUFFER_BYTES;
    this.eventPeers = options.eventPeers;
    // Slow clients (slowloris) are cut off by Node's own timers; they are checked every
    // connectionsCheckingInterval, so that interval is a fraction of the shorter timeout.
    const headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    const requestTimeout = Math.max(
      headersTimeout,
      options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    );
    const limits = {
      requestTimeout,
      headersTimeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, headersTimeout / 4)),
    };
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    this.server = options.tls
      ? createHttpsServer({ ...limits, ...httpsServerOptions(options.tls) }, handler)
      : createHttpServer(limits, handler);
  }

  /** "http" or "https". */
  get scheme(): 'http' | 'https' {
    return this.tls ? 'https' : 'http';
  }

  /**
   * Binds; refuses a non-loopback host while the authenticator allows the open mode: requests
   * without credentials are for loopback only.
   */
  async listen(
    host = '127.0.0.1',
    port = DEFAULT_HTTP_API_PORT,
  ): Promise<{ host: string; port: number }> {
    if (this.authenticator.allowsOpenMode && !isLoopback(host)) {
      throw new Error(
        `management API: refusing to listen on ${host} while requests without credentials are allowed; set FERRY_API_TOKEN or bind to 127.0.0.1`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.address();
  }

  address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo | null;
    if (!a) throw new Error('management API: not listening');
    return { host: a.address, port: a.port };
  }

  /**
   * Stops accepting, ends the event streams, lets in-flight requests finish, closes idle
   * keep-alive connections. Idempotent.
   */
  close(): Promise<void> {
    this.events?.close();
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
    return this.closing;
  }

  /** Closes now, dropping in-flight requests. Idempotent. */
  destroy(): void {
    void this.close();
    this.server.closeAllConnections();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.ui && req.url !== undefined && /^\/ui(?:[/?]|$)/.test(req.url)) {
      this.serveUi(req, res, this.ui);
      return;
    }
    let reply: Reply;
    try {
      reply =
        this.traceContext && req.headers.traceparent !== undefined
          ? await context.with(incomingTraceContext(req.headers), () => this.route(req))
          : await this.route(req);
    } catch (err) {
      reply = this.errorReply(req, err);
    }
    if (reply.stream) {
      try {
        reply.stream(res);
        return;
      } catch (err) {
        reply = this.errorReply(req, err);
      }
    }
    const body =
      reply.contentType !== undefined && typeof reply.body === 'string'
        ? reply.body
        : JSON.stringify(reply.body, null, 2) + '\n';
    res.writeHead(reply.status, {
      'content-type': reply.contentType ?? 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      // RFC 6750 section 3: a 401 names the scheme the client should use.
      ...(reply.status === 401 ? { 'www-authenticate': 'Bearer realm="ferry"' } : {}),
    });
    res.end(body);
    // After a refused oversized body, the rest of it is read and discarded, never buffered:
    // closing with unread bytes would make TCP reset the connection, which can destroy the 413
    // before the client reads it. --api-request-timeout-ms bounds how long a client may go on.
    if (reply.status === 413) req.resume();
  }

  /**
   * The dashboard's files: revalidated on every load (ETag, 304) so a new control plane's UI is
   * never mixed with an old one's cached modules; the policy headers on every answer.
   */
  private serveUi(req: IncomingMessage, res: ServerResponse, ui: UiAssets): void {
    const url = new URL(req.url ?? '/', 'http://ferry.invalid');
    const headers = {
      'content-security-policy': UI_CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
    };
    const plain = (status: number, text: string, extra: Record<string, string> = {}): void => {
      res.writeHead(status, {
        ...headers,
        ...extra,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
      });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return plain(405, `${req.method ?? ''} is not allowed on ${url.pathname}: only GET\n`, {
        allow: 'GET, HEAD',
      });
    if (url.pathname === '/ui') return plain(308, 'see /ui/\n', { location: '/ui/' });
    const asset = ui.get(url.pathname.slice('/ui/'.length));
    if (!asset) return plain(404, `no dashboard file ${url.pathname}\n`);
    const common = { ...headers, etag: asset.etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, common);
      res.end();
      return;
    }
    res.writeHead(200, {
      ...common,
      'content-type': asset.contentType,
      'content-length': asset.body.length,
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  private errorReply(req: IncomingMessage, err: unknown): Reply {
    if (err instanceof BodyTooLargeError) {
      return {
        status: 413,
        body: { code: 'FERRY_BAD_REQUEST', message: err.message, details: [] },
      };
    }
    if (err instanceof MethodNotAllowed) {
      return {
        status: 405,
        body: { code: 'FERRY_BAD_REQUEST', message: err.message, details: [] },
      };
    }
    if (isFerryError(err)) return { status: err.status, body: err.toJSON() };
    this.logger?.error(
      { err, method: req.method, path: req.url?.split('?')[0] },
      'management API request failed',
    );
    const internal = new FerryError(
      'FERRY_INTERNAL',
      `internal error: ${(err as Error)?.message ?? String(err)}`,
    );
    return { status: internal.status, body: internal.toJSON() };
  }

  private async route(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://ferry.invalid');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (path === '/healthz') {
      expectMethod(method, ['GET', 'HEAD']);
      return { status: 200, body: { status: 'ok' } };
    }
    const caller = await this.authenticator.authenticate({
      authorization: req.headers.authorization,
      verifiedCertificate: verifiedPeerCertificate(req.socket),
    });
    if (path === '/metrics') {
      expectMethod(method, ['GET', 'HEAD']);
      this.sampleMemory();
      return { status: 200, body: this.metrics.render(), contentType: PROMETHEUS_CONTENT_TYPE };
    }
    const service = this.service;
    const ok = (body: unknown): Reply => ({ status: 200, body });
    if (path === '/v1/apply') {
      expectMethod(method, ['POST']);
      return ok(applyResponseJson(await service.apply(await this.applyRequest(req, url), caller)));
    }
    if (path === '/v1/resources') {
      expectMethod(method, ['GET']);
      const type = url.searchParams.get('type');
      return ok(
        listResponseJson(
          await service.list(
            {
              typeUrl: type ? resolveType(type).typeUrl : undefined,
              name: url.searchParams.get('name') ?? undefined,
              group: url.searchParams.get('group') ?? undefined,
              showSecrets: queryBoolean(url, 'show_secrets'),
              atRevision: optionalRevision(queryObject(url), 'revision'),
            },
            caller,
          ),
        ),
      );
    }
    const one = /^\/v1\/resources\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (one) {
      expectMethod(method, ['GET', 'DELETE']);
      const type = resolveType(decodeURIComponent(one[1] ?? ''));
      const name = decodeURIComponent(one[2] ?? '');
      const group = url.searchParams.get('group') ?? undefined;
      if (method === 'GET') {
        return ok(
          resourceJson(
            await service.get(type.typeUrl, name, group, queryBoolean(url, 'show_secrets'), caller),
          ),
        );
      }
      const query = queryObject(url);
      return ok(
        applyResponseJson(
          await service.delete(
            {
              group,
              resources: [{ typeUrl: type.typeUrl, name }],
              dryRun: queryBoolean(url, 'dry_run'),
              expectedRevision: optionalRevision(query, 'expected_revision'),
              message: optionalString(query, 'message'),
              force: queryBoolean(url, 'force'),
            },
            caller,
          ),
        ),
      );
    }
    if (path === '/v1/delete') {
      expectMethod(method, ['POST']);
      const body = parseJsonObject(
        await readBody(req, this.maxBodyBytes),
        ['group', 'resources', 'dry_run', 'expected_revision', 'message', 'force'],
        this.maxNestingDepth,
      );
      return ok(
        applyResponseJson(
          await service.delete(
            { ...writeFields(body), resources: deleteTargets(body.resources) },
            caller,
          ),
        ),
      );
    }
    if (path === '/v1/history') {
      expectMethod(method, ['GET']);
      const limit = optionalRevision(queryObject(url), 'limit');
      const entries = await service.history(limit, caller);
      return ok(historyJson(entries, await service.historyBase()));
    }
    if (path === '/v1/rollback') {
      expectMethod(method, ['POST']);
      const body = parseJsonObject(
        await readBody(req, this.maxBodyBytes),
        ['revision', 'group', 'dry_run', 'message', 'force'],
        this.maxNestingDepth,
      );
      const revision = optionalRevision(body, 'revision');
      if (revision === undefined) throw new FerryError('FERRY_BAD_REQUEST', 'revision: required');
      const { dryRun, message, group, force } = writeFields(body);
      return ok(
        applyResponseJson(
          await service.rollback({ revision, group, dryRun, message, force }, caller),
        ),
      );
    }
    if (path === '/v1/status') {
      expectMethod(method, ['GET']);
      const query = queryObject(url);
      const nodeId = optionalString(query, 'node');
      return ok(
        statusJson(
          await service.status(
            caller,
            { ...(nodeId ? { nodeId } : {}), resources: queryBoolean(url, 'resources') },
            // `local=true`: this replica's proxies only (what a peer asks for).
            queryBoolean(url, 'local')
              ? undefined
              : {
                  authorization: req.headers.authorization,
                  viaCertificate: caller.via === 'certificate',
                },
          ),
        ),
      );
    }
    if (path === '/v1/nodes') {
      expectMethod(method, ['GET']);
      const query = nodesQuery(url);
      const page = await service.nodes(
        caller,
        query,
        // `local=true`: this replica's proxies only.
        queryBoolean(url, 'local')
          ? undefined
          : {
              authorization: req.headers.authorization,
              viaCertificate: caller.via === 'certificate',
            },
      );
      return ok({
        revision: page.revision,
        total: page.total,
        counts: page.counts,
        groups: page.groups,
        offset: query.offset,
        limit: query.limit,
        nodes: page.nodes.map((n) => ({ ...nodeStatusJson(n.node), state: n.state })),
        ...(page.unansweredReplicas
          ? { unanswered_replicas: page.unansweredReplicas.map(unansweredReplicaJson) }
          : {}),
      } satisfies NodesPageJson);
    }
    if (path === '/v1/events' && this.events) {
      expectMethod(method, ['GET']);
      const hub = this.events;
      const query = eventsQuery(req, url);
      return {
        status: 200,
        body: undefined,
        stream: (res) =>
          serveEvents(req, res, {
            hub,
            caller,
            query,
            maxBufferBytes: this.eventsBufferBytes,
            peers: this.eventPeers,
            forward: {
              authorization: req.headers.authorization,
              viaCertificate: caller.via === 'certificate',
            },
            ...(this.logger ? { logger: this.logger } : {}),
          }),
      };
    }
    if (path === '/v1/health' && this.health) {
      expectMethod(method, ['GET']);
      const query = queryObject(url);
      return ok(
        scopedHealthJson(
          this.health,
          { group: optionalString(query, 'group'), cluster: optionalString(query, 'cluster') },
          caller,
        ),
      );
    }
    if (path === '/v1/waf' && this.waf) {
      expectMethod(method, ['GET']);
      return ok(
        this.waf((group) => canRead(caller, group), optionalString(queryObject(url), 'group')),
      );
    }
    if (path === '/v1/load/history' && this.loadHistory) {
      expectMethod(method, ['GET']);
      const query = queryObject(url);
      const { source, peers } = this.loadHistory;
      return ok(
        await scopedLoadHistoryJson(
          source,
          {
            group: optionalString(query, 'group'),
            cluster: optionalString(query, 'cluster'),
            localities: queryBoolean(url, 'localities'),
          },
          caller,
          // `local=true`: this replica's proxies only (what a peer asks for).
          peers && !queryBoolean(url, 'local')
            ? {
                peers,
                caller: {
                  authorization: req.headers.authorization,
                  viaCertificate: caller.via === 'certificate',
                },
              }
            : undefined,
        ),
      );
    }
    if (path === '/v1/load' && this.load) {
      expectMethod(method, ['GET']);
      const query = queryObject(url);
      return ok(
        scopedLoadJson(
          this.load,
          { group: optionalString(query, 'group'), cluster: optionalString(query, 'cluster') },
          caller,
        ),
      );
    }
    if (path === '/v1/certificates' && this.certificates) {
      expectMethod(method, ['GET']);
      return ok(
        await this.certificates(optionalString(queryObject(url), 'group'), (group) =>
          canRead(caller, group),
        ),
      );
    }
    if (path === '/v1/whoami') {
      expectMethod(method, ['GET']);
      return ok({
        name: caller.name,
        role: caller.role,
        groups: caller.groups,
        via: caller.via,
      } satisfies WhoamiJson);
    }
    if (path === '/v1/tokens' || path.startsWith('/v1/tokens/'))
      return tokenRoute(this.service, {
        method,
        path,
        caller,
        body: () => readBody(req, this.maxBodyBytes),
      });
    if (this.rollouts && (path === '/v1/rollouts' || path.startsWith('/v1/rollouts/')))
      return rolloutRoute(this.rollouts, {
        method,
        path,
        query: url.searchParams,
        caller,
        body: () => readBody(req, this.maxBodyBytes),
      });
    throw new FerryError('FERRY_NOT_FOUND', `no API route ${method} ${url.pathname}`);
  }

  private async applyRequest(
    req: IncomingMessage,
    url: URL,
  ): Promise<Parameters<ManagementService['apply']>[0]> {
    const raw = await readBody(req, this.maxBodyBytes);
    if (isYaml(req)) {
      const query = queryObject(url);
      return {
        documents: parseYamlDocuments(raw, this.maxNestingDepth),
        group: optionalString(query, 'group'),
        dryRun: queryBoolean(url, 'dry_run'),
        expectedRevision: optionalRevision(query, 'expected_revision'),
        message: optionalString(query, 'message'),
        force: queryBoolean(url, 'force'),
      };
    }
    const body = parseJsonObject(
      raw,
      ['group', 'resources', 'dry_run', 'expected_revision', 'message', 'force'],
      this.maxNestingDepth,
    );
    if (!Array.isArray(body.resources))
      throw new FerryError(
        'FERRY_BAD_REQUEST',
        'resources: expected an array of resource documents',
      );
    return { ...writeFields(body), documents: body.resources };
  }
}

/** GET /v1/nodes's query; a malformed value is a FERRY_BAD_REQUEST naming it. */
function nodesQuery(url: URL): NodesQuery {
  const query = queryObject(url);
  const state = optionalString(query, 'state');
  if (state !== undefined && !(NODE_SYNC_STATES as readonly string[]).includes(state))
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `state: expected one of ${NODE_SYNC_STATES.join(', ')}, got ${JSON.stringify(state)}`,
    );
  const offset = queryCount(url, 'offset') ?? 0;
  const limit = queryCount(url, 'limit') ?? DEFAULT_NODES_LIMIT;
  if (limit < 1 || limit > MAX_NODES_LIMIT)
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `limit: expected 1 to ${MAX_NODES_LIMIT}, got ${limit}; page with offset`,
    );
  const group = optionalString(query, 'group');
  const q = optionalString(query, 'q');
  return {
    ...(group ? { group } : {}),
    ...(state !== undefined ? { state: state as NodeSyncState } : {}),
    ...(q ? { q } : {}),
    offset,
    limit,
  };
}

function queryCount(url: URL, field: string): number | undefined {
  const v = url.searchParams.get(field);
  if (v === null) return undefined;
  const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
  if (Number.isNaN(n))
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${field}: expected a non-negative integer, got ${JSON.stringify(v)}`,
    );
  return n;
}

function writeFields(body: Record<string, unknown>): {
  group?: string;
  dryRun?: boolean;
  expectedRevision?: number;
  message?: string;
  force?: boolean;
} {
  return {
    group: optionalString(body, 'group'),
    dryRun: optionalBoolean(body, 'dry_run'),
    expectedRevision: optionalRevision(body, 'expected_revision'),
    message: optionalString(body, 'message'),
    force: optionalBoolean(body, 'force'),
  };
}

function deleteTargets(value: unknown): Array<{ typeUrl: string; name: string }> {
  if (!Array.isArray(value))
    throw new FerryError('FERRY_BAD_REQUEST', 'resources: expected an array of {type, name}');
  return value.map((item, i) => {
    const obj = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const type = optionalString(obj, 'type') ?? optionalString(obj, 'type_url');
    const name = optionalString(obj, 'name');
    if (!type || !name)
      throw new FerryError('FERRY_BAD_REQUEST', `resources[${i}]: expected {type, name}`);
    return { typeUrl: resolveType(type, `resources[${i}].type`).typeUrl, name };
  });
}
