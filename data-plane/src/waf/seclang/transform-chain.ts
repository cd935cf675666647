/**
 * A rule set's transformation chains as a trie: chains that start with the same functions share
 * the nodes of that prefix (CRS runs `t:none,t:urlDecodeUni,...` on the same values in hundreds
 * of rules), so a transaction computes each (value, prefix) once and indexes its cache by node id.
 * Every function also has a one-function chain (a root), so that a transaction can compute a
 * function once per input text whichever chain brought it there (most functions leave most
 * values as they are, so chains meet on the same texts).
 */
import type { Transform } from './transforms.js';

export interface TransformStep {
  /** 1.. within its trie (0 is the empty chain, which has no step). */
  readonly id: number;
  readonly fn: Transform;
  /** The chain without its last function (undefined: this is the first). */
  readonly parent: TransformStep | undefined;
  /** The one-function chain of `fn` (this step when it has no parent). */
  readonly single: TransformStep;
}

export class TransformTrie {
  readonly #roots = new Map<Transform, TransformStep>();
  readonly #children = new Map<TransformStep, Map<Transform, TransformStep>>();
  #size = 1;

  /** The node of `chain` (undefined for the empty chain). */
  intern(chain: readonly Transform[]): TransformStep | undefined {
    let step: TransformStep | undefined;
    for (const fn of chain) {
      if (step === undefined) {
        step = this.#root(fn);
        continue;
      }
      let level = this.#children.get(step);
      if (level === undefined)
        this.#children.set(step, (level = new Map<Transform, TransformStep>()));
      let next = level.get(fn);
      if (next === undefined)
        level.set(fn, (next = { id: this.#size++, fn, parent: step, single: this.#root(fn) }));
      step = next;
    }
    return step;
  }

  #root(fn: Transform): TransformStep {
    let root = this.#roots.get(fn);
    if (root === undefined) {
      const node: { id: number; fn: Transform; parent: undefined; single?: TransformStep } = {
        id: this.#size++,
        fn,
        parent: undefined,
      };
      node.single = node as TransformStep;
      this.#roots.set(fn, (root = node as TransformStep));
    }
    return root;
  }

  /** Node ids are below this. */
  get size(): number {
    return this.#size;
  }
}
