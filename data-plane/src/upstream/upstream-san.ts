/**
 * Subject Alternative Names of a peer certificate and Envoy's rules for matching them
 * (CertificateValidationContext.match_typed_subject_alt_names, auto_san_validation):
 *
 * - a matcher applies to SANs of its san_type only; the certificate passes when any SAN matches
 *   any matcher;
 * - an `exact` matcher on a DNS SAN compares as DNS names: case-insensitively, and a SAN whose
 *   left-most label holds one `*` (not an A-label `xn--`) matches one label there (`*.a.com`
 *   matches `b.a.com`, not `a.com` nor `c.b.a.com`; `f*o.a.com` matches `foo.a.com`);
 * - the other StringMatcher kinds compare the SAN text as written;
 * - IP address SANs are written as Envoy prints them (dotted IPv4, compressed IPv6).
 */
import { compileStringMatcher, type StringPredicate } from '../router/route-match.js';
import type { SanMatcherModel, SanType } from '../config/model.js';

export interface SubjectAltName {
  readonly type: SanType | 'OTHER';
  readonly value: string;
}

const TYPE_BY_PREFIX: Readonly<Record<string, SanType>> = {
  DNS: 'DNS',
  URI: 'URI',
  email: 'EMAIL',
  'IP Address': 'IP_ADDRESS',
};

/**
 * Parses Node's X509Certificate.subjectAltName: `Type:value` entries joined by ", ", a value
 * JSON-quoted when it holds a comma, quote or other special character.
 */
export function parseSubjectAltNames(text: string | undefined): SubjectAltName[] {
  const result: SubjectAltName[] = [];
  if (text === undefined) return result;
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(':', at);
    if (colon < 0) break;
    const prefix = text.slice(at, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      let end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        value = text.slice(colon + 2, end);
      }
      next = text.indexOf(', ', end);
    } else {
      next = text.indexOf(', ', colon);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    const type = TYPE_BY_PREFIX[prefix] ?? 'OTHER';
    result.push({ type, value: type === 'IP_ADDRESS' ? normaliseIp(value) : value });
    if (next < 0) break;
    at = next + 2;
  }
  return result;
}

/** IPv6 in compressed lowercase form (as Envoy prints IP SANs); IPv4 unchanged. */
export function normaliseIp(value: string): string {
  if (!value.includes(':')) return value;
  try {
    return new URL(`http://[${value}]/`).hostname.slice(1, -1);
  } catch {
    return value.toLowerCase();
  }
}

/** Envoy's wildcard rule for one label: at most one `*`, prefix and suffix around it. */
function labelWildcardMatch(label: string, pattern: string): boolean {
  if (pattern === '*') return true;
  const star = pattern.indexOf('*');
  if (star < 0 || pattern.indexOf('*', star + 1) >= 0) return false;
  return (
    pattern.length <= label.length + 1 &&
    label.startsWith(pattern.slice(0, star)) &&
    label.endsWith(pattern.slice(star + 1))
  );
}

/** Whether DNS name `name` matches certificate DNS SAN `pattern` (which may hold a wildcard). */
export function dnsNameMatch(name: string, pattern: string): boolean {
  const n = name.toLowerCase();
  const p = pattern.toLowerCase();
  if (n === p) return true;
  const pDot = p.indexOf('.');
  const nDot = n.indexOf('.');
  if (pDot < 0 || nDot < 0) return false;
  const pFirst = p.slice(0, pDot);
  const pRest = p.slice(pDot + 1);
  if (!pFirst.includes('*') || pRest.includes('*') || pFirst.startsWith('xn--')) return false;
  return n.slice(nDot + 1) === pRest && labelWildcardMatch(n.slice(0, nDot), pFirst);
}

/** One compiled SubjectAltNameMatcher. */
export class SanMatcher {
  readonly #type: SanType;
  /** Set for `exact` on DNS: compared with DNS rules. */
  readonly #dnsExact: string | undefined;
  readonly #predicate: StringPredicate;
  /** Regexes match UTF-8 byte strings (see compileLinearRe2), SANs are decoded text. */
  readonly #regex: boolean;

  constructor(model: SanMatcherModel) {
    this.#type = model.sanType;
    this.#dnsExact =
      model.sanType === 'DNS' && model.matcher.kind === 'exact' ? model.matcher.value : undefined;
    this.#predicate = compileStringMatcher(model.matcher);
    this.#regex = model.matcher.kind === 'regex';
  }

  matches(san: SubjectAltName): boolean {
    if (san.type !== this.#type) return false;
    if (this.#dnsExact !== undefined) return dnsNameMatch(this.#dnsExact, san.value);
    const value = this.#regex ? Buffer.from(san.value, 'utf8').toString('latin1') : san.value;
    return this.#predicate(value);
  }
}

/** Whether any SAN matches any matcher (Envoy's matchSubjectAltName). */
export function matchesAnySan(
  sans: readonly SubjectAltName[],
  matchers: readonly SanMatcher[],
): boolean {
  return matchers.some((m) => sans.some((san) => m.matches(san)));
}

/**
 * auto_san_validation (Envoy's verifySubjectAltName): a DNS SAN matches `name` with DNS rules,
 * any other SAN must equal it.
 */
export function sanListMatches(sans: readonly SubjectAltName[], name: string): boolean {
  return sans.some((san) =>
    san.type === 'DNS'
      ? dnsNameMatch(name, san.value)
      : san.value === (san.type === 'IP_ADDRESS' ? normaliseIp(name) : name),
  );
}
