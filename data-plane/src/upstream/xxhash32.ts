/**
 * xxHash32 (Yann Collet's XXH32, written here from the published algorithm) over UTF-8 bytes.
 * The load balancers and hash policies use it because it is fast in JavaScript: every step is
 * 32-bit integer arithmetic (`Math.imul`), with no BigInt, unlike Envoy's xxHash64. Hash values
 * therefore differ from Envoy's; only consistency within Ferry matters (same key, same host, on
 * every proxy of the fleet).
 */

const PRIME1 = 0x9e3779b1;
const PRIME2 = 0x85ebca77;
const PRIME3 = 0xc2b2ae3d;
const PRIME4 = 0x27d4eb2f;
const PRIME5 = 0x165667b1;

function rotl(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, PRIME2)) | 0, 13), PRIME1);
}

function readU32(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

/** XXH32 of `bytes[0, length)`; returns an unsigned 32-bit integer. */
export function xxhash32Bytes(bytes: Uint8Array, length: number, seed = 0): number {
  let at = 0;
  let h: number;
  if (length >= 16) {
    let v1 = (seed + PRIME1 + PRIME2) | 0;
    let v2 = (seed + PRIME2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME1) | 0;
    const limit = length - 16;
    while (at <= limit) {
      v1 = round(v1, readU32(bytes, at));
      v2 = round(v2, readU32(bytes, at + 4));
      v3 = round(v3, readU32(bytes, at + 8));
      v4 = round(v4, readU32(bytes, at + 12));
      at += 16;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + PRIME5) | 0;
  }
  h = (h + length) | 0;
  while (at + 4 <= length) {
    h = Math.imul(rotl((h + Math.imul(readU32(bytes, at), PRIME3)) | 0, 17), PRIME4);
    at += 4;
  }
  while (at < length) {
    h = Math.imul(rotl((h + Math.imul(bytes[at]!, PRIME5)) | 0, 11), PRIME1);
    at++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, PRIME2);
  h ^= h >>> 13;
  h = Math.imul(h, PRIME3);
  h ^= h >>> 16;
  return h >>> 0;
}

// One scratch buffer for the per-request case: hashing is synchronous, so it is never shared
// between two calls in flight. Keys longer than it (rare: huge cookies) get their own buffer.
const SCRATCH = new Uint8Array(1024);
const ENCODER = new TextEncoder();

/** XXH32 of the UTF-8 encoding of `text`. */
export function xxhash32(text: string, seed = 0): number {
  if (text.length * 3 <= SCRATCH.length) {
    const { written } = ENCODER.encodeInto(text, SCRATCH);
    return xxhash32Bytes(SCRATCH, written, seed);
  }
  const bytes = ENCODER.encode(text);
  return xxhash32Bytes(bytes, bytes.length, seed);
}

/** Mixes a hash with a retry attempt number (Murmur3's finaliser), for alternate-host picks. */
export function mixAttempt(hash: number, attempt: number): number {
  let h = (hash ^ Math.imul(attempt, PRIME1)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
