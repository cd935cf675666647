/**
 * The per-request side of ferry.filters.http.waf. One WafTransaction per request runs the
 * compiled rule set's phases as the stream passes:
 * - decodeHeaders: phase 1; the request is held ('stop') while its body is read;
 * - request body: kept by the filter manager ('stop-and-buffer', reading paused above the
 *   limit) up to request_body_limit, then phase 2 on the whole body. A longer body is answered
 *   413 in ON mode; otherwise its first request_body_limit bytes are inspected;
 * - encodeHeaders: phase 3; with inspect_response_body the response is held and its body (up to
 *   response_body_limit, of SecResponseBodyMimeType types) goes through phase 4;
 * - the end of the stream: phase 5, the audit record, stats.
 * A disruptive action answers with its status (403 by default) through sendLocalReply with
 * %RESPONSE_CODE_DETAILS% `waf_blocked{rule_<id>}`; `drop` resets the stream. Dynamic metadata
 * `ferry.waf` carries matched_rule_ids, anomaly_score and mode; a traced (sampled) request gets a
 * `waf.match` event on its server span.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHeaderMap, ResponseHeaderMap } from '../../../http/header-map.js';
import type { CounterHandle } from '../../../stats/stats.js';
import {
  PersistentCollections,
  WafCompileError,
  WafTransaction,
  type CompiledRuleSet,
  type EngineMode,
  type Intervention,
} from '../../../waf/seclang/index.js';
import type { Logger } from '@ferry/shared';
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterFactoryContext,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamFilter,
  StreamFilterFactory,
} from '../filter.js';
import { auditSink, type AuditSink } from './audit-log.js';
import { combineSources, ruleSetFor } from './rule-set-cache.js';
import {
  WAF_METADATA_NAMESPACE,
  type WafConfigModel,
  type WafModeModel,
  type WafPerRouteModel,
} from './model.js';

/** IP/GLOBAL collections of this worker, shared by every rule set. */
const persistent = new PersistentCollections();

const ENGINE_MODE: Record<WafModeModel, EngineMode> = {
  ON: 'On',
  DETECTION_ONLY: 'DetectionOnly',
  OFF: 'Off',
};
const MODE_NAME: Record<EngineMode, string> = {
  On: 'ON',
  DetectionOnly: 'DETECTION_ONLY',
  Off: 'OFF',
};

/**
 * The event added to a sampled request's server span when rules matched: waf.rule_ids,
 * waf.anomaly_score, waf.action (blocked | detected), waf.mode, waf.rule_set (its hash).
 */
export const WAF_SPAN_EVENT = 'waf.match';

export const wafBlockedDetails = (ruleId: number): string => `waf_blocked{rule_${ruleId}}`;
export const WAF_BODY_TOO_LARGE_DETAILS = 'waf_request_body_too_large';
export const WAF_RULE_SET_ERROR_DETAILS = 'waf_rule_set_error';

/** The action label of waf_rule_matched. */
type RuleAction = 'blocked' | 'detected' | 'logged';

const STATUS_TEXT: Record<number, string> = { 403: 'Forbidden', 413: 'Payload Too Large' };
const EMPTY_BODY = Buffer.alloc(0);

/** Per HCM and config version: the compiled rule set, stats and the audit sink. */
export class WafFilter implements StreamFilterFactory {
  readonly ruleSet: CompiledRuleSet;
  readonly requestsPassed: CounterHandle;
  readonly requestsBlocked: CounterHandle;
  readonly requestsDetected: CounterHandle;
  readonly audit: AuditSink | undefined;
  readonly logger: Logger;
  /** waf_rule_matched by action and rule id. */
  readonly #ruleCounters: Record<RuleAction, Map<number, CounterHandle>> = {
    blocked: new Map(),
    detected: new Map(),
    logged: new Map(),
  };
  /** Route rule sets of this config version by the route directives' hash. */
  readonly #routeRuleSets = new Map<string, CompiledRuleSet | Error>();
  readonly #labels: { listener: string; stat_prefix: string };
  /**
   * REQUEST_HEADERS are the client's, as nginx's ModSecurity sees them: not what the connection
   * manager adds (a fresh x-request-id each request, x-forwarded-proto, x-envoy-internal, ...),
   * which no client controls and which would give the rules a new text to inspect per request.
   */
  readonly inspectsClientHeaders = true;

  constructor(
    readonly config: WafConfigModel,
    readonly context: FilterFactoryContext,
  ) {
    // Compiled at config apply; the primary compiled the same sources, so this cannot fail
    // short of a bug, and then the config is not applied.
    this.ruleSet = ruleSetFor(config.sources);
    this.logger = context.logger;
    this.#labels = { listener: context.listenerName, stat_prefix: context.statPrefix };
    this.requestsPassed = context.stats.counter('waf_requests_passed', this.#labels);
    this.requestsBlocked = context.stats.counter('waf_requests_blocked', this.#labels);
    this.requestsDetected = context.stats.counter('waf_requests_detected', this.#labels);
    this.audit =
      config.auditLog === undefined ? undefined : auditSink(config.auditLog.path, context.logger);
    for (const w of this.ruleSet.warnings) context.logger.warn({ waf: w }, 'waf rule set warning');
  }

  create(callbacks: FilterCallbacks): StreamFilter {
    return new WafStreamFilter(this, callbacks);
  }

  /** waf_rule_matched{rule_id, action}: blocked | detected | logged. */
  countRule(ruleId: number, action: RuleAction): void {
    const counters = this.#ruleCounters[action];
    let c = counters.get(ruleId);
    if (c === undefined) {
      c = this.context.stats.counter('waf_rule_matched', {
        ...this.#labels,
        rule_id: String(ruleId),
        action,
      });
      counters.set(ruleId, c);
    }
    c.inc();
  }

  /** Compiles a route's rule set at config apply (see StreamFilterFactory.prepareRoute). */
  prepareRoute(perRoute: unknown): void {
    const model = perRoute as WafPerRouteModel;
    if (model.sources !== undefined) this.routeRuleSet(model);
  }

  /**
   * The rule set of a route with extra directives, by the route directives' content hash.
   * Translation compiled the pair (a pair that does not compile is NACKed) and prepareRoute
   * compiled it here before any request; an error is then a bug, answered 500 on the route.
   */
  routeRuleSet(perRoute: WafPerRouteModel): CompiledRuleSet | Error {
    const key = perRoute.sources!.hash;
    let rs = this.#routeRuleSets.get(key);
    if (rs === undefined) {
      try {
        rs = ruleSetFor(combineSources(this.config.sources, perRoute.sources!));
      } catch (err) {
        rs = err instanceof WafCompileError ? err : (err as Error);
        this.logger.error(
          { err: rs.message },
          'waf: the filter’s and the route’s directives do not compile together; requests on the route get 500',
        );
      }
      this.#routeRuleSets.set(key, rs);
    }
    return rs;
  }
}

class WafStreamFilter implements StreamFilter {
  #tx: WafTransaction | undefined;
  #requestHeaders: RequestHeaderMap | undefined;
  /** Request body being collected (headers held). */
  #collectingRequest = false;
  #requestBytes = 0;
  #requestLimit = 0;
  #collectingResponse = false;
  #responseBytes = 0;
  #replying = false;
  #blocked: Intervention | undefined;
  #status = 0;
  /** What the dynamic metadata last written holds (see #updateMetadata). */
  #metadataMatched = -1;
  #metadataScore = 0;
  #metadataMode: EngineMode | undefined;

  constructor(
    readonly filter: WafFilter,
    readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap, endStream: boolean): FilterHeadersStatus {
    const filter = this.filter;
    const perRoute = this.callbacks.perFilterConfig() as WafPerRouteModel | undefined;
    if (perRoute?.disabled === true) return 'continue';
    let ruleSet = filter.ruleSet;
    if (perRoute?.sources !== undefined) {
      const rs = filter.routeRuleSet(perRoute);
      if (rs instanceof Error) {
        this.#reply(500, 'Internal Server Error', WAF_RULE_SET_ERROR_DETAILS);
        return 'stop';
      }
      ruleSet = rs;
    }
    const modeModel = perRoute?.mode ?? filter.config.mode;
    const mode = modeModel === undefined ? ruleSet.engineMode : ENGINE_MODE[modeModel];
    if (mode === 'Off') return 'continue';
    const tx = new WafTransaction(ruleSet, persistent, mode, filter.config.limits);
    this.#tx = tx;
    this.#requestHeaders = headers;
    const info = this.callbacks.streamInfo;
    const flat = info.clientRequestHeaders ?? headers.toFlat();
    const list: Array<[string, string]> = [['host', headers.authority]];
    for (let i = 0; i < flat.length; i += 2) list.push([flat[i]!, flat[i + 1]!]);
    const iv = tx.processRequestHeaders({
      method: headers.method,
      uri: headers.path,
      protocol: headers.protocol === 'HTTP/2' ? 'HTTP/2.0' : headers.protocol,
      headers: list,
      remoteAddr: info.downstreamRemoteIp,
      remotePort: info.connection.socket.remotePort ?? 0,
      uniqueId: info.requestId === '' ? randomUUID() : info.requestId,
    });
    if (iv !== undefined) return this.#intervene(iv);
    // A request without a body has an empty one, not an uninspected one: its processor runs on
    // zero bytes as ModSecurity's does (an XML one fails and rule 200002 answers 400).
    const inspected = !filter.config.skipRequestBody && tx.requestBodyAccess;
    if (endStream || !inspected) {
      const iv2 = tx.processRequestBody(inspected ? EMPTY_BODY : undefined);
      this.#updateMetadata();
      return iv2 === undefined ? 'continue' : this.#intervene(iv2);
    }
    this.#collectingRequest = true;
    this.#requestLimit = filter.config.requestBodyLimit;
    this.callbacks.setDecoderBufferLimit(this.#requestLimit);
    return 'stop';
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (!this.#collectingRequest)
      return this.#blocked === undefined ? 'continue' : 'stop-no-buffer';
    const tx = this.#tx!;
    this.#requestBytes += data.length;
    if (this.#requestBytes > this.#requestLimit) {
      this.#collectingRequest = false;
      if (tx.mode === 'On') {
        const iv = tx.interveneOnLimit(413, 'request body above the WAF limit');
        this.#blocked = iv;
        this.#reply(413, STATUS_TEXT[413]!, WAF_BODY_TOO_LARGE_DETAILS);
        return 'stop-no-buffer';
      }
      // Detection only: the first request_body_limit bytes are inspected, all of it passes.
      const body = Buffer.concat([...this.callbacks.decodingBuffer(), data]);
      tx.processRequestBody(body.subarray(0, this.#requestLimit));
      this.#updateMetadata();
      return 'continue';
    }
    if (!endStream) return 'stop-and-buffer';
    return this.#requestBodyDone(data);
  }

  decodeTrailers(): FilterTrailersStatus {
    if (!this.#collectingRequest) return 'continue';
    return this.#requestBodyDone(undefined) === 'continue' ? 'continue' : 'stop';
  }

  #requestBodyDone(last: Buffer | undefined): FilterDataStatus {
    this.#collectingRequest = false;
    const buffered = this.callbacks.decodingBuffer();
    const parts = last === undefined ? buffered : [...buffered, last];
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const iv = this.#tx!.processRequestBody(body);
    this.#updateMetadata();
    if (iv === undefined) return 'continue';
    this.#intervene(iv);
    return 'stop-no-buffer';
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): FilterHeadersStatus {
    this.#status = headers.status;
    const tx = this.#tx;
    if (tx === undefined || this.#replying || this.#blocked !== undefined) return 'continue';
    const flat = headers.toFlat();
    const list: Array<[string, string]> = [];
    for (let i = 0; i < flat.length; i += 2) list.push([flat[i]!, flat[i + 1]!]);
    const protocol = this.#requestHeaders?.protocol ?? 'HTTP/1.1';
    const iv = tx.processResponseHeaders(headers.status, protocol, list);
    if (iv !== undefined) return this.#intervene(iv);
    if (!this.filter.config.inspectResponseBody || endStream) {
      if (this.filter.config.inspectResponseBody) {
        const iv2 = tx.processResponseBody(undefined);
        if (iv2 !== undefined) return this.#intervene(iv2);
      }
      this.#updateMetadata();
      return 'continue';
    }
    const type = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (!tx.ruleSet.responseBodyMimeTypes.includes(type)) return 'continue';
    this.#collectingResponse = true;
    return 'stop';
  }

  encodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (!this.#collectingResponse) return 'continue';
    this.#responseBytes += data.length;
    const limit = this.filter.config.responseBodyLimit;
    const over = this.#responseBytes > limit;
    if (!endStream && !over) return 'stop-and-buffer';
    this.#collectingResponse = false;
    const body = Buffer.concat([...this.callbacks.encodingBuffer(), data]);
    // Above the limit the first response_body_limit bytes are inspected (ModSecurity's
    // SecResponseBodyLimitAction ProcessPartial).
    const iv = this.#tx!.processResponseBody(over ? body.subarray(0, limit) : body);
    this.#updateMetadata();
    if (iv === undefined) return 'continue';
    this.#intervene(iv);
    return 'stop-no-buffer';
  }

  encodeTrailers(): FilterTrailersStatus {
    if (!this.#collectingResponse) return 'continue';
    this.#collectingResponse = false;
    const iv = this.#tx!.processResponseBody(Buffer.concat([...this.callbacks.encodingBuffer()]));
    this.#updateMetadata();
    if (iv === undefined) return 'continue';
    this.#intervene(iv);
    return 'stop';
  }

  onDestroy(): void {
    const tx = this.#tx;
    if (tx === undefined) return;
    tx.processLogging();
    const filter = this.filter;
    const blocked = this.#blocked !== undefined;
    const matched = tx.matched;
    const outcome = blocked ? 'blocked' : matched.length > 0 ? 'detected' : 'passed';
    (blocked
      ? filter.requestsBlocked
      : outcome === 'detected'
        ? filter.requestsDetected
        : filter.requestsPassed
    ).inc();
    for (const m of matched)
      filter.countRule(
        m.id,
        m.disruptive ? 'blocked' : blocked ? 'logged' : tx.mode === 'On' ? 'logged' : 'detected',
      );
    this.#updateMetadata();
    const info = this.callbacks.streamInfo;
    const trace = info.trace;
    if (matched.length > 0 && trace !== undefined && trace.sampled)
      trace.addEvent(WAF_SPAN_EVENT, {
        'waf.rule_ids': matched.map((m) => m.id),
        'waf.anomaly_score': tx.anomalyScore,
        'waf.action': outcome,
        'waf.mode': MODE_NAME[tx.mode],
        'waf.rule_set': tx.ruleSet.hash,
      });
    const audit = filter.audit;
    if (audit === undefined || !tx.auditEnabled) return;
    if (matched.length === 0 && filter.config.auditLog?.allRequests !== true) return;
    const headers = this.#requestHeaders;
    audit.write({
      request_id: info.requestId,
      trace_id: info.trace?.traceId ?? '',
      client_ip: info.downstreamRemoteIp,
      method: headers?.method ?? '',
      path: headers?.path ?? '',
      mode: MODE_NAME[tx.mode],
      outcome,
      status: this.#status,
      anomaly_score: tx.anomalyScore,
      outbound_anomaly_score: tx.outboundAnomalyScore,
      rule_set: tx.ruleSet.hash,
      matched_rules: matched.map((m) => ({
        id: m.id,
        phase: m.phase,
        msg: m.msg,
        data: m.data,
        severity: m.severity,
      })),
    });
  }

  /**
   * `ferry.waf` dynamic metadata: matched_rule_ids, anomaly_score, mode; rewritten only when
   * one of them changed since the last time.
   */
  #updateMetadata(): void {
    const tx = this.#tx!;
    const matched = tx.matched.length;
    const score = tx.anomalyScore;
    const mode = tx.mode;
    if (
      matched === this.#metadataMatched &&
      score === this.#metadataScore &&
      mode === this.#metadataMode
    )
      return;
    this.#metadataMatched = matched;
    this.#metadataScore = score;
    this.#metadataMode = mode;
    const md = this.callbacks.streamInfo.dynamicMetadata;
    let ns = md.get(WAF_METADATA_NAMESPACE);
    if (ns === undefined) md.set(WAF_METADATA_NAMESPACE, (ns = {}));
    ns.matched_rule_ids = tx.matched.map((m) => m.id);
    ns.anomaly_score = score;
    ns.mode = MODE_NAME[mode];
  }

  #intervene(iv: Intervention): 'stop' {
    this.#blocked = iv;
    this.#collectingRequest = false;
    this.#collectingResponse = false;
    this.#updateMetadata();
    if (iv.drop) this.callbacks.resetStream();
    else
      this.#reply(
        iv.status,
        STATUS_TEXT[iv.status] ?? 'Request blocked',
        wafBlockedDetails(iv.ruleId),
      );
    return 'stop';
  }

  #reply(status: number, body: string, details: string): void {
    this.#replying = true;
    this.callbacks.sendLocalReply(status, body, { details });
  }
}
