/**
 * Config factory of ferry.filters.http.waf (`ferry.v1.Waf`, per route `ferry.v1.WafPerRoute`):
 * reads the files the SecLang directives include (on this host, at translation, as DataSource
 * files are read) and compiles them, so a directive the engine does not support is a NACK naming
 * `directives: <file>:<line>: rule <id>: ...`. A route's extra directives (WafPerRoute) are
 * compiled with the filter's for every route configuration the HCM uses (checkPerRoute), so a
 * pair that does not compile is a NACK too, never a request-time error. Workers get the directives with the files' text
 * and compile from that (once per distinct source, see rule-set-cache.ts).
 */
import type { HttpFilterFactory } from '../filter.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  durationMs,
  enumField,
  int,
  join,
  messageSpec,
  str,
  strings,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import {
  collectSourcesSync,
  DEFAULT_WAF_LIMITS,
  hostLoader,
  WafCompileError,
  type WafLimits,
  type WafSources,
} from '../../../waf/seclang/index.js';
import type { SourceLoader } from '../../../waf/seclang/source.js';
import { combineSources, ruleSetFor } from './rule-set-cache.js';
import type { WafConfigModel, WafModeModel, WafPerRouteModel } from './model.js';
import { WafFilter } from './waf-filter.js';

const WAF_SPEC = messageSpec('ferry.v1.Waf', {
  directives:
    'SecLang directives (Include with @crs/ and globs reads files on the proxy host); required',
  mode: 'ON, DETECTION_ONLY or OFF; unspecified: the directives’ SecRuleEngine',
  request_body_limit: 'request body bytes inspected (0: 131072); above it 413 when ON',
  inspect_response_body: 'inspect response bodies (phase 4) up to response_body_limit',
  response_body_limit: 'response body bytes inspected (0: 524288)',
  skip_request_body: 'phase 2 runs without the body; the body streams through',
  audit_log: 'a JSON line per request with matched rules, to a file or the proxy log',
  regex_inspection_bytes: 'bytes of each value @rx inspects (default 4096, at least 1)',
  time_budget: 'rule evaluation time per request (default 1s, positive, at most 60s)',
});

const AUDIT_LOG_SPEC = messageSpec('ferry.v1.Waf.AuditLog', {
  path: 'file for the audit records; empty: the proxy’s log',
  all_requests: 'also record requests where no rule matched',
});

const WAF_PER_ROUTE_SPEC = messageSpec('ferry.v1.WafPerRoute', {
  disabled: 'the WAF does not run on this route',
  mode: 'this route’s mode',
  directives: 'directives appended to the filter’s for this route (exclusions, tuning)',
});

export const WAF_FILTER_TYPE_URL = TYPE_URL_PREFIX + WAF_SPEC.message;
export const WAF_PER_ROUTE_TYPE_URL = TYPE_URL_PREFIX + WAF_PER_ROUTE_SPEC.message;

const MODES = ['MODE_UNSPECIFIED', 'ON', 'DETECTION_ONLY', 'OFF'] as const;

export const DEFAULT_REQUEST_BODY_LIMIT = 131072;
export const DEFAULT_RESPONSE_BODY_LIMIT = 524288;

/**
 * Where files cannot be read (the control plane validating for another host): includes read
 * as empty and globs as themselves, so the inline directives are still checked.
 */
const SKIP_LOADER: SourceLoader = { readFile: () => '', glob: (p) => [p] };

function mode(
  value: JsonObject[string] | undefined,
  path: string,
  issues: Issues,
): WafModeModel | undefined {
  const m = enumField(value, MODES, 'MODE_UNSPECIFIED', path, issues);
  return m === 'MODE_UNSPECIFIED' ? undefined : m;
}

/** Reads and compiles directives; errors go to `path` one per problem. */
function compileChecked(
  directives: string,
  path: string,
  issues: Issues,
): { sources: WafSources; ruleCount: number; components: string[]; warnings: string[] } {
  const skip = issues.hostAccess === 'skip';
  if (skip && /^\s*Include\s/im.test(directives)) issues.unchecked.push(path);
  const sources = collectSourcesSync(directives, skip ? SKIP_LOADER : hostLoader, 'directives');
  try {
    const rs = ruleSetFor(sources);
    return {
      sources,
      ruleCount: rs.ruleCount,
      components: [...rs.components],
      warnings: [...rs.warnings],
    };
  } catch (err) {
    if (!(err instanceof WafCompileError)) throw err;
    for (const e of err.errors) issues.add(path, e);
    return { sources, ruleCount: 0, components: [], warnings: [] };
  }
}

/** Longest time_budget accepted: beyond it a request could hold a worker for minutes. */
export const MAX_TIME_BUDGET_MS = 60_000;
const MAX_REGEX_INSPECTION_BYTES = 0xffffffff;

/** regex_inspection_bytes and time_budget; absent fields keep the engine's defaults. */
function limits(config: JsonObject, path: string, issues: Issues): WafLimits {
  let regexInspectionBytes = DEFAULT_WAF_LIMITS.regexInspectionBytes;
  const bytes = config.regex_inspection_bytes;
  if (bytes !== undefined && bytes !== null) {
    const n = int(bytes, NaN);
    if (!Number.isInteger(n) || n < 1 || n > MAX_REGEX_INSPECTION_BYTES)
      issues.add(
        join(path, 'regex_inspection_bytes'),
        `must be an integer from 1 to ${MAX_REGEX_INSPECTION_BYTES} (bytes of each value @rx inspects), got ${JSON.stringify(bytes)}`,
      );
    else regexInspectionBytes = n;
  }
  let timeBudgetMs = DEFAULT_WAF_LIMITS.timeBudgetMs;
  const budget = config.time_budget;
  if (budget !== undefined && budget !== null) {
    const ms = durationMs(budget, NaN);
    if (Number.isNaN(ms) || ms <= 0 || ms > MAX_TIME_BUDGET_MS)
      issues.add(
        join(path, 'time_budget'),
        `must be a duration above 0s and at most ${MAX_TIME_BUDGET_MS / 1000}s (e.g. "0.5s"), got ${JSON.stringify(budget)}`,
      );
    else timeBudgetMs = ms;
  }
  return { regexInspectionBytes, timeBudgetMs };
}

export function validateWaf(config: JsonObject, path: string, issues: Issues): WafConfigModel {
  checkFields(config, WAF_SPEC, path, issues);
  const directivesPath = join(path, 'directives');
  const directives = strings(config.directives).join('\n');
  if (directives.trim() === '') issues.add(directivesPath, 'is required (SecLang directives)');
  const compiled = compileChecked(directives, directivesPath, issues);
  const audit = asObject(config.audit_log);
  if (audit !== undefined) checkFields(audit, AUDIT_LOG_SPEC, join(path, 'audit_log'), issues);
  return {
    sources: compiled.sources,
    mode: mode(config.mode, join(path, 'mode'), issues),
    requestBodyLimit: int(config.request_body_limit, 0) || DEFAULT_REQUEST_BODY_LIMIT,
    skipRequestBody: bool(config.skip_request_body, false),
    inspectResponseBody: bool(config.inspect_response_body, false),
    responseBodyLimit: int(config.response_body_limit, 0) || DEFAULT_RESPONSE_BODY_LIMIT,
    auditLog:
      audit === undefined
        ? undefined
        : { path: str(audit.path), allRequests: bool(audit.all_requests, false) },
    limits: limits(config, path, issues),
    ruleCount: compiled.ruleCount,
    components: compiled.components,
    warnings: compiled.warnings,
  };
}

export const wafFilter: HttpFilterFactory<WafConfigModel, WafPerRouteModel> = {
  typeUrl: WAF_FILTER_TYPE_URL,
  names: ['ferry.filters.http.waf'],
  terminal: false,
  note: 'ModSecurity SecLang rules (OWASP CRS 3.3.4 via Include @crs/...), phases 1–4, anomaly scoring, audit log; per route: WafPerRoute (docs/waf.md)',
  specs: [WAF_SPEC, AUDIT_LOG_SPEC, WAF_PER_ROUTE_SPEC],
  perRouteTypeUrls: [WAF_PER_ROUTE_TYPE_URL],
  validate: validateWaf,
  validatePerRoute(_typeUrl, config, path, issues) {
    checkFields(config, WAF_PER_ROUTE_SPEC, path, issues);
    const directives = strings(config.directives).join('\n');
    return {
      disabled: bool(config.disabled, false),
      mode: mode(config.mode, join(path, 'mode'), issues),
      sources:
        directives.trim() === ''
          ? undefined
          : compileChecked(directives, join(path, 'directives'), issues).sources,
    };
  },
  checkPerRoute(config, perRoute, path, issues) {
    if (perRoute.sources === undefined) return;
    try {
      ruleSetFor(combineSources(config.sources, perRoute.sources));
    } catch (err) {
      if (!(err instanceof WafCompileError)) throw err;
      const where = join(path, 'directives');
      for (const e of err.errors) issues.add(where, `with the filter’s directives: ${e}`);
    }
  },
  createFilterFactory(config, context) {
    return new WafFilter(config, context);
  },
};
