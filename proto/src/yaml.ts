/**
 * Reads operator config: one or more YAML documents (JSON is a subset), keeping int64 precision:
 * integers beyond 2^53 become decimal strings, which proto3 JSON accepts for 64-bit fields.
 *
 * Hostile input is an error, never a crash (docs/architecture.md, "Limits under bad input and
 * abuse"): nesting deeper than `maxDepth` collections is refused after the (iterative) parse and
 * before anything recursive walks the document, and aliases that would expand past
 * MAX_ALIAS_EXPANSION uses ("billion laughs") are refused while the document is converted.
 */
import { Composer, LineCounter, Parser, stringify } from 'yaml';
import { fail, ok, type Result } from './result.js';

/**
 * Default nesting limit of YAML/JSON input: the recursion limit protobuf's parsers use. Envoy
 * configs nest a few dozen levels at most.
 */
export const DEFAULT_MAX_NESTING_DEPTH = 100;

/**
 * The `yaml` package's maxAliasCount: how many aliases a document may resolve, an alias to a node
 * that itself holds aliases counting as that many times more, so that nested aliases cannot
 * expand a few hundred bytes into gigabytes ("billion laughs") while plain reuse of an anchor
 * stays allowed.
 */
const MAX_ALIAS_EXPANSION = 100;

export interface ParseDocumentsOptions {
  /** Collections may nest at most this deep (default DEFAULT_MAX_NESTING_DEPTH). */
  readonly maxDepth?: number;
}

export function parseDocuments(
  text: string,
  source = '<input>',
  options: ParseDocumentsOptions = {},
): Result<unknown[]> {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_NESTING_DEPTH;
  // prettyErrors would add line positions but also multi-line excerpts; a LineCounter gives the
  // line:col alone, which is what an error list wants.
  const lineCounter = new LineCounter();
  // The parser is iterative; the composer and toJS recurse per level, so depth is checked on
  // the parser's tokens before they run.
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const errors: string[] = [];
  let index = 0;
  for (const token of tokens) {
    if (token.type !== 'document') continue;
    index += 1;
    const deep = tooDeep(token, maxDepth);
    if (deep !== undefined) {
      const line = lineCounter.linePos(deep);
      errors.push(
        `${source}:${line.line}:${line.col}: document ${index}: nested deeper than ${maxDepth} levels; flatten it`,
      );
    }
  }
  if (errors.length > 0) return fail(errors);
  const composer = new Composer({ intAsBigInt: true, uniqueKeys: true });
  const docs = [...composer.compose(tokens, true, text.length)];
  const values: unknown[] = [];
  docs.forEach((doc, i) => {
    for (const e of doc.errors) {
      const line = lineCounter.linePos(e.pos[0]);
      errors.push(
        `${source}:${line.line}:${line.col}: document ${i + 1}: ${e.message.split('\n')[0]}`,
      );
    }
    if (doc.errors.length > 0) return;
    let js: unknown;
    try {
      js = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION });
    } catch (err) {
      // The yaml package throws a ReferenceError for alias expansion past maxAliasCount.
      errors.push(
        err instanceof ReferenceError
          ? `${source}: document ${i + 1}: aliases expand past ${MAX_ALIAS_EXPANSION} uses (aliases of nodes that hold aliases multiply); write the repeated parts out or use fewer, unnested aliases`
          : `${source}: document ${i + 1}: ${(err as Error).message}`,
      );
      return;
    }
    const value = normalise(js);
    if (value !== null && value !== undefined) values.push(value);
  });
  return errors.length > 0 ? fail(errors) : ok(values);
}

type CstNode = { type: string; offset: number; value?: unknown; items?: unknown[] };
type CstItem = { key?: unknown; value?: unknown };

/**
 * The offset of the first collection in a parsed document nested deeper than `max`, or
 * undefined. Iterative: a document nested 100,000 levels must not overflow the stack here.
 */
function tooDeep(document: CstNode, max: number): number | undefined {
  const stack: Array<[CstNode, number]> = [[document, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, depth] = top;
    if (node.type === 'document') {
      if (isNode(node.value)) stack.push([node.value, depth]);
      continue;
    }
    if (node.type !== 'block-map' && node.type !== 'block-seq' && node.type !== 'flow-collection')
      continue;
    if (depth + 1 > max) return node.offset;
    for (const item of (node.items ?? []) as CstItem[]) {
      if (isNode(item.key)) stack.push([item.key, depth + 1]);
      if (isNode(item.value)) stack.push([item.value, depth + 1]);
    }
  }
  return undefined;
}

function isNode(value: unknown): value is CstNode {
  return typeof value === 'object' && value !== null && 'type' in value;
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
