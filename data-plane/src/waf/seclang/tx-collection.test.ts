import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TxCollection, type TxPicker } from './tx-collection.js';

interface V {
  readonly key: string;
  readonly value: string;
}

const v = (key: string, value: string): V => ({ key, value });

/** Picks names by a regex; counts what it was asked, to show the seed's names are not asked. */
class Picker implements TxPicker<V> {
  asked = 0;
  constructor(readonly re: RegExp) {}
  picks(e: V): boolean {
    this.asked++;
    return this.re.test(e.key);
  }
  ofSeed(seed: ReadonlyMap<string, V>): readonly V[] {
    return [...seed.values()].filter((e) => this.re.test(e.key));
  }
}

const list = (tx: TxCollection<V>): string[] => {
  const out: string[] = [];
  tx.forEach((e) => out.push(`${e.key}=${e.value}`));
  return out;
};

test('reads and iterates as a Map filled with the seed and then the changes', () => {
  const seed = new Map([v('a', '1'), v('b', '2'), v('c', '3')].map((e) => [e.key, e]));
  const tx = new TxCollection<V>();
  tx.seed(seed);
  tx.set('b', v('b', '20'));
  tx.set('d', v('d', '4'));
  assert.deepEqual(list(tx), ['a=1', 'b=20', 'c=3', 'd=4']);
  assert.equal(tx.get('b')?.value, '20');
  assert.equal(tx.get('a')?.value, '1');
  // The seed itself is never changed.
  assert.equal(seed.get('b')?.value, '2');
  // A seed name deleted and set again moves to the end, as in a Map.
  tx.delete('a');
  assert.equal(tx.get('a'), undefined);
  tx.set('a', v('a', '10'));
  assert.deepEqual(list(tx), ['b=20', 'c=3', 'd=4', 'a=10']);
  assert.deepEqual([...tx.toMap().keys()], ['b', 'c', 'd', 'a']);
});

test('select asks the picker about the transaction’s own names only', () => {
  const seed = new Map(
    [v('score_a', '1'), v('other', '2'), v('score_b', '3')].map((e) => [e.key, e]),
  );
  const tx = new TxCollection<V>();
  tx.seed(seed);
  tx.set('score_b', v('score_b', '30'));
  tx.set('score_c', v('score_c', '5'));
  tx.set('x', v('x', '6'));
  const picker = new Picker(/^score_/);
  assert.deepEqual(
    tx.select(picker)?.map((e) => `${e.key}=${e.value}`),
    ['score_a=1', 'score_b=30', 'score_c=5'],
  );
  // score_b (overridden), score_c and x: not the seed's own score_a and other.
  assert.equal(picker.asked, 3);
  assert.equal(tx.select(new Picker(/^none/)), undefined);
});

test('matches a Map over random operations', () => {
  let state = 12345;
  const random = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (let round = 0; round < 200; round++) {
    const seed = new Map<string, V>();
    for (const n of names) if (random(2) === 0) seed.set(n, v(n, `s${round}`));
    const tx = new TxCollection<V>();
    const ref = new Map<string, V>();
    // Sometimes a variable exists before the seed (then the seed's are set after it).
    if (random(4) === 0) {
      tx.set('z', v('z', 'early'));
      ref.set('z', v('z', 'early'));
    }
    tx.seed(seed);
    for (const e of seed.values()) ref.set(e.key, e);
    for (let op = 0; op < 12; op++) {
      const name = names[random(names.length)]!;
      if (random(3) === 0) {
        tx.delete(name);
        ref.delete(name);
      } else {
        const e = v(name, `${round}.${op}`);
        tx.set(name, e);
        ref.set(name, e);
      }
      assert.deepEqual([...tx.toMap()], [...ref], `round ${round} op ${op}`);
      for (const n of names) assert.equal(tx.get(n), ref.get(n));
      const picker = new Picker(/^[ace]/);
      assert.deepEqual(
        tx.select(picker) ?? [],
        [...ref.values()].filter((e) => /^[ace]/.test(e.key)),
      );
    }
    const saved = tx.toMap();
    tx.set('q', v('q', '1'));
    tx.restore(saved);
    assert.deepEqual([...tx.toMap()], [...ref]);
  }
});
