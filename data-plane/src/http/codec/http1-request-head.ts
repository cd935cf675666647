/**
 * Turns a parsed HTTP/1.x request head into the connection manager's RequestHeaderMap, with the
 * checks llhttp leaves to its caller (RFC 9112, and Envoy's HTTP/1 codec where it answers):
 * version 1.0/1.1 only (HTTP/0.9 and a missing version are 400; HTTP/1.0 is 426 when not
 * accepted, as Envoy's `accept_http_10: false`), exactly one Host on HTTP/1.1 with a valid
 * value, Transfer-Encoding only as a single final `chunked` (other codings 501, as Envoy; on
 * HTTP/1.0 400), never together with Content-Length, at most `maxHeadersCount` fields (431),
 * request targets in origin, absolute (authority and path from the URL), authority (CONNECT
 * only) or asterisk (OPTIONS only) form.
 */
import { RequestHeaderMap } from '../header-map.js';
import { Http1HeadError } from './http1-parser.js';
import { trimOws } from './http1-chunked.js';

export const enum BodyFraming {
  None,
  Length,
  Chunked,
}

export const enum UpgradeKind {
  None,
  Upgrade,
  Connect,
}

/** Everything the codec needs from one request head; one instance per connection, refilled. */
export class ParsedRequest {
  head: RequestHeaderMap | undefined;
  framing = BodyFraming.None;
  contentLength = 0;
  keepAlive = false;
  expectContinue = false;
  upgrade = UpgradeKind.None;
}

/** A parsed HTTP/1.x request head: llhttp's through Http1HeadParser, or node:http's. */
export interface RequestHeadFields {
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly method: string;
  readonly url: string;
  /** `[name, value, ...]` as received. */
  readonly rawHeaders: readonly string[];
  /** llhttp saw Connection: upgrade with Upgrade, or CONNECT. */
  readonly upgrade: boolean;
  readonly shouldKeepAlive: boolean;
}

export interface RequestHeadLimits {
  readonly maxHeadersCount: number;
  readonly acceptHttp10?: boolean;
}

/** reg-name / IP-literal / port characters (RFC 3986 §3.2.2) a Host value may hold. */
const HOST_CHAR: Uint8Array = (() => {
  const table = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) table[c] = 1;
  for (let c = 65; c <= 90; c++) table[c] = 1;
  for (let c = 97; c <= 122; c++) table[c] = 1;
  for (const c of "-._~!$&'()*+,;=:%[]") table[c.charCodeAt(0)] = 1;
  return table;
})();

function validHost(value: string): boolean {
  if (value === '') return false;
  for (let i = 0; i < value.length; i++) if (HOST_CHAR[value.charCodeAt(i)] !== 1) return false;
  return true;
}

function isToken(value: string, expectedLower: string): boolean {
  return (
    value.length >= expectedLower.length &&
    trimOws(value, 0, value.length).toLowerCase() === expectedLower
  );
}

const BAD_REQUEST = 400;

function reject(status: number, code: string, reason: string): Http1HeadError {
  return new Http1HeadError(status, code, reason);
}

/**
 * Fills `into` from the parser's head, or returns why the request is refused. For an upgrade
 * (Upgrade other than h2c, or CONNECT) the map keeps Connection and Upgrade, which the upgrade
 * hand-off replays to the upstream.
 */
export function readRequestHead(
  parser: RequestHeadFields,
  scheme: string,
  limits: RequestHeadLimits,
  into: ParsedRequest,
): Http1HeadError | undefined {
  if (parser.versionMajor !== 1 || parser.versionMinor > 1)
    return reject(
      BAD_REQUEST,
      'invalid_http_version',
      `HTTP/${parser.versionMajor}.${parser.versionMinor} is not served`,
    );
  const http10 = parser.versionMinor === 0;
  if (http10 && limits.acceptHttp10 === false)
    return reject(426, 'http1.0_disallowed', 'HTTP/1.0 is not accepted on this listener');
  const raw = parser.rawHeaders;
  if (limits.maxHeadersCount > 0 && raw.length / 2 > limits.maxHeadersCount)
    return reject(431, 'too_many_headers', `more than ${limits.maxHeadersCount} header fields`);

  const method = parser.method;
  let upgrade =
    method === 'CONNECT'
      ? UpgradeKind.Connect
      : parser.upgrade
        ? UpgradeKind.Upgrade
        : UpgradeKind.None;
  const head = new RequestHeaderMap(method, '', '', scheme, http10 ? 'HTTP/1.0' : 'HTTP/1.1');
  const names = head.names;
  const values = head.values;
  let host: string | undefined;
  let hostCount = 0;
  let transferEncoding: string | undefined;
  let contentLength: string | undefined;
  let nominated: string | undefined;
  let upgradeValue: string | undefined;
  let connectionValue: string | undefined;
  into.expectContinue = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    switch (name) {
      case 'host':
        hostCount++;
        host = value;
        continue;
      case 'content-length':
        if (contentLength !== undefined)
          return reject(BAD_REQUEST, 'multiple_content_length', 'more than one Content-Length');
        contentLength = value;
        break;
      case 'transfer-encoding':
        if (transferEncoding !== undefined)
          return reject(501, 'invalid_transfer_encoding', 'more than one Transfer-Encoding');
        transferEncoding = value;
        continue;
      case 'connection':
        connectionValue = connectionValue === undefined ? value : `${connectionValue},${value}`;
        nominated = nominated === undefined ? value : `${nominated},${value}`;
        continue;
      case 'upgrade':
        upgradeValue = value;
        continue;
      case 'keep-alive':
      case 'proxy-connection':
      case 'http2-settings':
        continue;
      case 'te':
        if (!isToken(value, 'trailers')) continue;
        break;
      case 'expect':
        // Envoy answers 100-continue itself and does not forward the expectation.
        if (isToken(value, '100-continue')) {
          into.expectContinue = !http10;
          continue;
        }
        break;
    }
    names.push(name);
    values.push(value);
  }

  if (transferEncoding !== undefined) {
    if (contentLength !== undefined)
      return reject(
        BAD_REQUEST,
        'content_length_and_chunked',
        'Content-Length with Transfer-Encoding',
      );
    if (http10)
      return reject(BAD_REQUEST, 'invalid_transfer_encoding', 'Transfer-Encoding on HTTP/1.0');
    if (!isToken(transferEncoding, 'chunked'))
      return reject(
        501,
        'invalid_transfer_encoding',
        `unsupported Transfer-Encoding "${transferEncoding}"`,
      );
    into.framing = BodyFraming.Chunked;
    into.contentLength = 0;
  } else if (contentLength !== undefined) {
    const length = Number(contentLength);
    if (!/^\d{1,15}$/.test(contentLength) || !Number.isSafeInteger(length))
      return reject(BAD_REQUEST, 'invalid_content_length', 'invalid Content-Length');
    into.framing = length > 0 ? BodyFraming.Length : BodyFraming.None;
    into.contentLength = length;
  } else {
    into.framing = BodyFraming.None;
    into.contentLength = 0;
  }

  if (hostCount > 1) return reject(BAD_REQUEST, 'multiple_host', 'more than one Host');
  if (host !== undefined && !validHost(host))
    return reject(BAD_REQUEST, 'invalid_host', 'invalid Host');
  if (host === undefined && !http10)
    return reject(BAD_REQUEST, 'missing_host_header', 'HTTP/1.1 request without Host');
  head.authority = host ?? '';

  const target = parser.url;
  if (upgrade === UpgradeKind.Connect) {
    if (!validHost(target) || target.indexOf(':') < 0)
      return reject(BAD_REQUEST, 'invalid_url', 'CONNECT target is not host:port');
    head.authority = target;
  } else if (target.charCodeAt(0) === 47 /* '/' */) {
    head.path = target;
  } else if (target === '*') {
    if (method !== 'OPTIONS')
      return reject(BAD_REQUEST, 'invalid_url', 'asterisk-form target outside OPTIONS');
    head.path = target;
  } else {
    const error = readAbsoluteTarget(target, head);
    if (error !== undefined) return error;
  }

  if (upgrade === UpgradeKind.Upgrade) {
    // A cleartext HTTP/2 upgrade is not taken (Envoy ignores it): the request goes on as HTTP/1.1.
    if (upgradeValue === undefined || isToken(upgradeValue, 'h2c')) upgrade = UpgradeKind.None;
  }
  if (upgrade !== UpgradeKind.None) {
    if (connectionValue !== undefined) {
      names.push('connection');
      values.push(connectionValue);
    }
    if (upgradeValue !== undefined) {
      names.push('upgrade');
      values.push(upgradeValue);
    }
  } else if (nominated !== undefined) removeNominated(head, nominated);

  into.upgrade = upgrade;
  into.keepAlive = parser.shouldKeepAlive;
  into.head = head;
  return undefined;
}

/** absolute-form (RFC 9112 §3.2.2): the authority and path come from the URL, Host is replaced. */
function readAbsoluteTarget(target: string, head: RequestHeaderMap): Http1HeadError | undefined {
  const lower = target.slice(0, 8).toLowerCase();
  const start = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : -1;
  if (start < 0)
    return reject(BAD_REQUEST, 'invalid_url', 'request target is not origin- or absolute-form');
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 47 || c === 63 || c === 35) break;
    end++;
  }
  const authority = target.slice(start, end);
  if (!validHost(authority) || authority.includes('@'))
    return reject(BAD_REQUEST, 'invalid_url', 'invalid authority in absolute-form target');
  head.authority = authority;
  const rest = target.slice(end);
  head.path = rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  return undefined;
}

/** Removes the fields a Connection header nominates (RFC 9110 §7.6.1); framing stays the codec's. */
function removeNominated(head: RequestHeaderMap, connection: string): void {
  for (const token of connection.split(',')) {
    const name = trimOws(token, 0, token.length).toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive' || name === 'content-length')
      continue;
    head.remove(name);
  }
}
