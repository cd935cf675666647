/**
 * Rate limit descriptors from a route's `rate_limits` (Envoy's router_ratelimit.cc), shared by
 * envoy.filters.http.local_ratelimit and envoy.filters.http.ratelimit.
 *
 * A RateLimit entry is a list of actions; each action yields one descriptor entry (key, value).
 * The entry's descriptor is produced only when every action succeeds: an action that cannot
 * produce its entry (a request header absent without skip_if_absent, a header_value_match whose
 * outcome is not the expected one, no client IP) drops the whole descriptor, as Envoy does. An
 * action that is skipped (request_headers with skip_if_absent) adds nothing and the others go on.
 *
 * Policies are compiled once per route table (RouteMatchResult.rateLimits); producing
 * descriptors allocates only the descriptors produced (and the query string, for
 * query_parameter_value_match).
 */
import type {
  QueryParameterMatcherModel,
  RateLimitActionModel,
  RateLimitModel,
} from '../config/model.js';
import type { RequestHeaderMap } from '../http/header-map.js';
import { formatIp, parseCidr } from '../listener/cidr.js';
import type { HeaderLookup } from './header-mutations.js';
import { compileHeaderMatcher, compileQueryParameterMatcher } from './route-match.js';

export interface RateLimitDescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** One descriptor: its entries in action order (never empty of meaning: see the module doc). */
export type RateLimitDescriptor = readonly RateLimitDescriptorEntry[];

/**
 * How a filter combines the virtual host's rate_limits with the route's (Envoy's
 * VhRateLimitsOptions): OVERRIDE (default) uses them only when the route has none, INCLUDE
 * always, IGNORE never. A route with include_vh_rate_limits always includes them.
 */
export type VhRateLimitsOption = 'OVERRIDE' | 'INCLUDE' | 'IGNORE';

/** What the descriptors are computed from. */
export interface DescriptorSource {
  readonly headers: RequestHeaderMap;
  /** The trusted client address after XFF processing (StreamInfo.downstreamRemoteIp). */
  readonly downstreamRemoteIp: string;
  /** The routed cluster (RouteMatchResult.clusterName; "" when none). */
  readonly clusterName: string;
  /** The node's cluster (--service-cluster / node.cluster), for source_cluster. */
  readonly localServiceCluster: string;
}

export interface DescriptorOptions {
  /** The filter's stage (0-10): only the entries with this stage apply. */
  readonly stage: number;
  readonly vhRateLimits: VhRateLimitsOption;
  /**
   * Entries with a disable_key are left out (envoy.filters.http.local_ratelimit does so); the
   * global filter keeps them, having no runtime to turn them off.
   */
  readonly skipEntriesWithDisableKey: boolean;
}

const NO_DESCRIPTORS: readonly RateLimitDescriptor[] = Object.freeze([]);

/** The first value of `name` (lower-case), as Envoy's request_headers action reads it. */
function firstHeaderValue(headers: RequestHeaderMap, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* ':' */ || name === 'host') return headers.get(name);
  const names = headers.names;
  for (let i = 0; i < names.length; i++) if (names[i] === name) return headers.values[i];
  return undefined;
}

/** The query string of `path` (between '?' and '#'), "" when none. */
function queryOf(path: string): string {
  const question = path.indexOf('?');
  if (question < 0) return '';
  const hash = path.indexOf('#', question);
  return path.slice(question + 1, hash < 0 ? path.length : hash);
}

/**
 * One compiled action. `produce` returns the entry, `null` to skip it (nothing added), or
 * `undefined` when the descriptor must be dropped.
 */
type CompiledAction = (source: DescriptorSource) => RateLimitDescriptorEntry | null | undefined;

function compileQueryMatchers(
  models: readonly QueryParameterMatcherModel[],
): readonly ((query: string) => boolean)[] {
  return models.map(compileQueryParameterMatcher);
}

function compileAction(model: RateLimitActionModel): CompiledAction {
  switch (model.kind) {
    case 'source_cluster':
      return (s) => ({ key: 'source_cluster', value: s.localServiceCluster });
    case 'destination_cluster':
      return (s) => ({ key: 'destination_cluster', value: s.clusterName });
    case 'request_headers': {
      const { headerName, descriptorKey, skipIfAbsent } = model;
      return (s) => {
        const value = firstHeaderValue(s.headers, headerName);
        if (value === undefined) return skipIfAbsent ? null : undefined;
        return { key: descriptorKey, value };
      };
    }
    case 'remote_address':
      return (s) =>
        s.downstreamRemoteIp === ''
          ? undefined
          : { key: 'remote_address', value: s.downstreamRemoteIp };
    case 'masked_remote_address': {
      const { v4PrefixMaskLen, v6PrefixMaskLen } = model;
      return (s) => {
        const ip = s.downstreamRemoteIp;
        const v6 = ip.includes(':') && !(ip.startsWith('::ffff:') && ip.includes('.'));
        const length = v6 ? v6PrefixMaskLen : v4PrefixMaskLen;
        const cidr = parseCidr(ip, length);
        if (typeof cidr === 'string') return undefined;
        return { key: 'masked_remote_address', value: `${formatIp(cidr.bytes)}/${length}` };
      };
    }
    case 'generic_key': {
      const entry: RateLimitDescriptorEntry = Object.freeze({
        key: model.descriptorKey,
        value: model.descriptorValue,
      });
      return () => entry;
    }
    case 'header_value_match': {
      const entry: RateLimitDescriptorEntry = Object.freeze({
        key: model.descriptorKey,
        value: model.descriptorValue,
      });
      const matchers = model.headers.map(compileHeaderMatcher);
      const expect = model.expectMatch;
      return (s) => {
        const headers: HeaderLookup = s.headers;
        let matched = true;
        for (const matcher of matchers) {
          if (!matcher(headers)) {
            matched = false;
            break;
          }
        }
        return matched === expect ? entry : undefined;
      };
    }
    case 'query_parameter_value_match': {
      const entry: RateLimitDescriptorEntry = Object.freeze({
        key: model.descriptorKey,
        value: model.descriptorValue,
      });
      const matchers = compileQueryMatchers(model.queryParameters);
      const expect = model.expectMatch;
      return (s) => {
        const query = queryOf(s.headers.path);
        let matched = true;
        for (const matcher of matchers) {
          if (!matcher(query)) {
            matched = false;
            break;
          }
        }
        return matched === expect ? entry : undefined;
      };
    }
  }
}

class CompiledRateLimit {
  readonly stage: number;
  readonly hasDisableKey: boolean;
  private readonly actions: readonly CompiledAction[];

  constructor(model: RateLimitModel) {
    this.stage = model.stage;
    this.hasDisableKey = model.disableKey !== '';
    this.actions = model.actions.map(compileAction);
  }

  /** The descriptor, or undefined when an action could not produce its entry. */
  produce(source: DescriptorSource): RateLimitDescriptor | undefined {
    const entries: RateLimitDescriptorEntry[] = [];
    for (const action of this.actions) {
      const entry = action(source);
      if (entry === undefined) return undefined;
      if (entry !== null) entries.push(entry);
    }
    return entries;
  }
}

/** The compiled rate_limits of one route or virtual host. */
export class RateLimitPolicy {
  static readonly EMPTY = new RateLimitPolicy(undefined);

  private readonly entries: readonly CompiledRateLimit[];

  private constructor(models: readonly RateLimitModel[] | undefined) {
    this.entries = (models ?? []).map((m) => new CompiledRateLimit(m));
  }

  static compile(models: readonly RateLimitModel[] | undefined): RateLimitPolicy {
    return models === undefined || models.length === 0
      ? RateLimitPolicy.EMPTY
      : new RateLimitPolicy(models);
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  /** Appends the descriptors of this policy's entries at `options.stage` to `out`. */
  populate(source: DescriptorSource, options: DescriptorOptions, out: RateLimitDescriptor[]): void {
    for (const entry of this.entries) {
      if (entry.stage !== options.stage) continue;
      if (entry.hasDisableKey && options.skipEntriesWithDisableKey) continue;
      const descriptor = entry.produce(source);
      if (descriptor !== undefined) out.push(descriptor);
    }
  }
}

/**
 * A route's rate limit policies (RouteMatchResult.rateLimits). Only forwarding routes have them:
 * redirect and direct_response routes produce no descriptors (Envoy: no route entry).
 */
export class RouteRateLimits {
  static readonly NONE = new RouteRateLimits(RateLimitPolicy.EMPTY, RateLimitPolicy.EMPTY, false);

  constructor(
    readonly route: RateLimitPolicy,
    readonly virtualHost: RateLimitPolicy,
    /** RouteAction.include_vh_rate_limits. */
    readonly includeVirtualHost: boolean,
  ) {}

  /** True when no stage of either level can produce a descriptor. */
  get empty(): boolean {
    return this.route.empty && this.virtualHost.empty;
  }

  /**
   * The descriptors for a request, route entries first then the virtual host's, as Envoy's
   * filters populate them. Returns a shared empty array when there are none.
   */
  descriptors(
    source: DescriptorSource,
    options: DescriptorOptions,
  ): readonly RateLimitDescriptor[] {
    if (this.empty) return NO_DESCRIPTORS;
    const out: RateLimitDescriptor[] = [];
    this.route.populate(source, options, out);
    const vh = this.includeVirtualHost ? 'INCLUDE' : options.vhRateLimits;
    if (vh === 'INCLUDE' || (vh === 'OVERRIDE' && this.route.empty))
      this.virtualHost.populate(source, options, out);
    return out.length === 0 ? NO_DESCRIPTORS : out;
  }
}

/**
 * Canonical text of a descriptor, for map lookups: each key and value prefixed with its length
 * ("1:a1:b" for a=b), so no content can make two descriptors collide.
 */
export function descriptorKey(descriptor: RateLimitDescriptor): string {
  let key = '';
  for (let i = 0; i < descriptor.length; i++) {
    const entry = descriptor[i]!;
    key += `${entry.key.length}:${entry.key}${entry.value.length}:${entry.value}`;
  }
  return key;
}
