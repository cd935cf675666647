/**
 * ferryctl's client for the HTTP management API (node:http / node:https, so that https:// servers
 * can be trusted through --ca and a client certificate sent). Server errors become CtlErrors
 * carrying the server's code, message and detail lines (exit codes: ctl-error.ts); transport and
 * TLS failures exit 2 with what to do.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ErrorJson } from '@ferry/shared/api-wire';
import { CtlError, EXIT_USAGE, exitCodeForServerError } from './ctl-error.js';

export interface ClientTls {
  /** PEM file of the CA that signed the server's certificate (default: the system's CAs). */
  readonly ca?: string;
  /** PEM files of a client certificate and its key. */
  readonly cert?: string;
  readonly key?: string;
}

/** OpenSSL verification codes that mean "the server's certificate is not trusted". */
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

export class ApiClient {
  private readonly base: string;
  private readonly https: boolean;
  private readonly tlsOptions: { ca?: Buffer; cert?: Buffer; key?: Buffer };

  /**
   * @param traceparent Sent as W3C `traceparent` on every request (the control plane's apply
   *   spans become its children); default FERRY_TRACEPARENT, else TRACEPARENT.
   */
  constructor(
    server: string,
    private readonly token: string | undefined,
    tls: ClientTls = {},
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
    this.https = url.protocol === 'https:';
    if ((tls.cert === undefined) !== (tls.key === undefined))
      throw new CtlError(EXIT_USAGE, '--cert and --key go together');
    this.tlsOptions = {
      ...(tls.ca ? { ca: readPem('--ca', tls.ca) } : {}),
      ...(tls.cert ? { cert: readPem('--cert', tls.cert) } : {}),
      ...(tls.key ? { key: readPem('--key', tls.key) } : {}),
    };
  }

  /**
   * `T` is the endpoint's response shape (@ferry/shared/api-wire); the server is trusted to keep
   * it.
   */
  get<T>(
    path: string,
    query: Record<string, string | boolean | number | undefined> = {},
  ): Promise<T> {
    return this.request('GET', path + queryString(query));
  }

  /** `Request` and `Response` are the endpoint's body shapes (@ferry/shared/api-wire). */
  post<Request extends object, Response>(path: string, body: Request): Promise<Response> {
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
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.traceparent) headers.traceparent = this.traceparent;
    const { status, text } = await this.send(method, path, headers, payload);
    let json: unknown;
    try {
      json = text ? (JSON.parse(text) as unknown) : {};
    } catch {
      throw new CtlError(
        EXIT_USAGE,
        `${this.base}${path.split('?')[0]}: HTTP ${status}, not a Ferry API response`,
      );
    }
    if (status < 200 || status >= 300) {
      // Checked field by field: a proxy in front of the API may answer with anything.
      const error = (typeof json === 'object' && json !== null ? json : {}) as Partial<
        Record<keyof ErrorJson, unknown>
      >;
      const code = typeof error.code === 'string' ? error.code : `HTTP ${status}`;
      const message = typeof error.message === 'string' ? error.message : `HTTP ${status}`;
      const details = Array.isArray(error.details) ? error.details.map(String) : [];
      throw new CtlError(exitCodeForServerError(code), `${code}: ${message}`, details);
    }
    return json as T;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    payload: string | undefined,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) => reject(this.transportError(err)));
      };
      const url = this.base + path;
      const req = this.https
        ? httpsRequest(
            url,
            { method, headers, ...this.tlsOptions, minVersion: 'TLSv1.2' },
            onResponse,
          )
        : httpRequest(url, { method, headers }, onResponse);
      req.setTimeout(120_000, () =>
        req.destroy(Object.assign(new Error('no response within 120 s'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', (err) => reject(this.transportError(err)));
      req.end(payload);
    });
  }

  private transportError(err: Error): CtlError {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (UNTRUSTED_CODES.has(code)) {
      return new CtlError(
        EXIT_USAGE,
        `TLS: cannot verify the certificate of ${this.base} (${code}: ${err.message}); pass the CA that signed it with --ca FILE (or ca: in the config file)`,
      );
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return new CtlError(
        EXIT_USAGE,
        `TLS: the certificate of ${this.base} is not valid for this host name (${err.message}); use the name the certificate was issued for in --server`,
      );
    }
    if (code === 'EPROTO' || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
      return new CtlError(
        EXIT_USAGE,
        `TLS handshake with ${this.base} failed (${code}: ${err.message}); check that the server speaks ${this.https ? 'https (--api-tls-cert)' : 'plain http'} and the URL's scheme matches`,
      );
    }
    return new CtlError(
      EXIT_USAGE,
      `cannot reach the Ferry API at ${this.base}: ${code || err.message} (set --server or FERRY_SERVER)`,
    );
  }
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CtlError(EXIT_USAGE, `${flag} ${file}: ${(err as Error).message}`);
  }
}

function queryString(query: Record<string, string | boolean | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== false) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}
