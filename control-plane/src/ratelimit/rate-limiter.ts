/**
 * Decides one ShouldRateLimit call's descriptors against a group's policy with the counters this
 * replica owns (the counting half of the RateLimitService; rls-service.ts routes each descriptor
 * to the replica that owns its counter). Response semantics are Envoy's (rls.proto) as
 * envoyproxy/ratelimit fills them:
 * - each descriptor gets a status: OK without `current_limit` when no rule limits it (no match,
 *   no rate_limit, `unlimited`); otherwise its hits are added to the counter of the current
 *   window and the status is OVER_LIMIT when the count exceeds `requests_per_unit`, with
 *   `current_limit`, `limit_remaining` and `duration_until_reset`;
 * - a descriptor in shadow mode is counted and reported with its limit but always OK;
 * - a descriptor's `limit` override (RateLimitDescriptor.limit) replaces the rule's rate and unit;
 * - `overall_code` is OVER_LIMIT when any status is.
 */
import {
  UNIT_MS,
  matchDescriptor,
  type CompiledRateLimitPolicy,
  type DescriptorEntry,
  type RateLimitUnit,
} from './rate-limit-policy.js';
import { WindowCounters } from './window-counters.js';

/** RateLimitDescriptor as proto-loader decodes it (keepCase, enums as strings). */
export interface RequestDescriptor {
  readonly entries?: readonly DescriptorEntry[];
  readonly limit?: { readonly requests_per_unit?: number; readonly unit?: string } | null;
}

export type RlsCode = 'OK' | 'OVER_LIMIT';

export interface DescriptorStatus {
  code: RlsCode;
  current_limit?: { requests_per_unit: number; unit: RateLimitUnit; name: string };
  limit_remaining: number;
  duration_until_reset?: { seconds: string; nanos: number };
}

/** One descriptor to decide: its counter key (see counterKey) and what it matched. */
export interface Decision {
  readonly key: string;
  readonly requestsPerUnit: number;
  readonly unit: RateLimitUnit;
  readonly name: string;
  readonly shadowMode: boolean;
}

const NOT_LIMITED: Readonly<DescriptorStatus> = Object.freeze({ code: 'OK', limit_remaining: 0 });

/**
 * What a request descriptor needs counted under `policy`: undefined when nothing limits it, or an
 * error message when its `limit` override names a unit this service does not count in.
 */
export function decisionOf(
  group: string,
  policy: CompiledRateLimitPolicy | undefined,
  descriptor: RequestDescriptor,
): Decision | undefined | string {
  if (!policy) return undefined;
  const entries = descriptor.entries ?? [];
  const match = matchDescriptor(policy, entries);
  if (match === undefined || match === 'unlimited') return undefined;
  let { unit, requestsPerUnit } = match;
  const override = descriptor.limit;
  if (override) {
    const u = override.unit ?? '';
    if (!(u in UNIT_MS))
      return `descriptor limit override: unit ${JSON.stringify(u)} is not counted here (SECOND, MINUTE, HOUR or DAY)`;
    unit = u as RateLimitUnit;
    requestsPerUnit = override.requests_per_unit ?? 0;
  }
  return {
    key: counterKey(group, policy.domain, entries, unit),
    requestsPerUnit,
    unit,
    name: match.name,
    shadowMode: match.shadowMode,
  };
}

/**
 * The counter's identity: group, domain, every entry with its actual value (a key-only rule
 * counts each value on its own), and the unit. Also the key that picks the owning replica.
 */
export function counterKey(
  group: string,
  domain: string,
  entries: readonly DescriptorEntry[],
  unit: RateLimitUnit,
): string {
  let key = `${group}\u0000${domain}`;
  for (const e of entries) key += `\u0000${e.key}\u0001${e.value}`;
  return `${key}\u0000${unit}`;
}

export function notLimited(): DescriptorStatus {
  return { ...NOT_LIMITED };
}

/**
 * Counts `hits` for `decision` now and returns its status; undefined when the counters are full
 * (WindowCounters.maxKeys) and the key is new.
 */
export function count(
  counters: WindowCounters,
  decision: Decision,
  hits: number,
  now: number,
): DescriptorStatus | undefined {
  const hit = counters.hit(decision.key, UNIT_MS[decision.unit], hits, now);
  if (!hit) return undefined;
  const { count: total, windowEnd } = hit;
  const over = total > decision.requestsPerUnit;
  const untilReset = windowEnd - now;
  return {
    code: over && !decision.shadowMode ? 'OVER_LIMIT' : 'OK',
    current_limit: {
      requests_per_unit: decision.requestsPerUnit,
      unit: decision.unit,
      name: decision.name,
    },
    limit_remaining: over ? 0 : decision.requestsPerUnit - total,
    duration_until_reset: {
      seconds: String(Math.floor(untilReset / 1000)),
      nanos: (untilReset % 1000) * 1_000_000,
    },
  };
}
