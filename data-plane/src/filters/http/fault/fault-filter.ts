/**
 * The per-request side of envoy.filters.http.fault (Envoy's fault_filter.cc and
 * filters/common/fault/fault_config.cc). For a request that passes the filters (upstream
 * cluster, downstream nodes, header matchers), decided once per request:
 * - delay: with the delay percentage, the request is held for fixed_delay (or the
 *   x-envoy-fault-delay-request milliseconds under header_delay) on a timer; data and
 *   trailers wait with it ('stop-and-watermark'); the abort decision is taken after the delay;
 * - abort: with the abort percentage, a local reply "fault filter abort" with http_status (or,
 *   under header_abort, x-envoy-fault-abort-request 200-599, else x-envoy-fault-abort-grpc-request
 *   as a gRPC status with HTTP 200), details fault_filter_abort;
 * - the *-percentage request headers lower a header-controlled percentage (numerator capped by
 *   the configured one, same denominator); only the first value of a repeated header counts;
 * - max_active_faults: a request that would start a fault while that many are active is left
 *   alone (faults_overflow). One request counts once however many faults it gets; a delay stops
 *   counting when it ends without an abort. The count is per worker process and per HCM
 *   stat_prefix (Envoy's active_faults gauge is per proxy and "fuzzy" as well).
 * The per-route HTTPFault (most specific typed_per_filter_config) replaces the filter's config.
 * Envoy's response flags DI and FI are not recorded: http/response-flags.ts has no codes for them.
 */
import type { FaultFilterModel, FractionalPercentModel } from '../../../config/model.js';
import type { HeaderMap, RequestHeaderMap } from '../../../http/header-map.js';
import type { HeaderLookup } from '../../../router/header-mutations.js';
import type { RandomSource } from '../../../router/route-table.js';
import { compileHeaderMatcher } from '../../../router/route-match.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import type { CounterHandle, GaugeHandle, StatsSink } from '../../../stats/stats.js';
import { percentEnabled } from '../common/fractional-percent.js';
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterFactoryContext,
  FilterHeadersStatus,
  FilterTrailersStatus,
  StreamFilter,
} from '../filter.js';

export const FAULT_ABORT_BODY = 'fault filter abort';
export const FAULT_ABORT_DETAILS = 'fault_filter_abort';

/** Envoy's fault control headers (filters/common/fault/fault_config.h). */
export const FaultHeader = {
  ABORT_REQUEST: 'x-envoy-fault-abort-request',
  ABORT_GRPC_REQUEST: 'x-envoy-fault-abort-grpc-request',
  ABORT_REQUEST_PERCENTAGE: 'x-envoy-fault-abort-request-percentage',
  DELAY_REQUEST: 'x-envoy-fault-delay-request',
  DELAY_REQUEST_PERCENTAGE: 'x-envoy-fault-delay-request-percentage',
  DOWNSTREAM_SERVICE_NODE: 'x-envoy-downstream-service-node',
} as const;

const MAX_UINT32 = 0xffff_ffff;

/** The first value of `name` (Envoy reads only the first value of these untrusted headers). */
function firstValue(headers: HeaderMap, name: string): string | undefined {
  const index = headers.names.indexOf(name);
  return index < 0 ? undefined : headers.values[index];
}

/** absl::SimpleAtoi for an unsigned integer: digits with optional surrounding spaces and `+`. */
function unsignedHeader(headers: HeaderMap, name: string): number | undefined {
  const value = firstValue(headers, name);
  if (value === undefined || !/^\s*\+?\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Faults active now, in this worker, for one HCM (Envoy's `fault.active_faults` gauge). */
export class ActiveFaults {
  count = 0;
}

const activeFaultsByStatPrefix = new Map<string, ActiveFaults>();

/** A fault filter config with its matchers compiled (per-route configs are compiled once too). */
class CompiledFault {
  readonly matchers: ReadonlyArray<(headers: HeaderLookup) => boolean>;
  constructor(readonly model: FaultFilterModel) {
    this.matchers = model.headers.map((m) => compileHeaderMatcher(m));
  }
}

interface FaultStats {
  readonly delaysInjected: CounterHandle;
  readonly abortsInjected: CounterHandle;
  readonly faultsOverflow: CounterHandle;
  readonly activeFaults: GaugeHandle;
}

function faultStats(sink: StatsSink, labels: Readonly<Record<string, string>>): FaultStats {
  return {
    delaysInjected: sink.counter('fault_delays_injected', labels),
    abortsInjected: sink.counter('fault_aborts_injected', labels),
    faultsOverflow: sink.counter('fault_faults_overflow', labels),
    activeFaults: sink.gauge('fault_active_faults', labels),
  };
}

export interface FaultFilterOptions {
  /** Percentage rolls (tests inject a sequence); default Math.random. */
  readonly random?: RandomSource;
  /** The active-fault count to share (default: this worker's, per stat_prefix). */
  readonly activeFaults?: ActiveFaults;
}

/** Built once per HCM and config version: the filter config, its stats and the shared count. */
export class FaultFilter {
  readonly config: CompiledFault;
  readonly stats: FaultStats;
  readonly active: ActiveFaults;
  readonly random: RandomSource;
  /** Per-route configs compiled on first use; keyed by the (immutable) model object. */
  readonly #perRoute = new WeakMap<FaultFilterModel, CompiledFault>();

  constructor(
    config: FaultFilterModel,
    context: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'listenerName'>,
    options: FaultFilterOptions = {},
  ) {
    this.config = new CompiledFault(config);
    this.stats = faultStats(context.stats, {
      listener: context.listenerName,
      stat_prefix: context.statPrefix,
    });
    this.random = options.random ?? Math.random;
    let active = options.activeFaults ?? activeFaultsByStatPrefix.get(context.statPrefix);
    if (active === undefined) {
      active = new ActiveFaults();
      activeFaultsByStatPrefix.set(context.statPrefix, active);
    }
    this.active = active;
  }

  create(callbacks: FilterCallbacks): FaultStreamFilter {
    return new FaultStreamFilter(this, callbacks);
  }

  settingsFor(perRoute: unknown): CompiledFault {
    if (perRoute === undefined) return this.config;
    const model = perRoute as FaultFilterModel;
    let compiled = this.#perRoute.get(model);
    if (compiled === undefined) {
      compiled = new CompiledFault(model);
      this.#perRoute.set(model, compiled);
    }
    return compiled;
  }
}

export class FaultStreamFilter implements StreamFilter {
  #settings: CompiledFault | undefined;
  #headers: RequestHeaderMap | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** This request counts in the active faults. */
  #active = false;

  constructor(
    private readonly filter: FaultFilter,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const settings = this.filter.settingsFor(this.callbacks.perFilterConfig());
    const model = settings.model;
    if (model.delay === undefined && model.abort === undefined) return 'continue';
    if (!this.#targeted(settings, headers)) return 'continue';
    this.#settings = settings;
    this.#headers = headers;
    const delayMs = this.#delayMs(headers);
    if (delayMs !== undefined && this.#tryActivate()) {
      this.filter.stats.delaysInjected.inc();
      this.callbacks.streamInfo.addResponseFlag(ResponseFlag.DELAY_INJECTED);
      this.#setMetadata();
      this.#timer = setTimeout(FaultStreamFilter.#delayElapsed, delayMs, this);
      return 'stop';
    }
    return this.#maybeAbort(headers) ? 'stop' : 'continue';
  }

  decodeData(): FilterDataStatus {
    // Held with the headers while delayed; backpressure instead of buffering without bound.
    return this.#timer === undefined ? 'continue' : 'stop-and-watermark';
  }

  decodeTrailers(): FilterTrailersStatus {
    return this.#timer === undefined ? 'continue' : 'stop';
  }

  onDestroy(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#deactivate();
  }

  /** upstream_cluster, downstream_nodes and headers all allow a fault for this request. */
  #targeted(settings: CompiledFault, headers: RequestHeaderMap): boolean {
    const model = settings.model;
    if (
      model.upstreamCluster !== '' &&
      this.callbacks.route()?.clusterName !== model.upstreamCluster
    )
      return false;
    if (model.downstreamNodes.length > 0) {
      const node = headers.get(FaultHeader.DOWNSTREAM_SERVICE_NODE);
      if (node === undefined || !model.downstreamNodes.includes(node)) return false;
    }
    if (settings.matchers.length === 0) return true;
    return settings.matchers.every((match) => match(headers));
  }

  #percentage(
    configured: FractionalPercentModel,
    headerControlled: boolean,
    headers: RequestHeaderMap,
    header: string,
  ): FractionalPercentModel {
    if (!headerControlled) return configured;
    const numerator = unsignedHeader(headers, header);
    if (numerator === undefined) return configured;
    return {
      numerator: Math.min(numerator, configured.numerator),
      denominator: configured.denominator,
    };
  }

  /** The delay to inject, or undefined (not rolled, no usable header, or 0 ms). */
  #delayMs(headers: RequestHeaderMap): number | undefined {
    const delay = this.#settings!.model.delay;
    if (delay === undefined) return undefined;
    const header = delay.kind === 'header';
    const percentage = this.#percentage(
      delay.percentage,
      header,
      headers,
      FaultHeader.DELAY_REQUEST_PERCENTAGE,
    );
    if (!percentEnabled(percentage, this.filter.random)) return undefined;
    const ms = header ? unsignedHeader(headers, FaultHeader.DELAY_REQUEST) : delay.fixedDelayMs;
    return ms !== undefined && ms > 0 ? ms : undefined;
  }

  /** Aborts the request when the abort fault applies; returns whether it did. */
  #maybeAbort(headers: RequestHeaderMap): boolean {
    const abort = this.#settings!.model.abort;
    if (abort === undefined) return false;
    const header = abort.kind === 'header';
    const percentage = this.#percentage(
      abort.percentage,
      header,
      headers,
      FaultHeader.ABORT_REQUEST_PERCENTAGE,
    );
    if (!percentEnabled(percentage, this.filter.random)) return false;
    let status: number | undefined;
    let grpcStatus: number | undefined;
    if (abort.kind === 'http') status = abort.httpStatus;
    else if (abort.kind === 'grpc') grpcStatus = abort.grpcStatus;
    else {
      const http = unsignedHeader(headers, FaultHeader.ABORT_REQUEST);
      if (http !== undefined && http >= 200 && http < 600) status = http;
      else {
        const grpc = unsignedHeader(headers, FaultHeader.ABORT_GRPC_REQUEST);
        if (grpc !== undefined && grpc <= MAX_UINT32) grpcStatus = grpc;
      }
    }
    // A gRPC status answers with HTTP 200 and that grpc-status (Envoy's abortStatus).
    if (status === undefined && grpcStatus !== undefined) status = 200;
    if (status === undefined || !this.#tryActivate()) return false;
    this.filter.stats.abortsInjected.inc();
    this.#setMetadata();
    this.callbacks.sendLocalReply(status, FAULT_ABORT_BODY, {
      flag: ResponseFlag.FAULT_INJECTED,
      details: FAULT_ABORT_DETAILS,
      ...(grpcStatus !== undefined ? { grpcStatus } : {}),
    });
    return true;
  }

  static #delayElapsed(this: void, filter: FaultStreamFilter): void {
    filter.#timer = undefined;
    if (filter.#maybeAbort(filter.#headers!)) return;
    // The delay is over and nothing else is injected: it no longer counts as active.
    filter.#deactivate();
    filter.callbacks.continueDecoding();
  }

  #tryActivate(): boolean {
    if (this.#active) return true;
    const max = this.#settings!.model.maxActiveFaults;
    if (max !== undefined && this.filter.active.count >= max) {
      this.filter.stats.faultsOverflow.inc();
      return false;
    }
    this.filter.active.count++;
    this.filter.stats.activeFaults.add(1);
    this.#active = true;
    return true;
  }

  #deactivate(): void {
    if (!this.#active) return;
    this.#active = false;
    this.filter.active.count--;
    this.filter.stats.activeFaults.add(-1);
  }

  #setMetadata(): void {
    const metadata = this.#settings!.model.filterMetadata;
    if (metadata === undefined) return;
    const dynamic = this.callbacks.streamInfo.dynamicMetadata;
    const namespace = this.callbacks.name;
    dynamic.set(namespace, { ...dynamic.get(namespace), ...metadata });
  }
}
