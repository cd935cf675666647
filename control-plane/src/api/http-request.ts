/**
 * Reading HTTP requests for the management API: bounded bodies, JSON/YAML decoding and typed
 * field access that turns every malformed input into a FERRY_BAD_REQUEST naming the field.
 */
import type { IncomingMessage } from 'node:http';
import {
  DEFAULT_MAX_NESTING_DEPTH,
  parseDocuments,
  resourceTypeByAlias,
  type ResourceType,
} from '@ferry/proto';
import { FerryError } from '@ferry/shared';

/** Thrown for bodies over the limit; answered with 413. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(
      `request body exceeds the limit of ${limit} bytes (--api-max-body-bytes); split the change into several applies`,
    );
  }
}

/** Answered with 405. */
export class MethodNotAllowed extends Error {}

export function expectMethod(method: string, allowed: readonly string[]): void {
  if (!allowed.includes(method))
    throw new MethodNotAllowed(`method ${method} not allowed here (use ${allowed.join(' or ')})`);
}

/**
 * The body, up to `limit` bytes. Over it (declared or as it arrives) BodyTooLargeError is thrown
 * and nothing more is kept: the caller answers 413 and discards the rest (http-api.ts).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      done();
      req.pause();
      chunks.length = 0;
      reject(new BodyTooLargeError(limit));
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

export function isYaml(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml';
}

/**
 * A JSON object body; `allowed` lists its fields so a typo (`dryrun`) is an error, not ignored.
 * Nesting deeper than `maxDepth` is refused before parsing: what walks the documents afterwards
 * (validation, protobuf conversion) recurses per level.
 */
export function parseJsonObject(
  body: Buffer,
  allowed: readonly string[],
  maxDepth = DEFAULT_MAX_NESTING_DEPTH,
): Record<string, unknown> {
  const deep = jsonTooDeep(body, maxDepth);
  if (deep !== undefined)
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `request body is nested deeper than ${maxDepth} levels (at byte ${deep}); flatten it`,
    );
  let value: unknown;
  try {
    value = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `request body is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FerryError('FERRY_BAD_REQUEST', 'request body must be a JSON object');
  }
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `unknown request field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (expected ${allowed.join(', ')})`,
    );
  }
  return value as Record<string, unknown>;
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The byte offset where JSON text first nests deeper than `max` arrays/objects, or undefined.
 * Brackets inside strings do not count; malformed text is left to JSON.parse to report.
 */
export function jsonTooDeep(body: Buffer, max: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === BACKSLASH) i += 1;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth += 1;
      if (depth > max) return i;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth -= 1;
  }
  return undefined;
}

export function parseYamlDocuments(body: Buffer, maxDepth = DEFAULT_MAX_NESTING_DEPTH): unknown[] {
  const parsed = parseDocuments(body.toString('utf8'), 'body', { maxDepth });
  if (!parsed.ok)
    throw new FerryError('FERRY_INVALID_CONFIG', 'request body is not valid YAML', parsed.errors);
  return parsed.value;
}

export function optionalString(obj: Record<string, unknown>, field: string): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw new FerryError('FERRY_BAD_REQUEST', `${field}: expected a string`);
  return v;
}

export function optionalBoolean(obj: Record<string, unknown>, field: string): boolean | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean')
    throw new FerryError('FERRY_BAD_REQUEST', `${field}: expected true or false`);
  return v;
}

export function optionalRevision(obj: Record<string, unknown>, field: string): number | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${field}: expected a revision (a non-negative integer)`,
    );
  }
  return n;
}

/** Query parameters as an object of strings, with booleans and revisions spelled as text. */
export function queryObject(url: URL): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of url.searchParams) out[k] = v;
  return out;
}

export function queryBoolean(url: URL, field: string): boolean | undefined {
  const v = url.searchParams.get(field);
  if (v === null) return undefined;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new FerryError(
    'FERRY_BAD_REQUEST',
    `${field}: expected true or false, got ${JSON.stringify(v)}`,
  );
}

/** TYPE as operators write it: `clusters`, `Cluster`, `cds`, a message name or a type URL. */
export function resolveType(word: string, field = 'type'): ResourceType {
  const type = resourceTypeByAlias(word);
  if (!type) {
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `${field}: unknown resource type ${JSON.stringify(word)} (use listeners, routes, clusters, endpoints or secrets)`,
    );
  }
  return type;
}
