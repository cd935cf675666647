/**
 * A TLS ClientHello reader for the tls_inspector: from the first bytes a client sent, decides
 * whether they start a TLS handshake and reads the server name (SNI, RFC 6066 §3) and the ALPN
 * protocols (RFC 7301 §3.1) it offers. Nothing is decrypted or answered; the bytes are only
 * read.
 *
 * The handshake message may span several TLS records (RFC 8446 §5.1: handshake messages may be
 * fragmented across records); records are reassembled until the ClientHello is complete. Bytes
 * that are not a TLS handshake record, or a ClientHello that does not parse, are "not TLS"
 * (Envoy's tls_inspector then leaves the transport protocol at raw_buffer, as BoringSSL's
 * rejection does there).
 */

export type ClientHelloResult =
  /** More bytes are needed to decide. */
  | { readonly kind: 'need-more' }
  /** Not a TLS handshake, or a malformed ClientHello. */
  | { readonly kind: 'not-tls' }
  /** A ClientHello larger than the limit (the connection should be closed). */
  | { readonly kind: 'too-large' }
  | {
      readonly kind: 'client-hello';
      /** host_name of the server_name extension, lower-cased; "" when absent. */
      readonly serverName: string;
      /** The ALPN protocol names in the client's order; empty when the extension is absent. */
      readonly applicationProtocols: readonly string[];
    };

const NEED_MORE: ClientHelloResult = Object.freeze({ kind: 'need-more' });
const NOT_TLS: ClientHelloResult = Object.freeze({ kind: 'not-tls' });
const TOO_LARGE: ClientHelloResult = Object.freeze({ kind: 'too-large' });

const RECORD_HANDSHAKE = 22;
const RECORD_HEADER_BYTES = 5;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD_PAYLOAD = 1 << 14;
const HANDSHAKE_CLIENT_HELLO = 1;
const HANDSHAKE_HEADER_BYTES = 4;
const EXTENSION_SERVER_NAME = 0;
const EXTENSION_ALPN = 16;
const SERVER_NAME_HOST = 0;

/** Envoy's tls_inspector limit on the bytes it reads for a ClientHello (64 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

/**
 * Reads the ClientHello at the start of `data` (every byte the client sent so far). `maxBytes`
 * bounds what may be read: a ClientHello that cannot be complete within it is `too-large`.
 */
export function parseClientHello(
  data: Buffer,
  maxBytes: number = MAX_CLIENT_HELLO_BYTES,
): ClientHelloResult {
  let offset = 0;
  let handshake: Buffer | undefined;
  for (;;) {
    // A record header; its first bytes decide "not TLS" as soon as they arrive.
    if (data.length > offset && data[offset] !== RECORD_HANDSHAKE) return NOT_TLS;
    if (data.length > offset + 1 && data[offset + 1] !== 3) return NOT_TLS;
    if (data.length < offset + RECORD_HEADER_BYTES)
      return offset + RECORD_HEADER_BYTES > maxBytes ? TOO_LARGE : NEED_MORE;
    const length = data.readUInt16BE(offset + 3);
    if (length === 0 || length > MAX_RECORD_PAYLOAD) return NOT_TLS;
    const end = offset + RECORD_HEADER_BYTES + length;
    if (data.length < end) {
      if (end > maxBytes) return TOO_LARGE;
      // The handshake header may already be readable in a partial record.
      const partial = data.subarray(offset + RECORD_HEADER_BYTES);
      const soFar = handshake === undefined ? partial : Buffer.concat([handshake, partial]);
      return checkHandshakeHeader(soFar, maxBytes) ?? NEED_MORE;
    }
    const fragment = data.subarray(offset + RECORD_HEADER_BYTES, end);
    handshake = handshake === undefined ? fragment : Buffer.concat([handshake, fragment]);
    offset = end;
    const early = checkHandshakeHeader(handshake, maxBytes);
    if (early !== undefined) return early;
    if (handshake.length < HANDSHAKE_HEADER_BYTES) continue;
    const messageLength = handshake.readUIntBE(1, 3);
    if (handshake.length >= HANDSHAKE_HEADER_BYTES + messageLength)
      return readClientHello(
        handshake.subarray(HANDSHAKE_HEADER_BYTES, HANDSHAKE_HEADER_BYTES + messageLength),
      );
  }
}

/** Decides from the handshake header what can be decided early; undefined: read on. */
function checkHandshakeHeader(handshake: Buffer, maxBytes: number): ClientHelloResult | undefined {
  if (handshake.length >= 1 && handshake[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
  if (handshake.length < HANDSHAKE_HEADER_BYTES) return undefined;
  const messageLength = handshake.readUIntBE(1, 3);
  // Record headers come on top of the message, so this is a lower bound of what must be read.
  if (HANDSHAKE_HEADER_BYTES + messageLength + RECORD_HEADER_BYTES > maxBytes) return TOO_LARGE;
  return undefined;
}

/** A bounds-checked reader over the ClientHello body; any overrun marks it malformed. */
class Reader {
  offset = 0;
  malformed = false;

  constructor(readonly bytes: Buffer) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  skip(n: number): void {
    if (this.remaining < n) this.malformed = true;
    this.offset += n;
  }

  u8(): number {
    if (this.remaining < 1) {
      this.malformed = true;
      return 0;
    }
    return this.bytes[this.offset++]!;
  }

  u16(): number {
    if (this.remaining < 2) {
      this.malformed = true;
      this.offset += 2;
      return 0;
    }
    const value = this.bytes.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  /** The next `n` bytes as a Reader of their own (empty and malformed on overrun). */
  sub(n: number): Reader {
    if (this.remaining < n) {
      this.malformed = true;
      return new Reader(Buffer.alloc(0));
    }
    const reader = new Reader(this.bytes.subarray(this.offset, this.offset + n));
    this.offset += n;
    return reader;
  }
}

/** RFC 8446 §4.1.2 ClientHello (TLS 1.2's is the same shape, RFC 5246 §7.4.1.2). */
function readClientHello(body: Buffer): ClientHelloResult {
  const r = new Reader(body);
  r.skip(2); // legacy_version
  r.skip(32); // random
  const sessionIdLength = r.u8();
  if (sessionIdLength > 32) return NOT_TLS;
  r.skip(sessionIdLength);
  const cipherSuitesLength = r.u16();
  if (cipherSuitesLength < 2 || cipherSuitesLength % 2 !== 0) return NOT_TLS;
  r.skip(cipherSuitesLength);
  const compressionLength = r.u8();
  if (compressionLength < 1) return NOT_TLS;
  r.skip(compressionLength);
  if (r.malformed) return NOT_TLS;
  let serverName = '';
  let applicationProtocols: string[] = [];
  // A ClientHello without extensions is valid (TLS 1.2 and older clients).
  if (r.remaining > 0) {
    const extensions = r.sub(r.u16());
    if (r.malformed || r.remaining !== 0) return NOT_TLS;
    const seen = new Set<number>();
    while (extensions.remaining > 0) {
      const type = extensions.u16();
      const data = extensions.sub(extensions.u16());
      if (extensions.malformed) return NOT_TLS;
      // RFC 8446 §4.2: no extension type may appear twice.
      if (seen.has(type)) return NOT_TLS;
      seen.add(type);
      if (type === EXTENSION_SERVER_NAME) {
        const name = readServerName(data);
        if (name === undefined) return NOT_TLS;
        serverName = name;
      } else if (type === EXTENSION_ALPN) {
        const protocols = readAlpn(data);
        if (protocols === undefined) return NOT_TLS;
        applicationProtocols = protocols;
      }
    }
  }
  return { kind: 'client-hello', serverName, applicationProtocols };
}

/** RFC 6066 §3 ServerNameList: the host_name entry, lower-cased ("" when there is none). */
function readServerName(data: Reader): string | undefined {
  const list = data.sub(data.u16());
  if (data.malformed || data.remaining !== 0 || list.remaining === 0) return undefined;
  let hostName = '';
  while (list.remaining > 0) {
    const nameType = list.u8();
    const name = list.sub(list.u16());
    if (list.malformed) return undefined;
    if (nameType !== SERVER_NAME_HOST) continue;
    // At most one name of a type; a host name is non-empty ASCII without NUL.
    if (hostName !== '' || name.bytes.length === 0 || name.bytes.includes(0)) return undefined;
    for (const byte of name.bytes) if (byte > 0x7e) return undefined;
    hostName = name.bytes.toString('latin1').toLowerCase();
  }
  return hostName;
}

/** RFC 7301 §3.1 ProtocolNameList: non-empty names, at least one. */
function readAlpn(data: Reader): string[] | undefined {
  const list = data.sub(data.u16());
  if (data.malformed || data.remaining !== 0 || list.remaining === 0) return undefined;
  const protocols: string[] = [];
  while (list.remaining > 0) {
    const length = list.u8();
    if (length === 0) return undefined;
    const name = list.sub(length);
    if (list.malformed) return undefined;
    protocols.push(name.bytes.toString('latin1'));
  }
  return protocols;
}
