/** The errors every ResourceStore raises, worded once so that all implementations agree. */
import { FerryError } from '@ferry/shared';

export function storeClosed(): FerryError {
  return new FerryError('FERRY_STORE_UNAVAILABLE', 'store is closed');
}

export function revisionConflict(actual: number, expected: number): FerryError {
  return new FerryError(
    'FERRY_CONFLICT',
    `store is at revision ${actual}, not the expected ${expected}; re-read and retry`,
  );
}

export function noSuchRevision(revision: number, current: number): FerryError {
  return new FerryError(
    'FERRY_NOT_FOUND',
    `revision ${revision} does not exist (current ${current})`,
  );
}

/**
 * Runs synchronous store work and reports its outcome as a promise, so that a throw (closed store,
 * conflict, bad mutation) always arrives as a rejection, never as a synchronous exception.
 */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
