/**
 * Header values of gRPC over HTTP/2: `grpc-timeout` and the percent-encoding of `grpc-message`.
 */

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * Milliseconds of a `grpc-timeout` value (at most 8 digits and a unit), or NaN when it is
 * malformed.
 */
export function parseTimeout(value: string): number {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return Number.NaN;
  return Number(match[1]) * TIMEOUT_UNIT_MS[match[2]!]!;
}

/**
 * Percent-encodes a status message: bytes outside printable ASCII, and '%', become %XX of their
 * UTF-8 encoding, as gRPC over HTTP/2 defines `grpc-message`.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte < 0x20 || byte > 0x7e || byte === 0x25) {
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    } else {
      out += String.fromCharCode(byte);
    }
  }
  return out;
}
