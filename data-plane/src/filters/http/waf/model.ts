/** The plain-data config ferry.filters.http.waf hands to the workers. */
import type { WafLimits, WafSources } from '../../../waf/seclang/index.js';

export type WafModeModel = 'ON' | 'DETECTION_ONLY' | 'OFF';

export interface WafAuditLogModel {
  /** "" : the proxy's log. */
  readonly path: string;
  readonly allRequests: boolean;
}

export interface WafConfigModel {
  /** The directives and every file they read (workers compile from this, without file I/O). */
  readonly sources: WafSources;
  /** undefined: the directives' SecRuleEngine. */
  readonly mode: WafModeModel | undefined;
  readonly requestBodyLimit: number;
  readonly skipRequestBody: boolean;
  readonly inspectResponseBody: boolean;
  readonly responseBodyLimit: number;
  readonly auditLog: WafAuditLogModel | undefined;
  /** regex_inspection_bytes and time_budget (their defaults when absent). */
  readonly limits: WafLimits;
  /** For status: rules compiled and the component signatures (e.g. OWASP_CRS/3.3.4). */
  readonly ruleCount: number;
  readonly components: readonly string[];
  readonly warnings: readonly string[];
}

export interface WafPerRouteModel {
  readonly disabled: boolean;
  readonly mode: WafModeModel | undefined;
  /** Extra directives appended to the filter's; undefined: none. */
  readonly sources: WafSources | undefined;
}

export const WAF_METADATA_NAMESPACE = 'ferry.waf';
