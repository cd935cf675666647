/**
 * Keeping xDS responses under gRPC's default 4 MiB maximum message size: a client
 * rejects a larger message with RESOURCE_EXHAUSTED and the stream fails, so such a response is
 * never useful. Sizes are upper-bound estimates of the protobuf encoding, computed from the
 * stored bytes without encoding anything.
 */

/** gRPC's default maximum receive message size. */
export const GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The budget for the resources of one response: the limit minus room for the envelope
 * (version_info, nonce, type_url, control_plane, removed_resources of a few thousand names).
 */
export const RESPONSE_RESOURCES_BUDGET = GRPC_MAX_MESSAGE_BYTES - 256 * 1024;

/** Bytes of a length-delimited field (tag + varint length + payload), rounded up. */
function field(payloadBytes: number): number {
  return payloadBytes + 6;
}

/** Encoded size of an `Any { type_url, value }` as a repeated field of a response. */
export function anySize(resource: {
  readonly type_url: string;
  readonly value: Uint8Array;
}): number {
  return field(field(resource.type_url.length) + field(resource.value.byteLength));
}

/** Encoded size of a delta `Resource { name, version, resource: Any }` in a response. */
export function deltaResourceSize(resource: {
  readonly name: string;
  readonly version: string;
  readonly resource: { readonly type_url: string; readonly value: Uint8Array };
}): number {
  return field(
    field(Buffer.byteLength(resource.name)) +
      field(resource.version.length) +
      anySize(resource.resource),
  );
}

/** Sum of `anySize` over a SotW response's resources. */
export function sotwResourcesSize(
  resources: ReadonlyArray<{ readonly type_url: string; readonly value: Uint8Array }>,
): number {
  let bytes = 0;
  for (const r of resources) bytes += anySize(r);
  return bytes;
}

/**
 * Splits items into consecutive chunks whose sizes each stay within `budget`, in order. An item
 * larger than the budget on its own is returned in `oversized` instead (it cannot be sent).
 */
export function chunkBySize<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  budget: number = RESPONSE_RESOURCES_BUDGET,
): { chunks: T[][]; oversized: T[] } {
  const chunks: T[][] = [];
  const oversized: T[] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const item of items) {
    const bytes = sizeOf(item);
    if (bytes > budget) {
      oversized.push(item);
      continue;
    }
    if (current.length > 0 && currentBytes + bytes > budget) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return { chunks, oversized };
}
