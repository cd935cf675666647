/**
 * When a held response head is written if no body bytes join it. A response head waits for its
 * first body chunk so that both leave in one write (http1-response-writer.ts); it must not wait
 * past the input that produced it. While a connection processes what it read (an upstream
 * response's bytes, a request's bytes), heads are held until that input has been processed:
 * the body that arrived with the head joins it, and no tick is scheduled per response. A head
 * held outside any input processing (a timer, a zlib callback) is written at the end of the
 * tick, as before.
 */

/** A writer that may hold a response head. */
export interface HeldOutput {
  /** Writes the held head, if any (a no-op once body bytes took it along). */
  flushHead(): void;
}

const held: HeldOutput[] = [];
/** Nesting of input processing (a connection's input can produce another's output). */
let inputDepth = 0;
let tickScheduled = false;

/** Registers a writer that now holds a head. */
export function holdOutput(writer: HeldOutput): void {
  held.push(writer);
  if (inputDepth === 0 && !tickScheduled) {
    tickScheduled = true;
    process.nextTick(flushAtTickEnd);
  }
}

/** A connection starts processing bytes it read; endInput() must follow (in a finally). */
export function beginInput(): void {
  inputDepth++;
}

export function endInput(): void {
  if (--inputDepth === 0 && held.length > 0) flushHeld();
}

function flushAtTickEnd(): void {
  tickScheduled = false;
  if (inputDepth === 0) flushHeld();
}

function flushHeld(): void {
  // flushHead writes to a socket; it holds nothing new, so the list does not grow meanwhile.
  for (let i = 0; i < held.length; i++) held[i]!.flushHead();
  held.length = 0;
}
