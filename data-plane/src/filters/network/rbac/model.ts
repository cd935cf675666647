/**
 * What envoy.filters.network.rbac's config factory (config.ts) hands the workers' filters
 * (network-rbac-filter.ts).
 */
import type { RbacModel } from '../../common/rbac/rbac-model.js';

export interface NetworkRbacConfig {
  readonly rules?: RbacModel;
  readonly shadowRules?: RbacModel;
  readonly statPrefix: string;
  readonly shadowRulesStatPrefix: string;
}
