/**
 * Route hash_policy → the request hash RING_HASH and MAGLEV pick with (Envoy's
 * HashPolicyImpl). Policies are evaluated in order; each that yields a value is folded into the
 * hash as rotate-left(hash, 1) XOR value; a terminal policy that yielded a value stops the walk.
 * No policy yielding a value means no hash (the load balancer then uses a random one).
 *
 * - header: the header's value (repeated headers joined by ',');
 * - cookie: the cookie's value; when absent and a ttl is configured, a value derived from the
 *   client address is generated and reported in `generatedCookies` so the request path can send it
 *   back as Set-Cookie (see formatHashCookie), as Envoy does;
 * - source_ip: the trusted client address (after XFF processing);
 * - query_parameter: the parameter's first value.
 */
import type { HashPolicyModel } from '../config/model.js';
import type { HeaderLookup } from '../router/header-mutations.js';
import { findQueryParameter } from '../router/route-match.js';
import { xxhash32 } from './xxhash32.js';

export interface HashRequest {
  readonly headers: HeaderLookup;
  /** Path and query as received. */
  readonly path: string;
}

export interface GeneratedCookie {
  readonly name: string;
  readonly value: string;
  readonly ttlMs: number;
  readonly path: string | undefined;
}

/** The value of cookie `name` in a Cookie header (`a=1; b="2"`), quotes removed. */
export function findCookie(header: string, name: string): string | undefined {
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(';', at);
    if (end < 0) end = header.length;
    while (at < end && header.charCodeAt(at) === 0x20) at++;
    if (header.startsWith(name, at) && header.charCodeAt(at + name.length) === 0x3d /* = */) {
      let value = header.slice(at + name.length + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
        value = value.slice(1, -1);
      return value;
    }
    at = end + 1;
  }
  return undefined;
}

/** Set-Cookie value for a generated hash cookie, in Envoy's format. */
export function formatHashCookie(cookie: GeneratedCookie): string {
  let value = `${cookie.name}="${cookie.value}"; Max-Age=${Math.floor(cookie.ttlMs / 1000)}`;
  if (cookie.path !== undefined && cookie.path !== '') value += `; Path=${cookie.path}`;
  return value + '; HttpOnly';
}

function queryOf(path: string): string {
  const q = path.indexOf('?');
  if (q < 0) return '';
  const fragment = path.indexOf('#', q);
  return path.slice(q + 1, fragment < 0 ? path.length : fragment);
}

function policyValue(
  policy: HashPolicyModel,
  req: HashRequest,
  sourceIp: string,
  generatedCookies: GeneratedCookie[] | undefined,
): string | undefined {
  switch (policy.kind) {
    case 'header':
      return req.headers.get(policy.name.toLowerCase());
    case 'source_ip':
      return sourceIp === '' ? undefined : sourceIp;
    case 'query_parameter':
      return findQueryParameter(queryOf(req.path), policy.name);
    case 'cookie': {
      const header = req.headers.get('cookie');
      const value = header === undefined ? undefined : findCookie(header, policy.name);
      if (value !== undefined || policy.ttlMs === undefined) return value;
      const generated = xxhash32(sourceIp).toString(16).padStart(8, '0');
      generatedCookies?.push({
        name: policy.name,
        value: generated,
        ttlMs: policy.ttlMs,
        path: policy.path,
      });
      return generated;
    }
  }
}

/**
 * The request hash for `policies`, or undefined when none applies. `sourceIp` is the trusted
 * client address; `generatedCookies` (optional, reusable) receives cookies to set.
 */
export function hashForRequest(
  policies: readonly HashPolicyModel[],
  req: HashRequest,
  sourceIp: string,
  generatedCookies?: GeneratedCookie[],
): number | undefined {
  let hash: number | undefined;
  for (const policy of policies) {
    const value = policyValue(policy, req, sourceIp, generatedCookies);
    if (value === undefined) continue;
    const valueHash = xxhash32(value);
    hash = hash === undefined ? valueHash : (((hash << 1) | (hash >>> 31)) ^ valueHash) >>> 0;
    if (policy.terminal) break;
  }
  return hash;
}
