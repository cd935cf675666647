/**
 * The outcome of one authorization check, whichever service answered (Envoy's
 * Filters::Common::ExtAuthz::Response), and how its header mutations apply.
 */
import type { HeaderMap, RequestHeaderMap } from '../../../http/header-map.js';

/**
 * How one header from the service applies (Envoy's HeaderValueOption semantics):
 * `append`: appended to an existing value with a comma, else added (append: true);
 * `add`: another field with that name; `add-if-absent`; `overwrite-or-add`;
 * `overwrite-if-exists`.
 */
export type HeaderAction =
  'append' | 'add' | 'add-if-absent' | 'overwrite-or-add' | 'overwrite-if-exists';

export interface HeaderMutation {
  readonly key: string;
  readonly value: string;
  readonly action: HeaderAction;
}

export interface AuthzResult {
  readonly status: 'ok' | 'denied' | 'error';
  /** denied: the status sent to the client. */
  readonly httpStatus: number;
  /** denied: the body sent to the client. */
  readonly body: string;
  /** ok: changes to the request before it goes on. */
  readonly requestMutations: readonly HeaderMutation[];
  readonly headersToRemove: readonly string[];
  readonly queryParametersToSet: readonly (readonly [string, string])[];
  readonly queryParametersToRemove: readonly string[];
  /** ok: headers added to the response on its way back. */
  readonly responseMutations: readonly HeaderMutation[];
  /** denied: headers of the local reply. */
  readonly localReplyMutations: readonly HeaderMutation[];
  /** Fields for the envoy.filters.http.ext_authz dynamic metadata namespace. */
  readonly dynamicMetadata: Readonly<Record<string, unknown>> | undefined;
  /** error: why, for the log. */
  readonly detail: string;
}

const NONE: readonly never[] = Object.freeze([]);

export function errorResult(detail: string): AuthzResult {
  return {
    status: 'error',
    httpStatus: 0,
    body: '',
    requestMutations: NONE,
    headersToRemove: NONE,
    queryParametersToSet: NONE,
    queryParametersToRemove: NONE,
    responseMutations: NONE,
    localReplyMutations: NONE,
    dynamicMetadata: undefined,
    detail,
  };
}

export interface AuthzCallbacks {
  onAuthzComplete(result: AuthzResult): void;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const PSEUDO_HEADER = /^:(authority|method|path)$/;
const BAD_VALUE = /[\r\n\0]/;

/** Envoy's validate_mutations check: a name that is a token (or a settable pseudo-header), a value without CR, LF or NUL. */
export function isValidMutation(mutation: HeaderMutation): boolean {
  return (
    (HEADER_NAME.test(mutation.key) || PSEUDO_HEADER.test(mutation.key)) &&
    !BAD_VALUE.test(mutation.value)
  );
}

/** Applies `mutation` to a header map (response headers, a local reply's headers). */
export function applyMutation(headers: HeaderMap, mutation: HeaderMutation): void {
  const { key, value } = mutation;
  switch (mutation.action) {
    case 'append': {
      const existing = headers.get(key);
      if (existing === undefined) headers.append(key, value);
      else headers.set(key, `${existing},${value}`);
      return;
    }
    case 'add':
      headers.append(key, value);
      return;
    case 'add-if-absent':
      if (!headers.has(key)) headers.append(key, value);
      return;
    case 'overwrite-or-add':
      headers.set(key, value);
      return;
    case 'overwrite-if-exists':
      if (headers.has(key)) headers.set(key, value);
      return;
  }
}

/**
 * Applies `mutation` to the request: `:path`, `:method` and `:authority` / `host` are the
 * request's fields (always replaced); other pseudo-headers are left alone.
 */
export function applyRequestMutation(headers: RequestHeaderMap, mutation: HeaderMutation): void {
  const key = mutation.key;
  if (key.charCodeAt(0) === 58 /* ':' */ || key === 'host') {
    // These always exist: "if absent" never applies, every other action replaces.
    if (mutation.action === 'add-if-absent') return;
    if (key === ':path') headers.path = mutation.value;
    else if (key === ':method') headers.method = mutation.value;
    else if (key === ':authority' || key === 'host') headers.authority = mutation.value;
    return;
  }
  applyMutation(headers, mutation);
}

/** Envoy's HeaderUtility::isRemovableHeader: not a pseudo-header, not Host. */
export function isRemovableHeader(name: string): boolean {
  return name !== '' && name.charCodeAt(0) !== 58 && name !== 'host';
}

/**
 * The path with query_parameters_to_set / _to_remove applied (Envoy's replaceQueryString: the
 * parameters are kept in order, a set replaces the first value of its key or is appended).
 */
export function rewriteQuery(
  path: string,
  set: readonly (readonly [string, string])[],
  remove: readonly string[],
): string {
  const q = path.indexOf('?');
  const base = q < 0 ? path : path.slice(0, q);
  const params: [string, string][] = [];
  if (q >= 0)
    for (const part of path.slice(q + 1).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      params.push(eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)]);
    }
  for (const [key, value] of set) {
    const encodedKey = encodeURIComponent(key);
    const found = params.findIndex(([k]) => k === encodedKey);
    const encoded = encodeURIComponent(value);
    if (found < 0) params.push([encodedKey, encoded]);
    else {
      params[found] = [encodedKey, encoded];
      for (let i = params.length - 1; i > found; i--)
        if (params[i]![0] === encodedKey) params.splice(i, 1);
    }
  }
  const removed = new Set(remove.map((k) => encodeURIComponent(k)));
  const kept = params.filter(([k]) => !removed.has(k));
  if (kept.length === 0) return base;
  return `${base}?${kept.map(([k, v]) => `${k}=${v}`).join('&')}`;
}
