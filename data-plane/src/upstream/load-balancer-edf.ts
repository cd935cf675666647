/**
 * Earliest-deadline-first scheduling, as Envoy's EdfScheduler: each entry is due at
 * `deadline`; pop returns the earliest, equal deadlines in insertion order (FIFO), so a weighted
 * rotation is exact and deterministic. A binary heap: O(log n) per pick.
 */

interface EdfEntry<T> {
  deadline: number;
  order: number;
  item: T;
}

function earlier<T>(a: EdfEntry<T>, b: EdfEntry<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
}

export class EdfScheduler<T> {
  private readonly heap: EdfEntry<T>[] = [];
  private nextOrder = 0;

  get size(): number {
    return this.heap.length;
  }

  add(item: T, deadline: number): void {
    const heap = this.heap;
    heap.push({ deadline, order: this.nextOrder++, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Removes the earliest entry; undefined when empty. */
  pop(): { item: T; deadline: number } | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && earlier(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && earlier(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}
