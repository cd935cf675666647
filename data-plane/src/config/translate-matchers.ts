/**
 * Envoy's matcher and header-mutation messages shared by routes, virtual hosts and route
 * configurations: StringMatcher, RegexMatcher (RE2, checked to compile as the router will compile
 * it), HeaderMatcher, QueryParameterMatcher, RegexMatchAndSubstitute, HeaderValueOption.
 */
import { checkLinearRe2 } from '@ferry/proto';
import {
  SUPPORTED_HEADER_FORMATTERS,
  validateHeaderValueFormat,
} from '../router/header-mutations.js';
import {
  asObject,
  bool,
  checkFields,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  strings,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import type {
  HeaderMatcherModel,
  HeaderMutationsModel,
  HeaderValueOptionModel,
  QueryParameterMatcherModel,
  StringMatcherModel,
} from './model.js';

const STRING_MATCHER_SPEC = messageSpec('envoy.type.matcher.v3.StringMatcher', {
  exact: 'exact match',
  prefix: 'prefix match',
  suffix: 'suffix match',
  contains: 'substring match',
  safe_regex: 'RE2 regex, whole value',
  ignore_case: 'case-insensitive (not for safe_regex)',
});

const REGEX_SPEC = messageSpec('envoy.type.matcher.v3.RegexMatcher', {
  regex:
    "RE2 syntax, run on V8's linear-time engine (no backtracking); Unicode classes \\p, " +
    'multi-line (?m) anchors and \\C are rejected',
  google_re2: 'accepted (the only engine); max_program_size is not enforced',
});

const GOOGLE_RE2_SPEC = messageSpec('envoy.type.matcher.v3.RegexMatcher.GoogleRE2', {
  max_program_size: 'accepted, not enforced (deprecated in Envoy)',
});

const REGEX_SUBST_SPEC = messageSpec('envoy.type.matcher.v3.RegexMatchAndSubstitute', {
  pattern: 'RE2 regex',
  substitution: 'replacement with \\1-style capture references',
});

const HEADER_MATCHER_SPEC = messageSpec('envoy.config.route.v3.HeaderMatcher', {
  name: 'header name (case-insensitive)',
  string_match: 'StringMatcher on the value',
  exact_match: 'deprecated form of string_match.exact',
  prefix_match: 'deprecated form of string_match.prefix',
  suffix_match: 'deprecated form of string_match.suffix',
  contains_match: 'deprecated form of string_match.contains',
  safe_regex_match: 'deprecated form of string_match.safe_regex',
  present_match: 'header present (true) or absent (false)',
  range_match: 'integer value in [start, end)',
  invert_match: 'negates the match',
  treat_missing_header_as_empty: 'an absent header matches as ""',
});

const RANGE_SPEC = messageSpec('envoy.type.v3.Int64Range', {
  start: 'inclusive',
  end: 'exclusive',
});

const QUERY_MATCHER_SPEC = messageSpec('envoy.config.route.v3.QueryParameterMatcher', {
  name: 'parameter name',
  string_match: 'StringMatcher on the decoded value',
  present_match: 'parameter present',
});

const HEADER_VALUE_OPTION_SPEC = messageSpec('envoy.config.core.v3.HeaderValueOption', {
  header: 'the header to add',
  append: 'deprecated: true = APPEND_IF_EXISTS_OR_ADD, false = OVERWRITE_IF_EXISTS_OR_ADD',
  keep_empty_value: 'add the header even when its value is empty',
  append_action:
    'APPEND_IF_EXISTS_OR_ADD (default), ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS',
});

const HEADER_VALUE_SPEC = messageSpec('envoy.config.core.v3.HeaderValue', {
  key: 'header name (routes and header_mutation: not a pseudo-header, not host)',
  value: `routes and header_mutation: with Envoy formatters ${SUPPORTED_HEADER_FORMATTERS.map((n) => (n === 'REQ' ? '%REQ(name)%' : n === 'START_TIME' ? '%START_TIME(format)%' : `%${n}%`)).join(', ')} (%% is a literal %; others are rejected); health checks: literal only`,
  raw_value: 'value as bytes (UTF-8), formatters as in value',
});

export const MATCHER_SPECS: readonly MessageSpec[] = [
  STRING_MATCHER_SPEC,
  REGEX_SPEC,
  GOOGLE_RE2_SPEC,
  REGEX_SUBST_SPEC,
  HEADER_MATCHER_SPEC,
  RANGE_SPEC,
  QUERY_MATCHER_SPEC,
  HEADER_VALUE_OPTION_SPEC,
  HEADER_VALUE_SPEC,
];

/** A RegexMatcher's pattern, checked to compile. */
export function regexPattern(obj: JsonObject | undefined, path: string, issues: Issues): string {
  if (!obj) return '';
  checkFields(obj, REGEX_SPEC, path, issues);
  const googleRe2 = asObject(obj.google_re2);
  if (googleRe2) checkFields(googleRe2, GOOGLE_RE2_SPEC, join(path, 'google_re2'), issues);
  const pattern = str(obj.regex);
  const problem = checkLinearRe2(pattern);
  if (problem) issues.add(join(path, 'regex'), `${JSON.stringify(pattern)}: ${problem}`);
  return pattern;
}

export function regexRewrite(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
): { pattern: string; substitution: string } | undefined {
  if (!obj) return undefined;
  checkFields(obj, REGEX_SUBST_SPEC, path, issues);
  return {
    pattern: regexPattern(asObject(obj.pattern), join(path, 'pattern'), issues),
    substitution: str(obj.substitution),
  };
}

export function stringMatcher(obj: JsonObject, path: string, issues: Issues): StringMatcherModel {
  checkFields(obj, STRING_MATCHER_SPEC, path, issues);
  const ignoreCase = bool(obj.ignore_case, false);
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    if (typeof obj[kind] === 'string') return { kind, value: obj[kind], ignoreCase };
  }
  const regex = asObject(obj.safe_regex);
  if (regex) {
    // Envoy: ignore_case has no effect on safe_regex.
    return {
      kind: 'regex',
      value: regexPattern(regex, join(path, 'safe_regex'), issues),
      ignoreCase: false,
    };
  }
  // The oneof is required by Envoy's protos, so the strict decoder has already refused this.
  issues.add(path, 'one of exact, prefix, suffix, contains or safe_regex is required');
  return { kind: 'exact', value: '', ignoreCase };
}

const DEPRECATED_HEADER_FORMS = {
  exact_match: 'exact',
  prefix_match: 'prefix',
  suffix_match: 'suffix',
  contains_match: 'contains',
} as const;

export function headerMatcher(obj: JsonObject, path: string, issues: Issues): HeaderMatcherModel {
  checkFields(obj, HEADER_MATCHER_SPEC, path, issues);
  const base = {
    name: str(obj.name).toLowerCase(),
    invert: bool(obj.invert_match, false),
    treatMissingAsEmpty: bool(obj.treat_missing_header_as_empty, false),
  };
  const stringMatch = asObject(obj.string_match);
  if (stringMatch)
    return {
      ...base,
      kind: 'string',
      string: stringMatcher(stringMatch, join(path, 'string_match'), issues),
    };
  for (const [field, kind] of Object.entries(DEPRECATED_HEADER_FORMS)) {
    const value = obj[field];
    if (typeof value === 'string')
      return { ...base, kind: 'string', string: { kind, value, ignoreCase: false } };
  }
  const regex = asObject(obj.safe_regex_match);
  if (regex) {
    const value = regexPattern(regex, join(path, 'safe_regex_match'), issues);
    return { ...base, kind: 'string', string: { kind: 'regex', value, ignoreCase: false } };
  }
  const range = asObject(obj.range_match);
  if (range) {
    checkFields(range, RANGE_SPEC, join(path, 'range_match'), issues);
    return {
      ...base,
      kind: 'range',
      range: { start: int(range.start, 0), end: int(range.end, 0) },
    };
  }
  if (typeof obj.present_match === 'boolean')
    return { ...base, kind: 'present', present: obj.present_match };
  // No match specifier: Envoy treats this as "header present" (deprecated behaviour).
  return { ...base, kind: 'present', present: true };
}

export function queryParameterMatcher(
  obj: JsonObject,
  path: string,
  issues: Issues,
): QueryParameterMatcherModel {
  checkFields(obj, QUERY_MATCHER_SPEC, path, issues);
  const name = str(obj.name);
  const stringMatch = asObject(obj.string_match);
  if (stringMatch)
    return { name, string: stringMatcher(stringMatch, join(path, 'string_match'), issues) };
  return { name, present: bool(obj.present_match, true) };
}

const APPEND_ACTIONS = [
  'APPEND_IF_EXISTS_OR_ADD',
  'ADD_IF_ABSENT',
  'OVERWRITE_IF_EXISTS_OR_ADD',
  'OVERWRITE_IF_EXISTS',
] as const;

/** Where a HeaderValueOption is used decides what it may do. */
export interface HeaderValueOptionContext {
  /**
   * Envoy's %VARIABLE% formatters are rendered per request (route-level headers, the
   * header_mutation filter); otherwise (health checks) values are literal and a formatter is
   * rejected rather than sent as text.
   */
  readonly formatters: boolean;
  /**
   * Envoy's HeaderParser rule for route-level headers: pseudo-headers and `host` "may not be
   * modified" (ferry-proxy's header maps keep them as request fields, not entries).
   */
  readonly modifiableOnly: boolean;
}

const LITERAL_VALUES: HeaderValueOptionContext = { formatters: false, modifiableOnly: false };
const ROUTE_HEADERS: HeaderValueOptionContext = { formatters: true, modifiableOnly: true };

/** Envoy's Http::HeaderUtility::isModifiableHeader: not `:`-prefixed and not `host`. */
export function isModifiableHeader(lowerName: string): boolean {
  return !lowerName.startsWith(':') && lowerName !== 'host';
}

export function headerValueOption(
  obj: JsonObject,
  path: string,
  issues: Issues,
  context: HeaderValueOptionContext = LITERAL_VALUES,
): HeaderValueOptionModel {
  checkFields(obj, HEADER_VALUE_OPTION_SPEC, path, issues);
  const headerPath = join(path, 'header');
  const header = asObject(obj.header) ?? {};
  checkFields(header, HEADER_VALUE_SPEC, headerPath, issues);
  const rawValue = typeof header.raw_value === 'string';
  const value = rawValue
    ? Buffer.from(header.raw_value as string, 'base64').toString('utf8')
    : str(header.value);
  const valuePath = join(headerPath, rawValue ? 'raw_value' : 'value');
  if (context.formatters) {
    const error = validateHeaderValueFormat(value);
    if (error !== undefined) issues.add(valuePath, error);
  } else if (/%[A-Z_]+(\(.*?\))?%/.test(value)) {
    // Sending the formatter as literal text would change behaviour silently.
    issues.add(
      valuePath,
      `header value variables (${value}) are not supported here by ferry-proxy`,
    );
  }
  const key = str(header.key).toLowerCase();
  if (context.modifiableOnly && !isModifiableHeader(key))
    issues.add(join(headerPath, 'key'), `${key}: pseudo-headers and host may not be modified`);
  let action = enumField(
    obj.append_action,
    APPEND_ACTIONS,
    'APPEND_IF_EXISTS_OR_ADD',
    join(path, 'append_action'),
    issues,
  );
  if (typeof obj.append === 'boolean') {
    if (obj.append_action !== undefined)
      issues.add(join(path, 'append'), 'cannot be set together with append_action');
    action = obj.append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD';
  }
  return {
    key,
    value,
    action,
    ...(bool(obj.keep_empty_value, false) ? { keepEmptyValue: true } : {}),
  };
}

/** request/response_headers_to_add/remove of a route config, virtual host, route or weighted cluster. */
export function headerMutations(
  obj: JsonObject,
  path: string,
  issues: Issues,
): HeaderMutationsModel {
  const add = (key: string): HeaderValueOptionModel[] =>
    objectsOf(obj, key, path).map(([o, p]) => headerValueOption(o, p, issues, ROUTE_HEADERS));
  const remove = (key: string): string[] =>
    strings(obj[key]).map((h, i) => {
      const name = h.toLowerCase();
      if (!isModifiableHeader(name))
        issues.add(join(join(path, key), i), `${name}: pseudo-headers and host may not be removed`);
      return name;
    });
  return {
    requestHeadersToAdd: add('request_headers_to_add'),
    requestHeadersToRemove: remove('request_headers_to_remove'),
    responseHeadersToAdd: add('response_headers_to_add'),
    responseHeadersToRemove: remove('response_headers_to_remove'),
  };
}

export const HEADER_MUTATION_FIELDS: Readonly<Record<string, string>> = {
  request_headers_to_add: 'headers added to the upstream request',
  request_headers_to_remove: 'headers removed from the upstream request',
  response_headers_to_add: 'headers added to the downstream response',
  response_headers_to_remove: 'headers removed from the downstream response',
};
