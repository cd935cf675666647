/**
 * Following a store from its first revision, for the state the control plane keeps in memory
 * (the xDS snapshots, the xDS access policies): load everything up to the store's current
 * revision, say when that is done, then keep up with live changes.
 */
import { keyOf, type ChangeEvent, type Mutation, type ResourceStore, type Watch } from './store.js';

/**
 * Watches `store` from revision 0. `onEvent` gets every change event in order, with `catchingUp`
 * true for those up to and including the one that reaches `target` (the revision to load, read
 * by the caller before) and false for the live ones after. `onCaughtUp` is called once, right
 * after the event that reaches `target`, or at once when the store has nothing to deliver.
 *
 * A reset (the revisions the follower needed were trimmed: at start, or while it lagged behind)
 * arrives as an ordinary event holding the difference between what the follower was given and
 * the state at the reset's revision: puts of what is new or changed, deletes of what is gone. So
 * followers fold every event the same way and never see a gap.
 */
export function followStore(
  store: ResourceStore,
  target: number,
  onEvent: (event: ChangeEvent, catchingUp: boolean) => void,
  onCaughtUp: () => void,
): Watch {
  let catchingUp = true;
  let seen = 0;
  /** Key → version of every resource given to the follower, to turn a reset into a difference. */
  const given = new Map<string, string>();
  const watch = store.watch(0, (raw) => {
    const event = raw.reset === true ? differenceFrom(given, raw) : raw;
    for (const m of event.changes) {
      if (m.op === 'put') given.set(keyOf(m), m.version);
      else given.delete(keyOf(m));
    }
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

function differenceFrom(given: ReadonlyMap<string, string>, reset: ChangeEvent): ChangeEvent {
  const changes: Mutation[] = [];
  const present = new Set<string>();
  for (const m of reset.changes) {
    const key = keyOf(m);
    present.add(key);
    if (m.op === 'put' && given.get(key) !== m.version) changes.push(m);
  }
  for (const key of given.keys()) {
    if (present.has(key)) continue;
    const [typeUrl, group, name] = key.split('\u0000') as [string, string, string];
    changes.push({ op: 'delete', typeUrl, group, name });
  }
  return { revision: reset.revision, changes };
}
