/** How etcd client errors become the store's FerryErrors (store-errors.ts has the shared ones). */
import { FerryError } from '@ferry/shared';

/** True for etcd's "required revision has been compacted" (a read or watch at a discarded revision). */
export function isCompacted(err: unknown): boolean {
  return err instanceof Error && /compacted/i.test(err.message);
}

/**
 * A FerryError for `err`: a request etcd refuses for its size is the caller's batch
 * (FERRY_BAD_REQUEST, naming the etcd limit to raise); anything else from etcd or the connection
 * means the store cannot be used now (FERRY_STORE_UNAVAILABLE).
 */
export function toEtcdStoreError(err: unknown, where: string): Error {
  // Ours (a closed store, a conflict) and the caller's bugs (checkLeaseRequest's RangeError) as is.
  if (err instanceof FerryError || err instanceof RangeError || err instanceof TypeError)
    return err;
  if (!(err instanceof Error)) return new Error(String(err));
  let wrapped: FerryError;
  if (/request is too large|too many operations in txn/i.test(err.message)) {
    wrapped = new FerryError(
      'FERRY_BAD_REQUEST',
      `${where}: ${err.message}: a single resource is larger than etcd accepts in one request; raise the members' --max-request-bytes or make the resource smaller`,
    );
  } else if (
    /authentication failed|invalid auth token|permission denied|user name is empty/i.test(
      err.message,
    )
  ) {
    wrapped = new FerryError(
      'FERRY_STORE_UNAVAILABLE',
      `${where}: ${err.message}; check --etcd-username and the password (--etcd-password-file or FERRY_ETCD_PASSWORD) and the user's role on the prefix`,
    );
  } else {
    wrapped = new FerryError(
      'FERRY_STORE_UNAVAILABLE',
      `${where}: ${err.message}; is etcd up and reachable at these endpoints?`,
    );
  }
  wrapped.cause = err;
  return wrapped;
}
