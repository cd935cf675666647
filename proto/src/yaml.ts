/**
 * Reads operator config: one or more YAML documents (JSON is a subset), keeping int64 precision:
 * integers beyond 2^53 become decimal strings, which proto3 JSON accepts for 64-bit fields.
 */
import { LineCounter, parseAllDocuments, stringify } from 'yaml';
import { fail, ok, type Result } from './result.js';

export function parseDocuments(text: string, source = '<input>'): Result<unknown[]> {
  // prettyErrors would add line positions but also multi-line excerpts; a LineCounter gives the
  // line:col alone, which is what an error list wants.
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    intAsBigInt: true,
    uniqueKeys: true,
    prettyErrors: false,
    lineCounter,
  });
  if (!Array.isArray(docs)) return ok([]);
  const errors: string[] = [];
  const values: unknown[] = [];
  docs.forEach((doc, i) => {
    for (const e of doc.errors) {
      const line = lineCounter.linePos(e.pos[0]);
      errors.push(
        `${source}:${line.line}:${line.col}: document ${i + 1}: ${e.message.split('\n')[0]}`,
      );
    }
    if (doc.errors.length > 0) return;
    const value = normalise(doc.toJS({ maxAliasCount: 100 }));
    if (value !== null && value !== undefined) values.push(value);
  });
  return errors.length > 0 ? fail(errors) : ok(values);
}

function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (Array.isArray(value)) return value.map(normalise);
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[String(k)] = normalise(v);
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v);
    return out;
  }
  return value;
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}
