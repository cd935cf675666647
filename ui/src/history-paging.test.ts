/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HistoryJson } from '@ferry/shared/api-wire';
import { nextListing, NOTHING_LISTED } from './history-paging.js';

/** A history answer listing `revisions` (newest first) above `base`. */
const history = (revisions: number[], base = 0): HistoryJson => ({
  history_base: base,
  entries: revisions.map((revision) => ({
    revision,
    time: '',
    message: '',
    actor: '',
    changes: [],
  })),
});

const range = (from: number, to: number): number[] =>
  Array.from({ length: from - to + 1 }, (_, i) => from - i);

test('older revisions are offered until the list reaches the first revision kept', () => {
  const first = nextListing(NOTHING_LISTED, 50, history(range(120, 71)));
  assert.equal(first.more, true);
  const second = nextListing(first, 100, history(range(120, 21)));
  assert.equal(second.more, true);
  const third = nextListing(second, 200, history(range(120, 1)));
  assert.equal(third.more, false, 'revision 1 listed');
  assert.equal(nextListing(NOTHING_LISTED, 50, history(range(40, 1))).more, false);
  assert.equal(nextListing(NOTHING_LISTED, 50, history([])).more, false);
});

test('a trimmed log ends at its base + 1', () => {
  assert.equal(nextListing(NOTHING_LISTED, 50, history(range(80, 31), 30)).more, false);
  assert.equal(nextListing(NOTHING_LISTED, 50, history(range(80, 32), 30)).more, true);
});

test('a caller who sees some groups stops once a longer list brings nothing new', () => {
  // Its groups changed only in revisions 90..60 and 30: the oldest it sees stays above 1.
  const first = nextListing(NOTHING_LISTED, 50, history(range(90, 60)));
  assert.equal(first.more, true);
  const second = nextListing(first, 100, history([...range(90, 60), 30]));
  assert.equal(second.more, true);
  const third = nextListing(second, 200, history([...range(90, 60), 30]));
  assert.equal(third.more, false, 'nothing new at 200');
  // A refetch with the same limit (a store event) keeps the answer.
  assert.equal(nextListing(third, 200, history([91, ...range(90, 60), 30])).more, false);
  assert.equal(nextListing(second, 100, history([91, ...range(90, 60), 30])).more, true);
});
