/**
 * Trace and span ids from a pooled random buffer: one randomFillSync per 256 span ids instead of
 * a crypto call (or Math.random loop) per id. Ids are random, as W3C Trace Context asks; an
 * all-zero id (invalid) is redrawn.
 */
import { randomFillSync } from 'node:crypto';

const POOL = Buffer.allocUnsafe(4096);
let offset = POOL.length;

function randomHex(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL.length) {
      randomFillSync(POOL);
      offset = 0;
    }
    const start = offset;
    offset += bytes;
    for (let i = start; i < offset; i++)
      if (POOL[i] !== 0) return POOL.toString('hex', start, offset);
  }
}

/** 32 hex digits. */
export function newTraceId(): string {
  return randomHex(16);
}

/** 16 hex digits. */
export function newSpanId(): string {
  return randomHex(8);
}
