/**
 * The header list of one proxied message (request to the upstream, response to the client):
 * parallel arrays of lower-case names and values, in arrival order, with repeated names kept as
 * separate entries. It implements the router's MutableHeaders (header mutations) and renders to
 * the flat `[name, value, ...]` array that undici and `res.writeHead` take without copying into
 * an object.
 */
import type { MutableHeaders } from '../router/header-mutations.js';

/**
 * RFC 9110 §7.6.1 connection-specific fields, never forwarded (Envoy strips the same set).
 * `te` is handled separately: "trailers" may pass.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName);
}

export class HeaderMap implements MutableHeaders {
  readonly names: string[] = [];
  readonly values: string[] = [];

  /** A map of `{ name: value | [values] }` (names lower-cased), e.g. from a test's literal. */
  static fromObject(object: Readonly<Record<string, string | readonly string[]>>): HeaderMap {
    const map = new HeaderMap();
    for (const [name, value] of Object.entries(object)) {
      if (typeof value === 'string') map.append(name.toLowerCase(), value);
      else for (const v of value) map.append(name.toLowerCase(), v);
    }
    return map;
  }

  get size(): number {
    return this.names.length;
  }

  get(name: string): string | undefined {
    let found: string | undefined;
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] === name)
        found = found === undefined ? this.values[i] : `${found},${this.values[i]}`;
    }
    return found;
  }

  has(name: string): boolean {
    return this.names.includes(name);
  }

  set(name: string, value: string): void {
    const index = this.names.indexOf(name);
    if (index < 0) {
      this.names.push(name);
      this.values.push(value);
      return;
    }
    this.values[index] = value;
    for (let i = this.names.length - 1; i > index; i--) {
      if (this.names[i] === name) {
        this.names.splice(i, 1);
        this.values.splice(i, 1);
      }
    }
  }

  append(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }

  remove(name: string): void {
    for (let i = this.names.length - 1; i >= 0; i--) {
      if (this.names[i] === name) {
        this.names.splice(i, 1);
        this.values.splice(i, 1);
      }
    }
  }

  /** `[name, value, name, value, ...]`. */
  toFlat(): string[] {
    const flat = new Array<string>(this.names.length * 2);
    for (let i = 0; i < this.names.length; i++) {
      flat[2 * i] = this.names[i]!;
      flat[2 * i + 1] = this.values[i]!;
    }
    return flat;
  }
}

/** Header bytes as a string, byte for byte (Node writes header strings back as latin1). */
function latin1(raw: string | Buffer): string {
  return typeof raw === 'string' ? raw : raw.toString('latin1');
}

/**
 * Copies a raw header list (`req.rawHeaders`, or undici's Buffer list) without hop-by-hop
 * fields, pseudo-headers, `host` (the caller sets the authority) and the fields the Connection
 * header nominates. `te: trailers` is kept (gRPC needs it).
 *
 * One pass over the list (this runs twice per proxied request); the rare Connection header
 * with extra tokens is applied afterwards by removing the nominated names.
 */
export function copyForwardableHeaders(raw: readonly (string | Buffer)[], into: HeaderMap): void {
  let nominated: string[] | undefined;
  const names = into.names;
  const values = into.values;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = lowerName(raw[i]!);
    if (name.charCodeAt(0) === 58 /* ':' */ || name === 'host') continue;
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') nominated = connectionTokens(latin1(raw[i + 1]!), nominated);
      continue;
    }
    const value = latin1(raw[i + 1]!);
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    names.push(name);
    values.push(value);
  }
  if (nominated !== undefined) for (const name of nominated) into.remove(name);
}

/**
 * Lower-case forms of the header names seen so far, as received (`Content-Type` →
 * `content-type`): upstreams send the same few names in the same case on every response, so a
 * hit saves lower-casing (a new string) per field. Bounded: names past the limit are lower-cased
 * each time.
 */
const LOWER_NAMES = new Map<string, string>();
const LOWER_NAMES_LIMIT = 512;

function lowerName(raw: string | Buffer): string {
  const name = latin1(raw);
  let lower = LOWER_NAMES.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER_NAMES.size < LOWER_NAMES_LIMIT) LOWER_NAMES.set(name, lower);
  }
  return lower;
}

/** The field names a Connection header nominates (RFC 9110 §7.6.1), besides close/keep-alive. */
function connectionTokens(value: string, into: string[] | undefined): string[] | undefined {
  // The usual values carry no nominated name: answered without splitting.
  if (value.length === 10 || value.length === 5) {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return into;
  }
  for (const token of value.toLowerCase().split(',')) {
    const trimmed = token.trim();
    if (trimmed !== '' && trimmed !== 'close' && trimmed !== 'keep-alive')
      (into ??= []).push(trimmed);
  }
  return into;
}

/**
 * A request's headers as the connection manager and the HTTP filters see them: Envoy's
 * RequestHeaderMap, with the pseudo-headers as fields (`:method`, `:path`, `:authority`,
 * `:scheme`) and the regular headers in the map. The codec removes hop-by-hop fields and moves
 * `Host` into `authority`; the router writes `host` back for the upstream request. It is the
 * RouteRequest the route table matches (filters may change it and clear the route cache).
 */
export class RequestHeaderMap extends HeaderMap {
  constructor(
    /** `:method`. */
    public method: string,
    /** `:path`: path and query as received (origin-form). */
    public path: string,
    /** `:authority` (Host), as received, port kept. */
    public authority: string,
    /** `:scheme`: "http" or "https" (the downstream connection's, or x-forwarded-proto). */
    public scheme: string,
    /** "HTTP/1.0", "HTTP/1.1" or "HTTP/2". */
    readonly protocol: string,
  ) {
    super();
  }

  /** RouteRequest: the map itself answers header lookups. */
  get headers(): HeaderMap {
    return this;
  }

  /** Regular headers, plus the pseudo-headers (and `host` for `:authority`), as Envoy's matchers see them. */
  override get(name: string): string | undefined {
    if (name.charCodeAt(0) === 58 /* ':' */) {
      switch (name) {
        case ':method':
          return this.method;
        case ':path':
          return this.path;
        case ':authority':
          return this.authority;
        case ':scheme':
          return this.scheme;
        default:
          return undefined;
      }
    }
    if (name === 'host') return super.get(name) ?? this.authority;
    return super.get(name);
  }
}

/** A response's headers: Envoy's ResponseHeaderMap, `:status` as a field. */
export class ResponseHeaderMap extends HeaderMap {
  constructor(public status: number) {
    super();
  }
}
