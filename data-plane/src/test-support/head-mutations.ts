import { seededRandom } from './seeded-random.js';

/**
 * `count` mutants of HTTP message heads for differential tests, reproducible from `seed`: each
 * is one of `bases` with one to three edits at random places (a piece of `alphabet` inserted, or
 * put over one character, or one character deleted).
 */
export function* mutatedHeads(
  seed: number,
  bases: readonly string[],
  alphabet: readonly string[],
  count: number,
): Generator<string> {
  const next = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  for (let n = 0; n < count; n++) {
    let text = pick(bases);
    const edits = 1 + Math.floor(next() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(next() * text.length);
      const piece = pick(alphabet);
      const kind = next();
      if (kind < 0.4) text = text.slice(0, at) + piece + text.slice(at);
      else if (kind < 0.8) text = text.slice(0, at) + piece + text.slice(at + 1);
      else text = text.slice(0, at) + text.slice(at + 1);
    }
    yield text;
  }
}
