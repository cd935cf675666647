/**
 * Following a store from its first revision, for the state the control plane keeps in memory
 * (the xDS snapshots, the xDS access policies): load everything up to the store's current
 * revision, say when that is done, then keep up with live changes.
 */
import type { ChangeEvent, ResourceStore, Watch } from './store.js';

/**
 * Watches `store` from revision 0. `onEvent` gets every change event in order, with `catchingUp`
 * true for those up to and including the one that reaches `target` (the revision to load, read
 * by the caller before) and false for the live ones after. `onCaughtUp` is called once, right
 * after the event that reaches `target`, or at once when the store has nothing to deliver.
 */
export function followStore(
  store: ResourceStore,
  target: number,
  onEvent: (event: ChangeEvent, catchingUp: boolean) => void,
  onCaughtUp: () => void,
): Watch {
  let catchingUp = true;
  let seen = 0;
  const watch = store.watch(0, (event) => {
    onEvent(event, catchingUp);
    seen = event.revision;
    if (catchingUp && seen >= target) {
      catchingUp = false;
      onCaughtUp();
    }
  });
  if (catchingUp && seen >= target) {
    catchingUp = false;
    onCaughtUp();
  }
  return watch;
}
