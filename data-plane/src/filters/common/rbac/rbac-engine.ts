/**
 * Envoy's RBAC engine (filters/common/rbac): RbacModel compiled into a tree of matcher objects
 * once per config, then evaluated per request or connection without allocating.
 *
 * - A policy matches when any of its permissions and any of its principals match.
 * - ALLOW: allowed when a policy matches; DENY: allowed when none does; LOG: always allowed
 *   (`matched` tells whether to hint the access log). The effective policy is the first
 *   matching one in name order, as Envoy's ordered policy map reports it.
 * - Within a list of alternatives (a policy's permissions or principals, or_rules, or_ids), the
 *   CIDR entries of one kind are merged into one CidrSet: a thousand ranges cost one trie walk.
 * - At network level there is no request: headers are empty (as in Envoy, a header matcher then
 *   sees every header absent) and url_path never matches.
 */
import type { HeaderLookup } from '../../../router/header-mutations.js';
import {
  compileHeaderMatcher,
  compileStringMatcher,
  type StringPredicate,
} from '../../../router/route-match.js';
import { parseCidr, parseIp, type Cidr, type IpBytes } from '../../../listener/cidr.js';
import { CidrSet } from './cidr-set.js';
import type { ConnectionFacts } from './connection-facts.js';
import type {
  CidrModel,
  PermissionModel,
  PolicyModel,
  PrincipalModel,
  RbacAction,
  RbacModel,
} from './rbac-model.js';
import { rangePrefixLen } from './translate-rbac.js';

const NO_HEADERS: HeaderLookup = { get: () => undefined };

/**
 * What one evaluation reads. The filters keep one instance per worker and refill it for each
 * request or connection (evaluation is synchronous).
 */
export class RbacInput {
  connection!: ConnectionFacts;
  headers: HeaderLookup = NO_HEADERS;
  /** `:path` as received; undefined at network level. */
  path: string | undefined = undefined;
  #remoteAddress = '';
  #remoteIp: IpBytes | undefined = undefined;
  #remoteParsed = false;
  #pathOnly: string | undefined = undefined;

  /** A request: its headers, path and trusted client address (StreamInfo.downstreamRemoteIp). */
  forRequest(
    connection: ConnectionFacts,
    headers: HeaderLookup,
    path: string,
    remoteAddress: string,
  ): this {
    this.connection = connection;
    this.headers = headers;
    this.path = path;
    this.#remoteAddress = remoteAddress;
    this.#remoteParsed = false;
    this.#pathOnly = undefined;
    return this;
  }

  /** A connection: no headers, no path; the remote address is the peer's. */
  forConnection(connection: ConnectionFacts): this {
    this.connection = connection;
    this.headers = NO_HEADERS;
    this.path = undefined;
    this.#remoteAddress = connection.peerAddress;
    this.#remoteParsed = false;
    this.#pathOnly = undefined;
    return this;
  }

  readonly #remoteV4 = new Uint8Array(4);

  /**
   * The trusted client address as bytes, parsed only when it differs from the peer's; an IPv4
   * address (the common case behind a proxy) is parsed into a reused buffer.
   */
  get remoteIp(): IpBytes | undefined {
    if (!this.#remoteParsed) {
      this.#remoteParsed = true;
      const address = this.#remoteAddress;
      if (address === this.connection.peerAddress) this.#remoteIp = this.connection.peerIp;
      else if (parseIpv4Into(address, this.#remoteV4)) this.#remoteIp = this.#remoteV4;
      else this.#remoteIp = parseIp(address);
    }
    return this.#remoteIp;
  }

  /** The path without query and fragment (Envoy's PathUtil::removeQueryAndFragment). */
  get pathOnly(): string | undefined {
    if (this.path === undefined) return undefined;
    if (this.#pathOnly === undefined) {
      const path = this.path;
      let end = path.length;
      for (let i = 0; i < path.length; i++) {
        const c = path.charCodeAt(i);
        if (c === 0x3f /* ? */ || c === 0x23 /* # */) {
          end = i;
          break;
        }
      }
      this.#pathOnly = end === path.length ? path : path.slice(0, end);
    }
    return this.#pathOnly;
  }
}

/**
 * Dotted-quad IPv4 (optionally IPv4-mapped, "::ffff:a.b.c.d") into `out`; false for anything
 * else (which parseIp then handles or rejects).
 */
export function parseIpv4Into(text: string, out: Uint8Array): boolean {
  let i = text.length > 7 && text.charCodeAt(0) === 0x3a /* : */ && /^::ffff:/i.test(text) ? 7 : 0;
  for (let octet = 0; octet < 4; octet++) {
    let value = 0;
    const start = i;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      i++;
    }
    const digits = i - start;
    // No digits, more than 3, a leading zero (not accepted by net.isIP), or over 255.
    if (digits === 0 || digits > 3 || value > 255) return false;
    if (digits > 1 && text.charCodeAt(start) === 0x30) return false;
    out[octet] = value;
    if (octet < 3) {
      if (text.charCodeAt(i) !== 0x2e /* . */) return false;
      i++;
    }
  }
  return i === text.length;
}

interface Matcher {
  matches(input: RbacInput): boolean;
}

class AnyMatcher implements Matcher {
  matches(): boolean {
    return true;
  }
}
const ANY = new AnyMatcher();

class AndMatcher implements Matcher {
  constructor(readonly all: readonly Matcher[]) {}
  matches(input: RbacInput): boolean {
    for (const m of this.all) if (!m.matches(input)) return false;
    return true;
  }
}

class OrMatcher implements Matcher {
  constructor(readonly any: readonly Matcher[]) {}
  matches(input: RbacInput): boolean {
    for (const m of this.any) if (m.matches(input)) return true;
    return false;
  }
}

class NotMatcher implements Matcher {
  constructor(readonly inner: Matcher) {}
  matches(input: RbacInput): boolean {
    return !this.inner.matches(input);
  }
}

class HeaderRule implements Matcher {
  readonly #match: (headers: HeaderLookup) => boolean;
  constructor(match: (headers: HeaderLookup) => boolean) {
    this.#match = match;
  }
  matches(input: RbacInput): boolean {
    return this.#match(input.headers);
  }
}

class PathRule implements Matcher {
  constructor(readonly predicate: StringPredicate) {}
  matches(input: RbacInput): boolean {
    const path = input.pathOnly;
    return path !== undefined && this.predicate(path);
  }
}

const enum IpSource {
  Local,
  DirectRemote,
  Remote,
}

class IpRule implements Matcher {
  constructor(
    readonly set: CidrSet,
    readonly source: IpSource,
  ) {}
  matches(input: RbacInput): boolean {
    switch (this.source) {
      case IpSource.Local:
        return this.set.contains(input.connection.localIp);
      case IpSource.DirectRemote:
        return this.set.contains(input.connection.peerIp);
      case IpSource.Remote:
        return this.set.contains(input.remoteIp);
    }
  }
}

class PortRule implements Matcher {
  constructor(
    readonly start: number,
    /** Exclusive. */
    readonly end: number,
  ) {}
  matches(input: RbacInput): boolean {
    const port = input.connection.localPort;
    return port >= this.start && port < this.end;
  }
}

class ServerNameRule implements Matcher {
  constructor(readonly predicate: StringPredicate) {}
  matches(input: RbacInput): boolean {
    return this.predicate(input.connection.serverName);
  }
}

/** Envoy's AuthenticatedMatcher: URI SANs, then DNS SANs, then the subject. */
class AuthenticatedRule implements Matcher {
  constructor(readonly predicate: StringPredicate | undefined) {}
  matches(input: RbacInput): boolean {
    const connection = input.connection;
    if (!connection.tls) return false;
    if (this.predicate === undefined) return true;
    const identity = connection.identity;
    for (const san of identity.uriSans) if (this.predicate(san)) return true;
    for (const san of identity.dnsSans) if (this.predicate(san)) return true;
    return this.predicate(identity.subject);
  }
}

function compileCidr(model: CidrModel): Cidr {
  const cidr = parseCidr(model.address, rangePrefixLen(model.address, model.prefixLen));
  // Translation has checked every range; a bad one here is a bug, not a config error.
  if (typeof cidr === 'string') throw new Error(`RBAC CidrRange: ${cidr}`);
  return cidr;
}

/** Alternatives, the CIDR entries of each address source merged into one set. */
function anyOf(matchers: Matcher[], ranges: ReadonlyMap<IpSource, Cidr[]>): Matcher {
  for (const [source, cidrs] of ranges) matchers.push(new IpRule(new CidrSet(cidrs), source));
  if (matchers.some((m) => m === ANY)) return ANY;
  return matchers.length === 1 ? matchers[0]! : new OrMatcher(matchers);
}

function collectRange(ranges: Map<IpSource, Cidr[]>, source: IpSource, cidr: CidrModel): void {
  let list = ranges.get(source);
  if (list === undefined) ranges.set(source, (list = []));
  list.push(compileCidr(cidr));
}

function anyPermission(models: readonly PermissionModel[]): Matcher {
  const matchers: Matcher[] = [];
  const ranges = new Map<IpSource, Cidr[]>();
  for (const model of models) {
    if (model.kind === 'destination_ip') collectRange(ranges, IpSource.Local, model.cidr);
    else matchers.push(permission(model));
  }
  return anyOf(matchers, ranges);
}

function permission(model: PermissionModel): Matcher {
  switch (model.kind) {
    case 'any':
      return ANY;
    case 'and':
      return new AndMatcher(model.rules.map(permission));
    case 'or':
      return anyPermission(model.rules);
    case 'not':
      return new NotMatcher(permission(model.rule));
    case 'header':
      return new HeaderRule(compileHeaderMatcher(model.header));
    case 'url_path':
      return new PathRule(compileStringMatcher(model.path));
    case 'destination_ip':
      return new IpRule(new CidrSet([compileCidr(model.cidr)]), IpSource.Local);
    case 'destination_port':
      return new PortRule(model.port, model.port + 1);
    case 'destination_port_range':
      return new PortRule(model.start, model.end);
    case 'requested_server_name':
      return new ServerNameRule(compileStringMatcher(model.name));
  }
}

function anyPrincipal(models: readonly PrincipalModel[]): Matcher {
  const matchers: Matcher[] = [];
  const ranges = new Map<IpSource, Cidr[]>();
  for (const model of models) {
    if (model.kind === 'direct_remote_ip') collectRange(ranges, IpSource.DirectRemote, model.cidr);
    else if (model.kind === 'remote_ip') collectRange(ranges, IpSource.Remote, model.cidr);
    else matchers.push(principal(model));
  }
  return anyOf(matchers, ranges);
}

function principal(model: PrincipalModel): Matcher {
  switch (model.kind) {
    case 'any':
      return ANY;
    case 'and':
      return new AndMatcher(model.ids.map(principal));
    case 'or':
      return anyPrincipal(model.ids);
    case 'not':
      return new NotMatcher(principal(model.id));
    case 'authenticated':
      return new AuthenticatedRule(
        model.principalName ? compileStringMatcher(model.principalName) : undefined,
      );
    case 'direct_remote_ip':
      return new IpRule(new CidrSet([compileCidr(model.cidr)]), IpSource.DirectRemote);
    case 'remote_ip':
      return new IpRule(new CidrSet([compileCidr(model.cidr)]), IpSource.Remote);
    case 'header':
      return new HeaderRule(compileHeaderMatcher(model.header));
    case 'url_path':
      return new PathRule(compileStringMatcher(model.path));
  }
}

class CompiledPolicy {
  readonly permissions: Matcher;
  readonly principals: Matcher;
  constructor(
    readonly name: string,
    model: PolicyModel,
  ) {
    this.permissions = anyPermission(model.permissions);
    this.principals = anyPrincipal(model.principals);
  }
  matches(input: RbacInput): boolean {
    return this.permissions.matches(input) && this.principals.matches(input);
  }
}

/** The outcome of one evaluation; the engine reuses one instance (read it before the next). */
export interface RbacResult {
  allowed: boolean;
  /** Whether a policy matched (LOG: the access log hint). */
  matched: boolean;
  /** The first matching policy's name; "" when none matched. */
  effectivePolicyId: string;
}

/** One compiled RBAC config (rules or shadow_rules). */
export class RbacEngine {
  readonly action: RbacAction;
  readonly #policies: readonly CompiledPolicy[];
  readonly #result: RbacResult = { allowed: false, matched: false, effectivePolicyId: '' };

  constructor(model: RbacModel) {
    this.action = model.action;
    this.#policies = model.policies.map((p) => new CompiledPolicy(p.name, p));
  }

  evaluate(input: RbacInput): RbacResult {
    const result = this.#result;
    result.matched = false;
    result.effectivePolicyId = '';
    for (const policy of this.#policies) {
      if (policy.matches(input)) {
        result.matched = true;
        result.effectivePolicyId = policy.name;
        break;
      }
    }
    result.allowed =
      this.action === 'ALLOW' ? result.matched : this.action === 'DENY' ? !result.matched : true;
    return result;
  }
}
