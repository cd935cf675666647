/**
 * The part of the ResourceStore contract (store.ts) about a revision's trace context
 * (ApplyOptions.traceparent): kept with the revision, shown by history, delivered with the
 * revision's watch event to this handle and to another one on the same backing store (another
 * replica). Run by storeContract for every store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OpenFreshStore, OpenPeerStore } from './store-contract-leased.js';
import { TRACEPARENT_A, TRACEPARENT_B, WatchRecorder, del, put } from './store-test-fixtures.js';

export function traceContract(openFresh: OpenFreshStore, openPeer?: OpenPeerStore): void {
  void test('history and watch events carry the trace context a revision was written with', async (t) => {
    const store = openFresh(t);
    await store.apply([put('a', '1')], { message: 'traced', traceparent: TRACEPARENT_A });
    await store.apply([put('a', '2')], { message: 'untraced' });
    // A batch that changes nothing makes no revision, so its trace context is recorded nowhere.
    await store.apply([put('a', '2')], { traceparent: TRACEPARENT_A });
    await store.apply([del('a')], { traceparent: TRACEPARENT_B });
    assert.deepEqual(
      (await store.history()).map((h) => [h.revision, h.traceparent]),
      [
        [3, TRACEPARENT_B],
        [2, undefined],
        [1, TRACEPARENT_A],
      ],
    );
    const replayed = new WatchRecorder(store, 0);
    const live = new WatchRecorder(store, 3);
    const peerStore = openPeer ? openPeer(t, store) : undefined;
    const peer = peerStore ? new WatchRecorder(peerStore, 0) : undefined;
    t.after(() => {
      replayed.watch.close();
      live.watch.close();
      peer?.watch.close();
    });
    await store.apply([put('b', '1')], { traceparent: TRACEPARENT_B });
    await Promise.all([replayed.until(4), live.until(4), peer?.until(4)]);
    const expected = [
      [1, TRACEPARENT_A],
      [2, undefined],
      [3, TRACEPARENT_B],
      [4, TRACEPARENT_B],
    ];
    assert.deepEqual(
      replayed.events.map((e) => [e.revision, e.traceparent]),
      expected,
    );
    assert.deepEqual(
      live.events.map((e) => [e.revision, e.traceparent]),
      expected.slice(3),
    );
    if (peer) {
      assert.deepEqual(
        peer.events.map((e) => [e.revision, e.traceparent]),
        expected,
        'another handle on the same store',
      );
    }
  });
}
