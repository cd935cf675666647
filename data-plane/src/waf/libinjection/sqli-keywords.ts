// Lookup tables built once at module load from libinjection's data (sqli-data.ts): the SQL keyword
// map (word -> token type) and the set of SQLi fingerprints. Lookups read bytes from a token's
// value buffer and never allocate.

import { SQLI_FINGERPRINT_ROWS, SQL_KEYWORD_ROWS } from './sqli-data.js';

// Keywords live in an open-addressing hash table keyed by the upper-cased bytes. libinjection's
// lookup compares the word with only a-z upper-cased, so any other byte must match exactly; the
// same holds here because the hash and the comparison upper-case a-z only.
const KEYWORD_SLOTS = 4096; // power of two, about 4x the keyword count
const SLOT_MASK = KEYWORD_SLOTS - 1;
const slotOffset = new Int32Array(KEYWORD_SLOTS).fill(-1);
const slotLength = new Uint8Array(KEYWORD_SLOTS);
const slotType = new Uint8Array(KEYWORD_SLOTS);
let keywordBytes = new Uint8Array(16 * 1024);
let keywordBytesUsed = 0;

function upper(b: number): number {
  return b >= 0x61 && b <= 0x7a ? b - 0x20 : b;
}

function hashUpper(buf: Uint8Array, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ upper(buf[i] ?? 0), 0x01000193);
  return h >>> 0;
}

function slotMatches(slot: number, buf: Uint8Array, len: number): boolean {
  if (slotLength[slot] !== len) return false;
  const offset = slotOffset[slot] ?? 0;
  for (let i = 0; i < len; i++) {
    if (keywordBytes[offset + i] !== upper(buf[i] ?? 0)) return false;
  }
  return true;
}

/** The token type of the keyword spelled by `buf[0..len)` (ASCII case-insensitive), or 0. */
export function lookupKeyword(buf: Uint8Array, len: number): number {
  let slot = hashUpper(buf, len) & SLOT_MASK;
  for (;;) {
    if (slotOffset[slot] === -1) return 0;
    if (slotMatches(slot, buf, len)) return slotType[slot] ?? 0;
    slot = (slot + 1) & SLOT_MASK;
  }
}

function addKeyword(type: number, word: string): void {
  const bytes = Buffer.from(word, 'latin1');
  if (keywordBytesUsed + bytes.length > keywordBytes.length) {
    const grown = new Uint8Array(keywordBytes.length * 2);
    grown.set(keywordBytes);
    keywordBytes = grown;
  }
  let slot = hashUpper(bytes, bytes.length) & SLOT_MASK;
  while (slotOffset[slot] !== -1) slot = (slot + 1) & SLOT_MASK;
  keywordBytes.set(bytes, keywordBytesUsed);
  slotOffset[slot] = keywordBytesUsed;
  slotLength[slot] = bytes.length;
  slotType[slot] = type;
  keywordBytesUsed += bytes.length;
}

for (const row of SQL_KEYWORD_ROWS) {
  for (const entry of row.split('\n')) addKeyword(entry.charCodeAt(0), entry.slice(1));
}

// A fingerprint is at most 5 type characters. Each upper-cased character maps to a 5-bit code, so
// a fingerprint packs into a small integer (a V8 small integer key in the Set).
const FINGERPRINT_ALPHABET = '&(),.1:;?ABCEFKNOSTUVX\\{}';
const fingerprintCode = new Uint8Array(128);
for (let i = 0; i < FINGERPRINT_ALPHABET.length; i++) {
  fingerprintCode[FINGERPRINT_ALPHABET.charCodeAt(i)] = i + 1;
}

/**
 * The key of the fingerprint made of the token types `types[0..len)` once upper-cased, or -1 when
 * a type has no code (such a fingerprint is in no set).
 */
export function fingerprintKey(types: Uint8Array, len: number): number {
  let key = 0;
  for (let i = 0; i < len; i++) {
    const code = fingerprintCode[upper(types[i] ?? 0)] ?? 0;
    if (code === 0) return -1;
    key = key * 32 + code;
  }
  return key;
}

const fingerprints = new Set<number>();
{
  const types = new Uint8Array(8);
  for (const row of SQLI_FINGERPRINT_ROWS) {
    for (const fingerprint of row.split(' ')) {
      for (let i = 0; i < fingerprint.length; i++) types[i] = fingerprint.charCodeAt(i);
      const key = fingerprintKey(types, fingerprint.length);
      if (key < 0) throw new Error(`libinjection data: bad fingerprint ${fingerprint}`);
      fingerprints.add(key);
    }
  }
}

/** Whether the fingerprint `types[0..len)` is one of libinjection's SQLi fingerprints. */
export function isSqliFingerprint(types: Uint8Array, len: number): boolean {
  if (len < 1) return false;
  const key = fingerprintKey(types, len);
  return key >= 0 && fingerprints.has(key);
}
