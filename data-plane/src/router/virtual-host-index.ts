/**
 * Virtual host selection by authority, in Envoy's order (route_components.proto VirtualHost
 * domains): 1. exact domain, 2. the longest suffix wildcard (`*.foo.com`, `*-bar.foo.com`),
 * 3. the longest prefix wildcard (`foo.*`, `foo-*`), 4. `*`. A wildcard never matches the empty
 * string (`*.foo.com` does not match `.foo.com`).
 *
 * Ports: like Envoy with `strip_matching_host_port`/`strip_any_host_port` off and
 * `ignore_port_in_host_matching` false (all defaults), the authority is matched as received, port
 * included: `foo.com:8080` matches the domain `foo.com:8080` (or `foo.com:*`, `*`), not `foo.com`.
 * Stripping the port when those HCM options are on is the request path's job (it rewrites the Host
 * header before routing); `ignorePortInHostMatching` on the route config strips it here.
 */
interface Wildcard<T> {
  readonly affix: string;
  readonly value: T;
}

// Authority strings repeat a lot in practice; caching the wildcard outcome per authority keeps
// lookups at one Map probe. Bounded, and cleared wholesale when full (no LRU bookkeeping cost).
const CACHE_LIMIT = 4096;

export class VirtualHostIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly suffixes: Wildcard<T>[] = [];
  private readonly prefixes: Wildcard<T>[] = [];
  private catchAll: T | undefined;
  private readonly cache = new Map<string, T | null>();
  private readonly stripPort: boolean;

  constructor(entries: readonly { domains: readonly string[]; value: T }[], stripPort = false) {
    this.stripPort = stripPort;
    for (const { domains, value } of entries) {
      for (const raw of domains) {
        const domain = raw.toLowerCase();
        // Duplicate domains are rejected by translation; the first one wins here.
        if (domain === '*') this.catchAll ??= value;
        else if (domain.startsWith('*')) this.suffixes.push({ affix: domain.slice(1), value });
        else if (domain.endsWith('*')) this.prefixes.push({ affix: domain.slice(0, -1), value });
        else if (!this.exact.has(domain)) this.exact.set(domain, value);
      }
    }
    // Longest first; Array.prototype.sort is stable, so equal lengths keep config order.
    this.suffixes.sort((a, b) => b.affix.length - a.affix.length);
    this.prefixes.sort((a, b) => b.affix.length - a.affix.length);
  }

  /** `authority` as received (any case); undefined when no virtual host matches (404). */
  find(authority: string): T | undefined {
    let host = authority.toLowerCase();
    if (this.stripPort) host = stripPort(host);
    const exact = this.exact.get(host);
    if (exact !== undefined) return exact;
    const cached = this.cache.get(host);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.findWildcard(host);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(host, found ?? null);
    return found;
  }

  private findWildcard(host: string): T | undefined {
    for (const { affix, value } of this.suffixes) {
      if (host.length > affix.length && host.endsWith(affix)) return value;
    }
    for (const { affix, value } of this.prefixes) {
      if (host.length > affix.length && host.startsWith(affix)) return value;
    }
    return this.catchAll;
  }
}

/** `host:port` → `host`, `[v6]:port` → `[v6]`; a bare IPv6 address is left alone. */
export function stripPort(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon < 0) return authority;
  if (authority.startsWith('[')) {
    return authority.charCodeAt(colon - 1) === 0x5d /* ] */ ? authority.slice(0, colon) : authority;
  }
  return authority.indexOf(':') === colon ? authority.slice(0, colon) : authority;
}
