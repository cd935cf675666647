/**
 * request/response_headers_to_add and _to_remove, compiled once per route table. Values may
 * contain Envoy's header formatters (`%DOWNSTREAM_REMOTE_ADDRESS%`, `%REQ(x-foo)%`, ...); the
 * supported set is SUPPORTED_HEADER_FORMATTERS, and translation rejects any other with
 * validateHeaderValueFormat's message instead of passing it through as a literal.
 *
 * Envoy's order (route_components.proto, "Custom request/response headers"): within one level,
 * removals happen before additions; levels are applied weighted cluster → route → virtual host →
 * route configuration, so an outer level's OVERWRITE wins. With
 * `most_specific_header_mutations_wins` the order is reversed and the innermost level wins.
 */
import { hostname } from 'node:os';
import { checkTimeFormat, compileTimeFormat } from '../access-log/access-log-time.js';
import type { HeaderMutationsModel, HeaderValueOptionModel } from '../config/model.js';

/** Read access to a header map; names are lower-case; repeated headers come back joined by ','. */
export interface HeaderLookup {
  get(name: string): string | undefined;
}

/** The request path's header map as the mutations need it (names lower-case). */
export interface MutableHeaders extends HeaderLookup {
  /** Replaces every value of `name`. */
  set(name: string, value: string): void;
  /** Adds one more value (a further field line, or joined with ',' where the codec must). */
  append(name: string, value: string): void;
  remove(name: string): void;
}

/**
 * What formatters read. The request path builds one per request (or reuses one per connection);
 * addresses are `ip:port` (IPv6 as `[ip]:port`), as Envoy prints them.
 */
export interface HeaderFormatterContext {
  /** The trusted client address after XFF processing (see http/xff.ts), `ip:port`. */
  readonly downstreamRemoteAddress: string;
  /** The peer of the downstream connection, `ip:port`. */
  readonly downstreamDirectRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  /** "HTTP/1.0", "HTTP/1.1" or "HTTP/2". */
  readonly protocol: string;
  /** The chosen upstream host `ip:port`, or "" before one is chosen. */
  readonly upstreamRemoteAddress: string;
  /** The request's headers; pseudo-headers (`:path`, `:method`, ...) should resolve too. */
  readonly requestHeaders: HeaderLookup;
  /** When the request started (ms since the epoch), for %START_TIME%; absent: formatting time. */
  readonly startTimeMs?: number;
}

/**
 * Formatter names accepted in header values: `%NAME%`; `%REQ(name)%` / `%REQ(name?alt)%`
 * (optionally `:N` to truncate to N characters) reads a request header, pseudo-headers
 * included; `%START_TIME(format)%` takes an optional strftime-like format (UTC).
 */
export const SUPPORTED_HEADER_FORMATTERS: readonly string[] = [
  'DOWNSTREAM_REMOTE_ADDRESS',
  'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_REMOTE_PORT',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_ADDRESS',
  'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_PORT',
  'UPSTREAM_REMOTE_ADDRESS',
  'UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'HOSTNAME',
  'PROTOCOL',
  'START_TIME',
  'REQ',
];

const SUPPORTED_LIST = SUPPORTED_HEADER_FORMATTERS.map((n) =>
  n === 'REQ' ? '%REQ(name)%' : n === 'START_TIME' ? '%START_TIME(format)%' : `%${n}%`,
).join(', ');

const HOSTNAME = hostname();

type Formatter = (ctx: HeaderFormatterContext) => string;

/** `1.2.3.4:80` → `1.2.3.4`; `[::1]:80` → `::1`; a value without a port is returned as is. */
export function addressWithoutPort(address: string): string {
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    return close < 0 ? address : address.slice(1, close);
  }
  const colon = address.lastIndexOf(':');
  return colon < 0 || address.indexOf(':') !== colon ? address : address.slice(0, colon);
}

function portOf(address: string): string {
  const colon = address.lastIndexOf(':');
  const close = address.lastIndexOf(']');
  return colon < 0 || colon < close ? '' : address.slice(colon + 1);
}

function simpleFormatter(name: string): Formatter | undefined {
  switch (name) {
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return (ctx) => ctx.downstreamRemoteAddress;
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (ctx) => addressWithoutPort(ctx.downstreamRemoteAddress);
    case 'DOWNSTREAM_REMOTE_PORT':
      return (ctx) => portOf(ctx.downstreamRemoteAddress);
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS':
      return (ctx) => ctx.downstreamDirectRemoteAddress;
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT':
      return (ctx) => addressWithoutPort(ctx.downstreamDirectRemoteAddress);
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return (ctx) => ctx.downstreamLocalAddress;
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return (ctx) => addressWithoutPort(ctx.downstreamLocalAddress);
    case 'DOWNSTREAM_LOCAL_PORT':
      return (ctx) => portOf(ctx.downstreamLocalAddress);
    case 'UPSTREAM_REMOTE_ADDRESS':
      return (ctx) => ctx.upstreamRemoteAddress;
    case 'UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (ctx) => addressWithoutPort(ctx.upstreamRemoteAddress);
    case 'HOSTNAME':
      return () => HOSTNAME;
    case 'PROTOCOL':
      return (ctx) => ctx.protocol;
    case 'START_TIME':
      return (ctx) => new Date(ctx.startTimeMs ?? Date.now()).toISOString();
    default:
      return undefined;
  }
}

const COMMAND_NAME = /^[A-Z_0-9]+/;

/**
 * The formatter of one `%...%` command: `name`, its `(argument)` if any, and the `:N` suffix
 * (maximum length) if any. Returns the reason when it is not supported.
 */
function commandFormatter(
  name: string,
  argument: string | undefined,
  maxLength: number | undefined,
): Formatter | string {
  const command = `%${name}${argument === undefined ? '' : `(${argument})`}${maxLength === undefined ? '' : `:${maxLength}`}%`;
  if (name === 'REQ') {
    const [main, alternative, extra] = (argument ?? '').toLowerCase().split('?');
    if (!main || alternative === '' || extra !== undefined)
      return `${command}: expected %REQ(header)% or %REQ(header?alternative)%`;
    const read: Formatter = (ctx) =>
      ctx.requestHeaders.get(main) ??
      (alternative === undefined ? '' : (ctx.requestHeaders.get(alternative) ?? ''));
    return maxLength === undefined ? read : (ctx) => read(ctx).slice(0, maxLength);
  }
  if (maxLength !== undefined) return `${command}: a :N length limit applies to %REQ(...)% only`;
  if (name === 'START_TIME' && argument !== undefined && argument !== '') {
    const error = checkTimeFormat(argument);
    if (error !== undefined) return `${command}: ${error}`;
    const format = compileTimeFormat(argument);
    return (ctx) => format(ctx.startTimeMs ?? Date.now());
  }
  const formatter = argument === undefined ? simpleFormatter(name) : undefined;
  return formatter ?? `unsupported header formatter ${command} (supported: ${SUPPORTED_LIST})`;
}

/** A header value compiled once: a plain string, or parts to concatenate per request. */
export type CompiledHeaderValue = string | readonly (string | Formatter)[];

/**
 * Parses a header value with `%...%` formatters. `%%` is a literal `%`. As in Envoy's parser, a
 * command's argument runs to the first `)` and may contain `%` (`%START_TIME(%Y-%m-%d)%`).
 * Returns the compiled value or an error naming the offending formatter.
 */
export function parseHeaderValue(
  value: string,
): { ok: true; value: CompiledHeaderValue } | { ok: false; error: string } {
  if (!value.includes('%')) return { ok: true, value };
  const parts: (string | Formatter)[] = [];
  let literal = '';
  let at = 0;
  while (at < value.length) {
    const percent = value.indexOf('%', at);
    if (percent < 0) {
      literal += value.slice(at);
      break;
    }
    literal += value.slice(at, percent);
    if (value[percent + 1] === '%') {
      literal += '%';
      at = percent + 2;
      continue;
    }
    const name = COMMAND_NAME.exec(value.slice(percent + 1))?.[0] ?? '';
    let cursor = percent + 1 + name.length;
    let argument: string | undefined;
    if (name !== '' && value[cursor] === '(') {
      const close = value.indexOf(')', cursor);
      if (close < 0) return { ok: false, error: `unterminated header formatter in "${value}"` };
      argument = value.slice(cursor + 1, close);
      cursor = close + 1;
    }
    const end = value.indexOf('%', cursor);
    if (name === '' || end < 0)
      return {
        ok: false,
        error: `unterminated header formatter in "${value}" (write %% for a literal %)`,
      };
    const suffix = value.slice(cursor, end);
    if (suffix !== '' && !/^:\d+$/.test(suffix))
      return { ok: false, error: `malformed header formatter %${value.slice(percent + 1, end)}%` };
    const formatter = commandFormatter(
      name,
      argument,
      suffix === '' ? undefined : Number(suffix.slice(1)),
    );
    if (typeof formatter === 'string') return { ok: false, error: formatter };
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(formatter);
    at = end + 1;
  }
  if (literal !== '') parts.push(literal);
  if (parts.length === 0) return { ok: true, value: '' };
  if (parts.length === 1 && typeof parts[0] === 'string') return { ok: true, value: parts[0] };
  return { ok: true, value: parts };
}

/** For translation: undefined when `value` compiles, else the reason (no field path). */
export function validateHeaderValueFormat(value: string): string | undefined {
  const parsed = parseHeaderValue(value);
  return parsed.ok ? undefined : parsed.error;
}

export function evaluateHeaderValue(
  value: CompiledHeaderValue,
  ctx: HeaderFormatterContext,
): string {
  if (typeof value === 'string') return value;
  let out = '';
  for (const part of value) out += typeof part === 'string' ? part : part(ctx);
  return out;
}

const enum AppendAction {
  AppendIfExistsOrAdd,
  AddIfAbsent,
  OverwriteIfExistsOrAdd,
  OverwriteIfExists,
}

/** A HeaderValueOption compiled once (formatters parsed, action decoded). */
export interface CompiledHeaderOption {
  readonly name: string;
  readonly value: CompiledHeaderValue;
  readonly action: AppendAction;
  readonly keepEmptyValue: boolean;
}

/** Compiles one HeaderValueOption; throws on a formatter translation should have rejected. */
export function compileHeaderOption(option: HeaderValueOptionModel): CompiledHeaderOption {
  const parsed = parseHeaderValue(option.value);
  if (!parsed.ok) {
    // Translation validates formatters, so this is a contract violation, not user input.
    throw new Error(`header "${option.key}": ${parsed.error}`);
  }
  const action =
    option.action === 'ADD_IF_ABSENT'
      ? AppendAction.AddIfAbsent
      : option.action === 'OVERWRITE_IF_EXISTS_OR_ADD'
        ? AppendAction.OverwriteIfExistsOrAdd
        : option.action === 'OVERWRITE_IF_EXISTS'
          ? AppendAction.OverwriteIfExists
          : AppendAction.AppendIfExistsOrAdd;
  return {
    name: option.key.toLowerCase(),
    value: parsed.value,
    action,
    keepEmptyValue: option.keepEmptyValue === true,
  };
}

/** Applies one option per its append_action (an empty value is skipped unless kept). */
export function applyHeaderOption(
  option: CompiledHeaderOption,
  headers: MutableHeaders,
  ctx: HeaderFormatterContext,
): void {
  const value = evaluateHeaderValue(option.value, ctx);
  if (value === '' && !option.keepEmptyValue) return;
  switch (option.action) {
    case AppendAction.AppendIfExistsOrAdd:
      headers.append(option.name, value);
      break;
    case AppendAction.AddIfAbsent:
      if (headers.get(option.name) === undefined) headers.set(option.name, value);
      break;
    case AppendAction.OverwriteIfExistsOrAdd:
      headers.set(option.name, value);
      break;
    case AppendAction.OverwriteIfExists:
      if (headers.get(option.name) !== undefined) headers.set(option.name, value);
      break;
  }
}

function applyOptions(
  options: readonly CompiledHeaderOption[],
  headers: MutableHeaders,
  ctx: HeaderFormatterContext,
): void {
  for (const option of options) applyHeaderOption(option, headers, ctx);
}

/** One level's mutations (route config, virtual host, route or weighted cluster), compiled. */
export class CompiledHeaderMutations {
  private readonly requestAdd: readonly CompiledHeaderOption[];
  private readonly requestRemove: readonly string[];
  private readonly responseAdd: readonly CompiledHeaderOption[];
  private readonly responseRemove: readonly string[];
  readonly hasRequest: boolean;
  readonly hasResponse: boolean;

  constructor(model: HeaderMutationsModel) {
    this.requestAdd = model.requestHeadersToAdd.map(compileHeaderOption);
    this.requestRemove = model.requestHeadersToRemove.map((n) => n.toLowerCase());
    this.responseAdd = model.responseHeadersToAdd.map(compileHeaderOption);
    this.responseRemove = model.responseHeadersToRemove.map((n) => n.toLowerCase());
    this.hasRequest = this.requestAdd.length > 0 || this.requestRemove.length > 0;
    this.hasResponse = this.responseAdd.length > 0 || this.responseRemove.length > 0;
  }

  /** Removes, then adds (Envoy's HeaderParser: remove-before-add within a level). */
  applyRequest(headers: MutableHeaders, ctx: HeaderFormatterContext): void {
    for (const name of this.requestRemove) headers.remove(name);
    applyOptions(this.requestAdd, headers, ctx);
  }

  applyResponse(headers: MutableHeaders, ctx: HeaderFormatterContext): void {
    for (const name of this.responseRemove) headers.remove(name);
    applyOptions(this.responseAdd, headers, ctx);
  }
}

/**
 * The levels to apply for one route selection, innermost first (weighted cluster, route,
 * virtual host, route config), already ordered for `most_specific_header_mutations_wins` and
 * with empty levels dropped, so the per-request work is a flat loop.
 */
export class HeaderMutationChain {
  private readonly request: readonly CompiledHeaderMutations[];
  private readonly response: readonly CompiledHeaderMutations[];

  constructor(innermostFirst: readonly CompiledHeaderMutations[], mostSpecificWins: boolean) {
    const ordered = mostSpecificWins ? [...innermostFirst].reverse() : innermostFirst;
    this.request = ordered.filter((level) => level.hasRequest);
    this.response = ordered.filter((level) => level.hasResponse);
  }

  get empty(): boolean {
    return this.request.length === 0 && this.response.length === 0;
  }

  applyRequest(headers: MutableHeaders, ctx: HeaderFormatterContext): void {
    for (const level of this.request) level.applyRequest(headers, ctx);
  }

  applyResponse(headers: MutableHeaders, ctx: HeaderFormatterContext): void {
    for (const level of this.response) level.applyResponse(headers, ctx);
  }
}
