/**
 * Fans the one event feed out to the views that are open. A view subscribes to the event types it
 * shows and unsubscribes when it closes; `reset` goes to everyone (they refetch).
 */
import { useEffect, useRef } from './vendor/preact-hooks.js';
import type { FeedEvent } from './events.js';

type Handler = (e: FeedEvent) => void;

export class FeedHub {
  private readonly handlers = new Set<{ types: readonly string[]; fn: Handler }>();

  publish(e: FeedEvent): void {
    for (const h of this.handlers) if (e.type === 'reset' || h.types.includes(e.type)) h.fn(e);
  }

  subscribe(types: readonly string[], fn: Handler): () => void {
    const entry = { types, fn };
    this.handlers.add(entry);
    return () => this.handlers.delete(entry);
  }
}

/** Calls the latest `fn` for each event of `types` while the component is mounted. */
export function useFeed(hub: FeedHub, types: readonly string[], fn: Handler): void {
  const latest = useRef(fn);
  latest.current = fn;
  const key = types.join(',');
  useEffect(() => hub.subscribe(key.split(','), (e) => latest.current(e)), [hub, key]);
}

/**
 * Runs `fn` at most once per `ms`, at the end of a burst (trailing): a flood of node events
 * becomes one refetch.
 */
export function useTrailing(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useRef(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  }).current;
}
