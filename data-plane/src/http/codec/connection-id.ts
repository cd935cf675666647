/**
 * Connection ids (%CONNECTION_ID%), unique in the whole proxy as Envoy's are: worker w
 * (0 ≤ w < 1024, --concurrency's bound) numbers its connections n·1024 + w + 1 for n = 0, 1, …
 * (exact integers up to 2^53: 8·10^12 connections per worker).
 */
const WORKER_STRIDE = 1024;
const workerIndex = Number(process.env.FERRY_WORKER_INDEX ?? 0) % WORKER_STRIDE;
let nextId = workerIndex + 1;

/** A new id, for a codec that accepts a connection. */
export function newConnectionId(): number {
  const id = nextId;
  nextId += WORKER_STRIDE;
  return id;
}

const bySocket = new WeakMap<object, number>();

/** The id of a socket seen before, or a new one (for adapters that only see requests). */
export function connectionIdOf(socket: object): number {
  let id = bySocket.get(socket);
  if (id === undefined) {
    id = newConnectionId();
    bySocket.set(socket, id);
  }
  return id;
}
