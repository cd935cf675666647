/**
 * etcd transaction limits and request building for the etcd store: a transaction must stay within
 * the members' --max-txn-ops and --max-request-bytes (defaults 128 and 1.5 MiB), so writes larger
 * than that are split here.
 */
import type { IRequestOp } from 'etcd3';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;
/** Below etcd's default --max-request-bytes (1.5 MiB), leaving room for keys and framing. */
export const MAX_TXN_BYTES = 1024 * 1024;

export function put(key: Buffer, value: Buffer): IRequestOp {
  return { request_put: { key, value } };
}

function opBytes(op: IRequestOp): number {
  const p = op.request_put;
  if (p) return (p.key?.byteLength ?? 0) + (p.value?.byteLength ?? 0) + 16;
  return (op.request_delete_range?.key?.byteLength ?? 0) + 16;
}

export function opsBytes(ops: readonly IRequestOp[]): number {
  return ops.reduce((sum, op) => sum + opBytes(op), 0);
}

/** Splits ops into transactions within etcd's default op count and request size. */
export function batches(ops: readonly IRequestOp[]): IRequestOp[][] {
  const out: IRequestOp[][] = [];
  let current: IRequestOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = opBytes(op);
    if (current.length > 0 && (current.length >= MAX_TXN_OPS - 1 || bytes + size > MAX_TXN_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
