/**
 * What envoy.filters.http.rbac's config factory (config.ts) hands the workers' filters
 * (rbac-filter.ts).
 */
import type { RbacModel } from '../../common/rbac/rbac-model.js';

/** Namespace of the filter's dynamic metadata (Envoy's canonical filter name). */
export const RBAC_METADATA_NAMESPACE = 'envoy.filters.http.rbac';

export interface HttpRbacConfig {
  readonly rules?: RbacModel;
  readonly shadowRules?: RbacModel;
  readonly rulesStatPrefix: string;
  readonly shadowRulesStatPrefix: string;
}

/**
 * A route's override: the rules that replace the filter's (none: RBAC off for the route). Its
 * stat prefixes name the dynamic metadata keys of its decisions, as in Envoy; the counters stay
 * the filter's.
 */
export type HttpRbacPerRoute = HttpRbacConfig;
