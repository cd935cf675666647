/**
 * The HTTP connection manager's path normalization (Envoy's normalize_path, merge_slashes and
 * path_with_escaped_slashes_action), applied to `:path` before route matching and the HTTP
 * filters; the normalized path is the one forwarded upstream. Only the path component changes:
 * the query (from the first `?`) is carried over untouched.
 *
 * The steps and their order are Envoy's (ConnectionManagerUtility::maybeNormalizePath):
 * 0. a path with a fragment (`#`) is rejected, whatever the settings (Envoy's default,
 *    http_reject_path_with_fragment: `hasFragment` is the check without normalization);
 * 1. escaped slashes: `%2F`/`%2f` → `/` and `%5C`/`%5c` → `\` unless KEEP_UNCHANGED; when any
 *    was found, REJECT_REQUEST rejects now, UNESCAPE_AND_REDIRECT redirects after steps 2-3;
 * 2. normalize_path: Envoy's PathUtil::canonicalPath: parameters of dot segments are dropped
 *    first (`/..;x=y/` is `/../`, as Envoy's strip_dotdot_segments_with_parameters), then
 *    Chromium's URL path canonicalizer: `\` becomes `/`; `.` and `..` segments (also spelled `%2e`) are removed
 *    (RFC 3986 §5.2.4, never above the root); percent-encoded unreserved characters
 *    (ALPHA / DIGIT / `-` `.` `_` `~`) are decoded, other valid escapes are kept byte for byte
 *    (hex case included), an invalid escape (`%zz`, a lone `%`) passes through unchanged; bytes
 *    not allowed raw in a path (controls, space, `"` `<` `>` `^` `` ` `` `{` `}`, DEL, non-ASCII)
 *    are percent-encoded; a NUL byte, raw or as `%00`, makes the path invalid (→ 400). No case
 *    normalization;
 * 3. merge_slashes: runs of `/` become one (Envoy's PathUtil::mergeSlashes: split on `/`
 *    dropping empty segments, then keep a leading and a trailing `/`, so `//` stays `//`).
 *
 * The common path needs none of this: `needsNormalization` decides with one scan and no
 * allocation, and only a path it flags goes through the rewriting code.
 */

export type EscapedSlashesAction =
  'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD';

/** The HCM's path settings (IMPLEMENTATION_SPECIFIC_DEFAULT is KEEP_UNCHANGED, as in Envoy). */
export interface PathNormalizationConfig {
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  readonly escapedSlashesAction: EscapedSlashesAction;
}

/** What the connection manager does with the request after normalization. */
export const enum PathAction {
  Continue = 0,
  /** 400 (downstream_rq_failed_path_normalization). */
  Reject = 1,
  /** 307 to the normalized path (downstream_rq_redirected_with_normalized_path). */
  Redirect = 2,
}

/** Whether the config changes any path at all (false: the HCM skips normalization). */
export function normalizationEnabled(config: PathNormalizationConfig): boolean {
  return (
    config.normalizePath || config.mergeSlashes || config.escapedSlashesAction !== 'KEEP_UNCHANGED'
  );
}

// Chromium's path character classes (url_canon_path.cc's table), one byte per character.
const SPECIAL = 1;
const ESCAPE = 2 | SPECIAL;
const UNESCAPE = 4;
const INVALID = 8 | SPECIAL;

const CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  if (c === 0) CLASS[c] = INVALID;
  else if (c < 0x20 || c >= 0x7f) CLASS[c] = ESCAPE;
  else if (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d /* - */ ||
    c === 0x5f /* _ */ ||
    c === 0x7e /* ~ */
  )
    CLASS[c] = UNESCAPE;
  else if (c === 0x2e /* . */) CLASS[c] = SPECIAL;
  else if (' "#%<>?\\^`{}'.includes(String.fromCharCode(c))) CLASS[c] = ESCAPE;
}

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;

/**
 * Whether `path` could change under `config`: one scan of the path component, no allocation.
 * A false answer is exact (the path is already normal); true sends it through `normalizePath`.
 */
export function needsNormalization(path: string, config: PathNormalizationConfig): boolean {
  const normalize = config.normalizePath;
  const merge = config.mergeSlashes;
  const escapes = config.escapedSlashesAction !== 'KEEP_UNCHANGED';
  if (normalize && path.charCodeAt(0) !== SLASH) return true;
  let previous = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    // The query is never changed, but a fragment after it is still rejected.
    if (c === QUESTION) return path.indexOf('#', i) >= 0;
    if (c === PERCENT) {
      if (normalize || escapes) return true;
    } else if (normalize) {
      if (c > 0xff || (CLASS[c]! & SPECIAL) !== 0) {
        // A dot matters only at a segment's start; every other special byte changes the path.
        if (c !== DOT || previous === SLASH) return true;
      }
    }
    if (merge && c === SLASH && previous === SLASH) return true;
    if (c === 0x23 /* # */) return true;
    previous = c;
  }
  return false;
}

/**
 * Envoy's maybeNormalizePath on a whole `:path` (query kept): the new path and what to do. The
 * path is returned unchanged (same string) when nothing applies; undefined means Reject.
 */
export function normalizePath(
  path: string,
  config: PathNormalizationConfig,
): { readonly path: string; readonly action: PathAction } {
  if (hasFragment(path)) return { path, action: PathAction.Reject };
  const queryStart = path.indexOf('?');
  let component = queryStart < 0 ? path : path.slice(0, queryStart);
  const query = queryStart < 0 ? '' : path.slice(queryStart);
  let action = PathAction.Continue;
  if (config.escapedSlashesAction !== 'KEEP_UNCHANGED') {
    const unescaped = unescapeSlashes(component);
    if (unescaped !== component) {
      if (config.escapedSlashesAction === 'REJECT_REQUEST')
        return { path, action: PathAction.Reject };
      if (config.escapedSlashesAction === 'UNESCAPE_AND_REDIRECT') action = PathAction.Redirect;
      component = unescaped;
    }
  }
  if (config.normalizePath) {
    const canonical = canonicalPath(component);
    if (canonical === undefined) return { path, action: PathAction.Reject };
    component = canonical;
  }
  if (config.mergeSlashes) component = mergeSlashes(component);
  return { path: component + query, action };
}

/** Whether `:path` carries a fragment (clients never send one; Envoy rejects it). */
export function hasFragment(path: string): boolean {
  return path.includes('#');
}

/** `%2F`, `%2f` → `/` and `%5C`, `%5c` → `\` (Envoy's PathUtil::unescapeSlashes). */
export function unescapeSlashes(component: string): string {
  if (!component.includes('%')) return component;
  return component.replace(/%(?:2f|5c)/gi, (escape) =>
    escape.charCodeAt(1) === 0x32 /* 2 */ ? '/' : '\\',
  );
}

/** Runs of `/` merged (Envoy's PathUtil::mergeSlashes, on the path component). */
export function mergeSlashes(component: string): string {
  if (!component.includes('//')) return component;
  const segments = component.split('/').filter((segment) => segment !== '');
  const prefix = component.startsWith('/') ? '/' : '';
  const suffix = component.endsWith('/') ? '/' : '';
  return prefix + segments.join('/') + suffix;
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** `%XX` of one byte, upper-case hex (Chromium's AppendEscapedChar). */
function escaped(byte: number): string {
  return `%${HEX[byte >> 4]!}${HEX[byte & 15]!}`;
}

/** Length of a dot at `i`: 1 for `.`, 3 for `%2e`/`%2E`, 0 for none (Chromium's IsDot). */
function dotLength(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === DOT) return 1;
  if (
    c === PERCENT &&
    i + 3 <= s.length &&
    s.charCodeAt(i + 1) === 0x32 &&
    (s.charCodeAt(i + 2) | 0x20) === 0x65
  )
    return 3;
  return 0;
}

function isSlash(c: number): boolean {
  return c === SLASH || c === BACKSLASH;
}

/**
 * Envoy's PathUtil::canonicalPath on a path component: the canonical form, or undefined when
 * the path holds a NUL (raw or `%00`).
 */
export function canonicalPath(original: string): string | undefined {
  const component = stripDotSegmentParameters(original);
  let out = '';
  let valid = true;
  const end = component.length;
  // A path always starts with a slash (a `\` is one too and is converted below).
  if (end === 0 || !isSlash(component.charCodeAt(0))) out = '/';
  for (let i = 0; i < end; i++) {
    const c = component.charCodeAt(i);
    if (c > 0xff) {
      // Not from the wire (latin1 bytes): encode it as UTF-8 octets.
      for (const byte of Buffer.from(component[i]!, 'utf8')) out += escaped(byte);
      continue;
    }
    const flags = CLASS[c]!;
    if ((flags & SPECIAL) === 0) {
      out += component[i];
      continue;
    }
    const dot = dotLength(component, i);
    if (dot > 0) {
      if (out.charCodeAt(out.length - 1) !== SLASH) {
        // Part of a segment's name (`a.b`, `..x`).
        out += '.';
        i += dot - 1;
        continue;
      }
      const after = i + dot;
      if (after === end) {
        i = after - 1; // `/.` at the end: the current directory.
        continue;
      }
      if (isSlash(component.charCodeAt(after))) {
        i = after; // `/./`: skip the dot and its slash.
        continue;
      }
      const second = dotLength(component, after);
      if (second > 0) {
        const afterSecond = after + second;
        if (afterSecond === end || isSlash(component.charCodeAt(afterSecond))) {
          out = upToPreviousSlash(out);
          i = afterSecond === end ? afterSecond - 1 : afterSecond;
          continue;
        }
      }
      out += '.';
      i += dot - 1;
      continue;
    }
    if (c === BACKSLASH) {
      out += '/';
    } else if (c === PERCENT) {
      const high = i + 2 < end ? hexValue(component.charCodeAt(i + 1)) : -1;
      const low = high >= 0 ? hexValue(component.charCodeAt(i + 2)) : -1;
      if (low < 0) {
        out += '%'; // Not an escape: the rest is read as ordinary characters.
        continue;
      }
      const byte = high * 16 + low;
      const decodedFlags = CLASS[byte]!;
      if ((decodedFlags & UNESCAPE) !== 0) out += String.fromCharCode(byte);
      else {
        out += component.slice(i, i + 3);
        if (decodedFlags === INVALID) valid = false;
      }
      i += 2;
    } else if (flags === INVALID) {
      out += escaped(c);
      valid = false;
    } else {
      out += escaped(c);
    }
  }
  return valid ? out : undefined;
}

/**
 * `.;params` and `..;params` segments lose their parameters (`;` up to the next `/`), so that a
 * server reading path parameters (Tomcat, Jetty) and the proxy see the same dot segments.
 */
export function stripDotSegmentParameters(component: string): string {
  if (!component.includes('.;')) return component;
  const segments = component.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.startsWith('..;')) segments[i] = '..';
    else if (segment.startsWith('.;')) segments[i] = '.';
  }
  return segments.join('/');
}

/** `..`: drops the last segment of `out` (which ends with `/`), never the root slash. */
function upToPreviousSlash(out: string): string {
  const last = out.length - 1;
  if (last <= 0) return out;
  const previous = out.lastIndexOf('/', last - 1);
  return previous < 0 ? out : out.slice(0, previous + 1);
}
