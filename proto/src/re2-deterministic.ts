/**
 * Which full-match patterns a backtracking engine provably runs in time linear in the input, so
 * that re2-linear.ts may leave them on V8's default engine (tens of nanoseconds per match, where
 * the linear engine's interpreter takes microseconds).
 *
 * The class: after flattening groups that carry no repetition, the pattern is a sequence of
 * items, each one code point from a set (`C`) or a greedy repetition of one (`C*`, `C+`,
 * `C{n,m}`), optionally after a leading `^`/`\A` and before a trailing `$`/`\z`, matched
 * anchored at both ends; and the set of every repetition is disjoint from FIRST(rest): the
 * union of the sets of the items after it, up to and including the first that must consume (has
 * a minimum count above zero).
 *
 * Why that is linear. One iteration of any item consumes exactly one code point, encoded as a
 * UTF-8 byte sequence; UTF-8 is prefix-free, so at a position at most one alternative of the
 * emitted byte alternation can match, found in constant work. The greedy pass consumes the input
 * once. A repetition of `C` then gives back one iteration at a time: the rest must start at the
 * code point c ∈ C just given back, and every item of FIRST(rest) refuses c (disjointness), so
 * the items that may match nothing match nothing and the first item that must consume, or the
 * end anchor, fails at once: constant work per give-back, each input position given back at most
 * once per repetition, hence O(items × input) in all. Anchoring at the start means a single
 * start position.
 *
 * One relaxation: the last repetition may overlap what follows it when nothing after it repeats
 * (`/static/.*\.js`): each of its give-backs then costs at most the fixed length of that tail,
 * still linear in the input, and the repetitions before it are disjoint from it as above. The
 * tail after the last repetition may hold alternations of fixed-length sequences
 * (`.*\.(png|jpg)`): a give-back then tries each path through the tail, at most 64 of them.
 * Anything else (alternation, repeated groups, lazy repetitions, other anchors, overlapping sets
 * before another repetition) is not in the class and runs on the linear engine.
 */
import { normalize, type CodePointSet } from './re2-charset.js';
import type { Re2Node } from './re2-syntax.js';

interface Item {
  /** For an alternation: the union of its alternatives' first sets. */
  readonly set: CodePointSet;
  readonly min: number;
  readonly repeated: boolean;
  /** Alternatives of an alternation of fixed-length sequences (1 for anything else). */
  readonly alternatives: number;
}

/** Largest product of alternation sizes allowed in the fixed tail (work per give-back). */
const MAX_TAIL_PATHS = 64;

/** The first set of a non-empty fixed-length sequence of sets, else undefined. */
function fixedFirst(node: Re2Node): CodePointSet | undefined {
  switch (node.type) {
    case 'set':
      return node.set;
    case 'group':
      return fixedFirst(node.body);
    case 'concat': {
      const first = node.items.length > 0 ? fixedFirst(node.items[0]!) : undefined;
      return first && node.items.every((item) => fixedFirst(item) !== undefined)
        ? first
        : undefined;
    }
    default:
      return undefined;
  }
}

function flatten(node: Re2Node, out: Item[], edges: { begin: boolean; end: boolean }): boolean {
  switch (node.type) {
    case 'empty':
      return true;
    case 'set':
      out.push({ set: node.set, min: 1, repeated: false, alternatives: 1 });
      return !edges.end;
    case 'group':
      return flatten(node.body, out, edges);
    case 'concat':
      return node.items.every((item) => flatten(item, out, edges));
    case 'repeat':
      if (edges.end || !node.greedy || node.body.type !== 'set') return false;
      out.push({ set: node.body.set, min: node.min, repeated: true, alternatives: 1 });
      return true;
    case 'assert':
      if (node.kind === 'begin' && out.length === 0 && !edges.end) {
        edges.begin = true;
        return true;
      }
      if (node.kind === 'end' && !edges.end) {
        edges.end = true;
        return true;
      }
      return false;
    case 'alt': {
      if (edges.end) return false;
      const firsts = node.items.map(fixedFirst);
      if (firsts.some((f) => f === undefined)) return false;
      const set = normalize(firsts.flatMap((f) => [...f!]));
      out.push({ set, min: 1, repeated: false, alternatives: node.items.length });
      return true;
    }
  }
}

function intersects(a: CodePointSet, b: CodePointSet): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i + 1]! < b[j]!) i += 2;
    else if (b[j + 1]! < a[i]!) j += 2;
    else return true;
  }
  return false;
}

/** True when `tree`, matched anchored at both ends, is in the class above. */
export function backtracksLinearly(tree: Re2Node): boolean {
  const items: Item[] = [];
  if (!flatten(tree, items, { begin: false, end: false })) return false;
  // Alternations only in the tail after the last repetition, with few paths through it.
  let paths = 1;
  let seenAlternation = false;
  for (const item of items) {
    if (item.repeated && seenAlternation) return false;
    if (item.alternatives > 1) seenAlternation = true;
    paths *= item.alternatives;
  }
  if (paths > MAX_TAIL_PATHS) return false;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (!item.repeated) continue;
    const fixedTail = items.slice(i + 1).every((t) => !t.repeated);
    if (fixedTail) continue;
    for (let j = i + 1; j < items.length; j++) {
      if (intersects(item.set, items[j]!.set)) return false;
      if (items[j]!.min > 0) break;
    }
  }
  return true;
}
