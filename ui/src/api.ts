/**
 * Calls to the management API with the signed-in token (Authorization: Bearer). The token lives
 * in sessionStorage: it survives a reload of the tab, not the tab itself.
 */
import type { ErrorJson } from './wire.js';

const TOKEN_KEY = 'ferry.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function savedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function saveToken(token: string | undefined): void {
  if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export class Api {
  constructor(readonly token: string) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token === '' ? extra : { ...extra, authorization: `Bearer ${this.token}` };
  }

  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return this.call<T>('GET', withQuery(path, query));
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'FERRY_BAD_RESPONSE', `${method} ${path}: not JSON`);
    }
    if (!res.ok) {
      const err = (json ?? {}) as Partial<ErrorJson>;
      throw new ApiError(
        res.status,
        err.code ?? 'FERRY_HTTP',
        err.message ?? `${method} ${path}: HTTP ${res.status}`,
      );
    }
    return json as T;
  }
}

export function withQuery(
  path: string,
  query: Record<string, string | number | undefined>,
): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s === '' ? path : `${path}?${s}`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
