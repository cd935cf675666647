/**
 * ferryctl's client for the HTTP management API (node's global fetch). Server errors become
 * CtlErrors carrying the server's code, message and detail lines; transport failures exit 2.
 */
import { CtlError, EXIT_USAGE, exitCodeForServerError } from './ctl-error.js';

export class ApiClient {
  private readonly base: string;

  /**
   * @param traceparent Sent as W3C `traceparent` on every request (the control plane's apply
   *   spans become its children); default FERRY_TRACEPARENT, else TRACEPARENT.
   */
  constructor(
    server: string,
    private readonly token: string | undefined,
    private readonly traceparent: string | undefined = process.env.FERRY_TRACEPARENT ||
      process.env.TRACEPARENT ||
      undefined,
  ) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new CtlError(
        EXIT_USAGE,
        `--server: ${JSON.stringify(server)} is not a URL (e.g. http://127.0.0.1:18001)`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CtlError(
        EXIT_USAGE,
        `--server: expected an http:// or https:// URL, got ${JSON.stringify(server)}`,
      );
    }
    this.base = url.href.replace(/\/+$/, '');
  }

  /** `T` is the endpoint's response shape (api/wire-json.ts); the server is trusted to keep it. */
  get<T>(
    path: string,
    query: Record<string, string | boolean | number | undefined> = {},
  ): Promise<T> {
    return this.request('GET', path + queryString(query));
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request('POST', path, body);
  }

  delete<T>(
    path: string,
    query: Record<string, string | boolean | number | undefined> = {},
  ): Promise<T> {
    return this.request('DELETE', path + queryString(query));
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.traceparent) headers.traceparent = this.traceparent;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CtlError(
        EXIT_USAGE,
        `cannot reach the Ferry API at ${this.base}: ${reason} (set --server or FERRY_SERVER)`,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? (JSON.parse(text) as unknown) : {};
    } catch {
      throw new CtlError(
        EXIT_USAGE,
        `${this.base}${path.split('?')[0]}: HTTP ${res.status}, not a Ferry API response`,
      );
    }
    if (!res.ok) {
      const error = (typeof json === 'object' && json !== null ? json : {}) as {
        code?: unknown;
        message?: unknown;
        details?: unknown;
      };
      const code = typeof error.code === 'string' ? error.code : `HTTP ${res.status}`;
      const message = typeof error.message === 'string' ? error.message : res.statusText;
      const details = Array.isArray(error.details) ? error.details.map(String) : [];
      throw new CtlError(exitCodeForServerError(code), `${code}: ${message}`, details);
    }
    return json as T;
  }
}

function queryString(query: Record<string, string | boolean | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== false) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}
