/**
 * A hand-written reader for the common SotW DiscoveryRequest (envoy/service/discovery/v3/
 * discovery.proto): an ACK, or a subscription change, carrying only version_info = 1,
 * resource_names = 3, type_url = 4 and response_nonce = 5. After the first request of a stream,
 * that is every request a proxy sends but a NACK; a fleet of 10,000 proxies sends 10,000 of
 * them per push, and the generated decoder (protobufjs, then its toObject copy) was the largest
 * per-ACK cost of the control plane.
 *
 * Anything else (node = 2, error_detail = 6, resource_locators = 7, an unknown field, a wire type
 * that does not match, a truncated message) goes to the generated decoder, which handles every
 * field and reports malformed input as it always has. The result has the generated decoder's
 * shape (proto-loader with keepCase, defaults off): a field is present when it was on the wire,
 * the last occurrence of a singular field wins, and resource_names is absent when empty.
 */
import type { DiscoveryRequest } from '@ferry/proto/grpc';

/** Tags (field << 3 | wire type 2) of the fields read here. */
const VERSION_INFO = (1 << 3) | 2;
const RESOURCE_NAMES = (3 << 3) | 2;
const TYPE_URL = (4 << 3) | 2;
const RESPONSE_NONCE = (5 << 3) | 2;

/** The fast reader's result: undefined hands the message to the generated decoder. */
function readCommon(bytes: Buffer): DiscoveryRequest | undefined {
  const end = bytes.length;
  let offset = 0;
  let request: DiscoveryRequest | undefined;
  let names: string[] | undefined;
  while (offset < end) {
    // Every tag read here fits one byte; a larger one is a field this reader does not take.
    const tag = bytes[offset++]!;
    if (
      tag !== VERSION_INFO &&
      tag !== RESOURCE_NAMES &&
      tag !== TYPE_URL &&
      tag !== RESPONSE_NONCE
    )
      return undefined;
    // The length, a varint: strings longer than 2^28 - 1 bytes go to the generated decoder.
    let length = 0;
    let shift = 0;
    for (;;) {
      if (offset >= end || shift > 21) return undefined;
      const byte = bytes[offset++]!;
      length |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7;
    }
    if (length > end - offset) return undefined;
    // Buffer#utf8Slice, as the generated decoder reads strings: the same replacement of
    // malformed UTF-8.
    const value = bytes.toString('utf8', offset, offset + length);
    offset += length;
    request ??= {};
    if (tag === RESOURCE_NAMES) (names ??= []).push(value);
    else if (tag === VERSION_INFO) request.version_info = value;
    else if (tag === TYPE_URL) request.type_url = value;
    else request.response_nonce = value;
  }
  request ??= {};
  if (names !== undefined) request.resource_names = names;
  return request;
}

/**
 * A request deserializer for the SotW streaming methods: the fast reader above, else
 * `generated` (the method's own deserializer).
 */
export function discoveryRequestDeserializer(
  generated: (bytes: Buffer) => unknown,
): (bytes: Buffer) => unknown {
  return (bytes) => readCommon(bytes) ?? generated(bytes);
}
