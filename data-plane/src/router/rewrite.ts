/**
 * Path rewrites (route.prefix_rewrite / regex_rewrite, also used by redirects) and redirect
 * Location construction, compiled once per route.
 *
 * - prefix_rewrite swaps the matched part of the path: the prefix for prefix and
 *   path_separated_prefix matches, the whole path for path and safe_regex matches; the query
 *   string is kept.
 * - regex_rewrite replaces every non-overlapping match in the path (without the query, which is
 *   kept) with the substitution, where `\0`-`\9` insert capture groups and `\\` a backslash
 *   (RE2::GlobalReplace rules).
 */
import type { RedirectActionModel } from '../config/model.js';
import { compileLinearRe2 } from '@ferry/proto';

type SubstitutionPart = string | number;

function parseSubstitution(substitution: string): readonly SubstitutionPart[] {
  const parts: SubstitutionPart[] = [];
  let literal = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i]!;
    const next = substitution[i + 1];
    if (c === '\\' && next !== undefined && next >= '0' && next <= '9') {
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push(Number(next));
      i++;
    } else if (c === '\\' && next === '\\') {
      literal += '\\';
      i++;
    } else {
      literal += c;
    }
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

export class RegexRewriter {
  private readonly regex: RegExp;
  private readonly parts: readonly SubstitutionPart[];
  /** Built once: String.prototype.replace calls it for every match. */
  private readonly replacer: (match: string, ...rest: unknown[]) => string;

  constructor(pattern: string, substitution: string) {
    this.regex = compileLinearRe2(pattern, { global: true });
    this.parts = parseSubstitution(substitution);
    const parts = this.parts;
    this.replacer = (match: string, ...rest: unknown[]): string => {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') out += part;
        else if (part === 0) out += match;
        else {
          const group = rest[part - 1];
          if (typeof group === 'string') out += group;
        }
      }
      return out;
    };
  }

  /** Rewrites `pathOnly` (no query). */
  rewrite(pathOnly: string): string {
    this.regex.lastIndex = 0;
    return pathOnly.replace(this.regex, this.replacer);
  }
}

/** How much of the path the route's match consumed, for prefix_rewrite. */
export type MatchedPart =
  { readonly kind: 'prefix'; readonly length: number } | { readonly kind: 'whole' };

/**
 * A route's path rewrite. `rewrite(path, pathEnd)` takes the full request path (with query) and
 * the index where the query starts; it returns the same string when nothing is configured.
 */
export class PathRewriter {
  readonly active: boolean;
  private readonly prefixRewrite: string | undefined;
  private readonly regex: RegexRewriter | undefined;
  private readonly matched: MatchedPart;

  constructor(
    prefixRewrite: string | undefined,
    regexRewrite: { readonly pattern: string; readonly substitution: string } | undefined,
    matched: MatchedPart,
  ) {
    this.prefixRewrite = prefixRewrite;
    this.regex =
      regexRewrite === undefined
        ? undefined
        : new RegexRewriter(regexRewrite.pattern, regexRewrite.substitution);
    this.matched = matched;
    this.active = prefixRewrite !== undefined || regexRewrite !== undefined;
  }

  rewrite(path: string, pathEnd: number): string {
    if (this.prefixRewrite !== undefined) {
      const consumed = this.matched.kind === 'prefix' ? this.matched.length : pathEnd;
      return this.prefixRewrite + path.slice(consumed);
    }
    if (this.regex !== undefined) {
      const rewritten = this.regex.rewrite(pathEnd === path.length ? path : path.slice(0, pathEnd));
      return pathEnd === path.length ? rewritten : rewritten + path.slice(pathEnd);
    }
    return path;
  }
}

/** `host:port` → [host, ':port'] (IPv6 `[::1]:80` aware); no port → [host, '']. */
function splitPort(authority: string): [string, string] {
  const colon = authority.lastIndexOf(':');
  if (colon < 0) return [authority, ''];
  if (authority.startsWith('[')) {
    const close = authority.lastIndexOf(']');
    return close >= 0 && colon === close + 1
      ? [authority.slice(0, colon), authority.slice(colon)]
      : [authority, ''];
  }
  if (authority.indexOf(':') !== colon) return [authority, '']; // bare IPv6
  return [authority.slice(0, colon), authority.slice(colon)];
}

/**
 * Envoy's RouteEntryImplBase::newUri. `requestScheme` is the request's x-forwarded-proto (what the
 * client used). The request's port is kept unless a port_redirect replaces it, or the scheme
 * changes and the port was the old scheme's default (`http://h:80` → `https://h`).
 */
export class RedirectBuilder {
  private readonly model: RedirectActionModel;
  private readonly rewriter: PathRewriter;
  private readonly pathRedirectHasQuery: boolean;

  constructor(model: RedirectActionModel, matched: MatchedPart) {
    this.model = model;
    this.rewriter = new PathRewriter(model.prefixRewrite, model.regexRewrite, matched);
    this.pathRedirectHasQuery = model.pathRedirect?.includes('?') ?? false;
  }

  location(authority: string, path: string, pathEnd: number, requestScheme: string): string {
    const model = this.model;
    const scheme = model.schemeRedirect ?? (model.httpsRedirect ? 'https' : requestScheme);
    const newPort = model.portRedirect === undefined ? '' : `:${model.portRedirect}`;

    let host: string;
    if (model.hostRedirect !== undefined) {
      host = newPort === '' ? model.hostRedirect : splitPort(model.hostRedirect)[0];
    } else {
      const [bare, port] = splitPort(authority);
      let removePort = newPort !== '';
      if (port !== '' && scheme !== requestScheme) {
        removePort ||=
          (requestScheme === 'https' && port === ':443') ||
          (requestScheme === 'http' && port === ':80');
      }
      host = removePort ? bare : authority;
    }

    const query = path.slice(pathEnd);
    let finalPath: string;
    if (model.pathRedirect !== undefined) {
      finalPath =
        this.pathRedirectHasQuery || model.stripQuery
          ? model.pathRedirect
          : model.pathRedirect + query;
    } else {
      finalPath = this.rewriter.rewrite(path, pathEnd);
      if (model.stripQuery) {
        const q = finalPath.indexOf('?');
        if (q >= 0) finalPath = finalPath.slice(0, q);
      }
    }
    return `${scheme}://${host}${newPort}${finalPath}`;
  }
}
