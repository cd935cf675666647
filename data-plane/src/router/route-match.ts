/**
 * Route match predicates, compiled once per route table into closures and precomputed strings,
 * so that matching a request allocates nothing (except a path substring for safe_regex when the
 * request has a query string).
 *
 * Semantics follow Envoy's route.v3.RouteMatch / HeaderMatcher / QueryParameterMatcher and
 * type.matcher.v3.StringMatcher: safe_regex is a full match and ignores case_sensitive/ignore_case;
 * header values of repeated headers are matched joined by ','.
 */
import { compileLinearRe2, fullMatchLiteralPrefix } from '@ferry/proto';
import type {
  HeaderMatcherModel,
  QueryParameterMatcherModel,
  RouteMatchModel,
  StringMatcherModel,
} from '../config/model.js';
import type { HeaderLookup } from './header-mutations.js';

export type StringPredicate = (value: string) => boolean;

/** An RE2 pattern as a linear-time RegExp that must match the whole input (RE2::FullMatch). */
export function compileFullMatchRegex(pattern: string): RegExp {
  return compileLinearRe2(pattern, { full: true });
}

export function compileStringMatcher(model: StringMatcherModel): StringPredicate {
  if (model.kind === 'regex') {
    const re = compileFullMatchRegex(model.value);
    const prefix = fullMatchLiteralPrefix(model.value);
    return prefix === ''
      ? (value) => re.test(value)
      : (value) => value.startsWith(prefix) && re.test(value);
  }
  const expected = model.ignoreCase ? model.value.toLowerCase() : model.value;
  const fold = model.ignoreCase;
  switch (model.kind) {
    case 'exact':
      return fold ? (v) => v.toLowerCase() === expected : (v) => v === expected;
    case 'prefix':
      return fold ? (v) => v.toLowerCase().startsWith(expected) : (v) => v.startsWith(expected);
    case 'suffix':
      return fold ? (v) => v.toLowerCase().endsWith(expected) : (v) => v.endsWith(expected);
    case 'contains':
      return fold ? (v) => v.toLowerCase().includes(expected) : (v) => v.includes(expected);
  }
}

const INTEGER = /^\s*[+-]?\d+\s*$/;

/**
 * Envoy's HeaderUtility::matchHeaders: a missing header fails every value matcher (inverted or
 * not) unless treat_missing_header_as_empty; present_match compares presence; invert_match
 * negates the result of a header that was examined.
 */
export function compileHeaderMatcher(
  model: HeaderMatcherModel,
): (headers: HeaderLookup) => boolean {
  const name = model.name.toLowerCase();
  const invert = model.invert;
  const treatMissingAsEmpty = model.treatMissingAsEmpty;
  let valueMatches: StringPredicate;
  if (model.kind === 'present') {
    const present = model.present !== false;
    return (headers) => {
      const exists = headers.get(name) !== undefined || treatMissingAsEmpty;
      return (exists === present) !== invert;
    };
  } else if (model.kind === 'range') {
    const start = model.range?.start ?? 0;
    const end = model.range?.end ?? 0;
    valueMatches = (value) => {
      if (!INTEGER.test(value)) return false;
      const n = Number(value);
      return n >= start && n < end;
    };
  } else {
    if (model.string === undefined) throw new Error(`header matcher "${name}": no string match`);
    valueMatches = compileStringMatcher(model.string);
  }
  return (headers) => {
    const value = headers.get(name);
    if (value === undefined && !treatMissingAsEmpty) return false;
    return valueMatches(value ?? '') !== invert;
  };
}

function decodeComponent(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // Envoy's percent-decoding leaves malformed escapes as they are
  }
}

/**
 * The first value of query parameter `name` in `query` (the text after '?', without '#'), percent-
 * decoded; "" for a bare `name` or `name=`; undefined when absent. Scans without splitting.
 */
export function findQueryParameter(query: string, name: string): string | undefined {
  let at = 0;
  const length = query.length;
  while (at <= length) {
    let end = query.indexOf('&', at);
    if (end < 0) end = length;
    if (end > at) {
      const equals = query.indexOf('=', at);
      const keyEnd = equals >= 0 && equals < end ? equals : end;
      const keyLength = keyEnd - at;
      const keyMatches =
        (keyLength === name.length && query.startsWith(name, at)) ||
        (keyLength > name.length &&
          query.lastIndexOf('%', keyEnd - 1) >= at &&
          decodeComponent(query.slice(at, keyEnd)) === name);
      if (keyMatches) return keyEnd === end ? '' : decodeComponent(query.slice(keyEnd + 1, end));
    }
    at = end + 1;
  }
  return undefined;
}

/** QueryParameterMatcher: the parameter must be present; its first value then meets string_match. */
export function compileQueryParameterMatcher(
  model: QueryParameterMatcherModel,
): (query: string) => boolean {
  const name = model.name;
  if (model.string === undefined) return (query) => findQueryParameter(query, name) !== undefined;
  const valueMatches = compileStringMatcher(model.string);
  return (query) => {
    const value = findQueryParameter(query, name);
    return value !== undefined && valueMatches(value);
  };
}

/** Envoy's Grpc::Common::isGrpcRequestHeaders: content-type application/grpc, `+` or `;` suffixes. */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith('application/grpc')) return false;
  const next = contentType.charCodeAt(16);
  return contentType.length === 16 || next === 0x2b /* + */ || next === 0x3b; /* ; */
}

export const enum PathMatchKind {
  Prefix,
  Path,
  Regex,
  SeparatedPrefix,
}

/**
 * The path part of a route match. `matches` gets the full request path (`/a/b?q#f`), the index
 * where its query/fragment starts (`pathEnd`), and its lower-cased form when a case-insensitive
 * matcher asked for it (`lowerPath`, see needsLowerPath).
 */
export class PathMatcher {
  readonly kind: PathMatchKind;
  /** The value to compare (lower-cased when case-insensitive). */
  readonly value: string;
  readonly needsLowerPath: boolean;
  private readonly regex: RegExp | undefined;
  /** What every path the regex matches starts with: checked first, as it is far cheaper. */
  private readonly regexPrefix: string;

  constructor(model: RouteMatchModel) {
    this.kind =
      model.kind === 'prefix'
        ? PathMatchKind.Prefix
        : model.kind === 'path'
          ? PathMatchKind.Path
          : model.kind === 'safe_regex'
            ? PathMatchKind.Regex
            : PathMatchKind.SeparatedPrefix;
    // case_sensitive does not apply to safe_regex (route_components.proto).
    this.needsLowerPath = !model.caseSensitive && this.kind !== PathMatchKind.Regex;
    this.value = this.needsLowerPath ? model.value.toLowerCase() : model.value;
    this.regex = this.kind === PathMatchKind.Regex ? compileFullMatchRegex(model.value) : undefined;
    this.regexPrefix = this.regex ? fullMatchLiteralPrefix(model.value) : '';
  }

  matches(path: string, pathEnd: number, lowerPath: string | undefined): boolean {
    const subject = this.needsLowerPath ? lowerPath! : path;
    const value = this.value;
    switch (this.kind) {
      case PathMatchKind.Prefix:
        return value.length <= pathEnd && subject.startsWith(value);
      case PathMatchKind.Path:
        return value.length === pathEnd && subject.startsWith(value);
      case PathMatchKind.SeparatedPrefix:
        return (
          value.length <= pathEnd &&
          subject.startsWith(value) &&
          (value.length === pathEnd || subject.charCodeAt(value.length) === 0x2f)
        );
      case PathMatchKind.Regex:
        return (
          path.startsWith(this.regexPrefix) &&
          this.regex!.test(pathEnd === path.length ? path : path.slice(0, pathEnd))
        );
    }
  }
}

/** Index of the first '?' or '#' in `path`, or its length. */
export function pathEndIndex(path: string): number {
  const query = path.indexOf('?');
  const fragment = query < 0 ? path.indexOf('#') : path.lastIndexOf('#', query);
  if (query < 0) return fragment < 0 ? path.length : fragment;
  return fragment < 0 ? query : fragment;
}
