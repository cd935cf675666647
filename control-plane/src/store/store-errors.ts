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

export function revisionTrimmed(revision: number, base: number): FerryError {
  return new FerryError(
    'FERRY_REVISION_TRIMMED',
    `revision ${revision} was trimmed; the oldest kept is ${base} (the control plane keeps --history-retain revisions, --history-retain-age old)`,
  );
}

/** Throws RangeError on a trim request no store can honour. */
export function checkTrimRequest(request: {
  readonly throughRevision: number;
  readonly maxRevisions: number;
}): void {
  if (!Number.isSafeInteger(request.throughRevision) || request.throughRevision < 0) {
    throw new RangeError(
      `trim throughRevision must be a non-negative integer, got ${request.throughRevision}`,
    );
  }
  if (!Number.isSafeInteger(request.maxRevisions) || request.maxRevisions < 1) {
    throw new RangeError(
      `trim maxRevisions must be a positive integer, got ${request.maxRevisions}`,
    );
  }
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
