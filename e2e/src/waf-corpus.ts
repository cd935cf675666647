/**
 * The WAF detection corpora (e2e/waf-corpus/*.jsonl) and a runner that sends each case to a
 * server over a raw TCP connection and records the status it answers.
 *
 * A case is one JSON object per line:
 *   id, category, where (the part of the request that carries the payload), method, path (with
 *   the query, sent as written), headers (name -> value; `null` drops one of the defaults below),
 *   body and contentType (optional), note; or `raw`: the exact request bytes (protocol violations
 *   a client library would refuse to write).
 * Requests are written byte for byte (node:net), never normalised by an HTTP client: dot
 * segments, invalid percent-encodings and odd methods reach the server as the corpus has them.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './harness.js';

export const CORPUS_DIR = path.join(ROOT, 'e2e', 'waf-corpus');

export interface CorpusCase {
  readonly id: string;
  readonly category: string;
  readonly where: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | null>>;
  readonly body?: string;
  readonly contentType?: string;
  readonly raw?: string;
  readonly note: string;
}

/** The Host every generated request names (the test's proxies route any host). */
export const CORPUS_HOST = 'app.example.com';

/** What a browser sends on every request; a case's `headers` override these by name. */
const DEFAULT_HEADERS: Readonly<Record<string, string>> = {
  host: CORPUS_HOST,
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-US,en;q=0.5',
};

const STRING_FIELDS = ['id', 'category', 'where', 'method', 'path', 'note'] as const;

function parseCase(value: unknown, where: string): CorpusCase {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${where}: a case must be a JSON object`);
  const c = value as Record<string, unknown>;
  for (const field of STRING_FIELDS) {
    if (typeof c[field] !== 'string' || c[field] === '')
      throw new Error(`${where}: ${field} must be a non-empty string`);
  }
  const headers = c.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
    throw new Error(`${where}: headers must be an object of name -> string or null`);
  for (const [name, v] of Object.entries(headers)) {
    if (v !== null && typeof v !== 'string')
      throw new Error(`${where}: headers.${name} must be a string or null`);
  }
  for (const field of ['body', 'contentType', 'raw'] as const) {
    if (c[field] !== undefined && typeof c[field] !== 'string')
      throw new Error(`${where}: ${field} must be a string`);
  }
  if (c.body !== undefined && c.contentType === undefined)
    throw new Error(`${where}: a body needs a contentType`);
  return { ...(c as unknown as CorpusCase), headers: headers as Record<string, string | null> };
}

/** Reads a corpus file; a malformed line fails with `file:line: reason`; ids must be unique. */
export function loadCorpus(file: string): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const ids = new Set<string>();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${path.relative(ROOT, file)}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${where}: not JSON: ${(err as Error).message}`);
    }
    const c = parseCase(value, where);
    if (ids.has(c.id)) throw new Error(`${where}: id ${c.id} is used twice`);
    ids.add(c.id);
    cases.push(c);
  });
  return cases;
}

/**
 * The bytes of a case's request: `raw` as is; otherwise the request line, the default headers
 * overridden by the case's, Content-Type and Content-Length for a body, and `Connection: close`.
 */
export function requestBytes(c: CorpusCase): Buffer {
  if (c.raw !== undefined) return Buffer.from(c.raw, 'utf8');
  const headers = new Map<string, string>(Object.entries(DEFAULT_HEADERS));
  for (const [name, value] of Object.entries(c.headers)) {
    if (value === null) headers.delete(name.toLowerCase());
    else headers.set(name.toLowerCase(), value);
  }
  const body = c.body === undefined ? undefined : Buffer.from(c.body, 'utf8');
  if (body !== undefined) {
    headers.set('content-type', c.contentType ?? '');
    headers.set('content-length', String(body.length));
  }
  headers.set('connection', 'close');
  let head = `${c.method} ${c.path} HTTP/1.1\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  head += '\r\n';
  const bytes = Buffer.from(head, 'utf8');
  return body === undefined ? bytes : Buffer.concat([bytes, body]);
}

/** A server's answer to one case: its status, or 0 and why no status line came. */
export interface CaseResult {
  readonly status: number;
  readonly error?: string;
  /** The local port of the case's connection (what the server logs as the client's port). */
  readonly clientPort: number;
}

const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})/;

/**
 * Writes one case on a fresh connection to 127.0.0.1:port and resolves with the status of the
 * response as soon as its status line has arrived (the rest is not needed), or with status 0 if
 * the server closes first or `timeoutMs` passes (a liveness bound).
 */
export function sendCase(port: number, c: CorpusCase, timeoutMs = 10_000): Promise<CaseResult> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let done = false;
    let clientPort = 0;
    const finish = (result: Omit<CaseResult, 'clientPort'>): void => {
      if (done) return;
      done = true;
      clearTimeout(bound);
      socket.destroy();
      resolve({ ...result, clientPort });
    };
    const bound = setTimeout(() => finish({ status: 0, error: 'no answer in time' }), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const eol = received.indexOf('\r\n');
      if (eol < 0) return;
      const match = STATUS_LINE.exec(received.slice(0, eol));
      finish(match ? { status: Number(match[1]) } : { status: 0, error: 'not an HTTP response' });
    });
    socket.on('error', (err) => finish({ status: 0, error: err.message }));
    socket.on('close', () => finish({ status: 0, error: 'closed without a response' }));
    socket.on('connect', () => {
      clientPort = socket.localPort ?? 0;
      socket.write(requestBytes(c));
    });
  });
}

/** Sends every case (at most `concurrency` at once) and returns the results by case id. */
export async function runCorpus(
  port: number,
  cases: readonly CorpusCase[],
  concurrency = 8,
): Promise<Map<string, CaseResult>> {
  const results = new Map<string, CaseResult>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++]!;
      results.set(c.id, await sendCase(port, c));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cases.length) }, worker));
  return results;
}

/** A WAF's verdict on a case: blocked means the request was refused with 403. */
export function blocked(result: CaseResult): boolean {
  return result.status === 403;
}
