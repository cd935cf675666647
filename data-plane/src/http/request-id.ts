/**
 * x-request-id handling (Envoy's HCM with the default UUID request id extension):
 * with generate_request_id (default true) a UUIDv4 is generated when the request has none, and
 * an edge request's id (use_remote_address and external, see xff.ts) is replaced unless
 * preserve_external_request_id — ids from untrusted clients are not kept.
 */
import { randomFillSync } from 'node:crypto';

export interface RequestIdConfig {
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
}

/** Random bytes for ids, drawn in bulk (16 per id, each byte used once): no syscall per id. */
const ENTROPY = Buffer.allocUnsafeSlow(16 * 256);
let entropyOffset = ENTROPY.length;
/** An id's text is written here and read out as one flat string. */
const TEXT = Buffer.allocUnsafeSlow(36);
/** Lowercase hex digits of every byte value, as char codes: byte b at [2b] and [2b + 1]. */
const HEX_PAIRS = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const pair = b.toString(16).padStart(2, '0');
  HEX_PAIRS[2 * b] = pair.charCodeAt(0);
  HEX_PAIRS[2 * b + 1] = pair.charCodeAt(1);
}

/**
 * A random UUIDv4 (RFC 9562, section 5.4). Built in place and read out once: one string per id,
 * where node's randomUUID concatenates 20 pieces (a chain of intermediate strings per request).
 */
export function newRequestId(): string {
  if (entropyOffset === ENTROPY.length) {
    randomFillSync(ENTROPY);
    entropyOffset = 0;
  }
  const from = entropyOffset;
  entropyOffset += 16;
  let at = 0;
  for (let i = 0; i < 16; i++) {
    let byte = ENTROPY[from + i]!;
    // Version 4 in the high nibble of byte 6; variant 0b10 in the top bits of byte 8.
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    if (i === 4 || i === 6 || i === 8 || i === 10) TEXT[at++] = 0x2d; // '-'
    TEXT[at++] = HEX_PAIRS[2 * byte]!;
    TEXT[at++] = HEX_PAIRS[2 * byte + 1]!;
  }
  return TEXT.toString('latin1', 0, 36);
}

/**
 * The x-request-id to send upstream: `current` when it is kept, a new id when one must be set,
 * undefined when the request has none and none is generated.
 */
export function resolveRequestId(
  config: RequestIdConfig,
  current: string | undefined,
  edgeRequest: boolean,
): string | undefined {
  if (!config.generateRequestId) return current;
  const forceNew = edgeRequest && !config.preserveExternalRequestId;
  if (forceNew || current === undefined || current === '') return newRequestId();
  return current;
}
