/**
 * x-request-id handling (Envoy's HCM with the default UUID request id extension):
 * with generate_request_id (default true) a UUIDv4 is generated when the request has none, and
 * an edge request's id (use_remote_address and external, see xff.ts) is replaced unless
 * preserve_external_request_id — ids from untrusted clients are not kept.
 */
import { randomUUID } from 'node:crypto';

export interface RequestIdConfig {
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
}

/** A random UUIDv4 (node's randomUUID draws from a cached entropy pool: no syscall per id). */
export function newRequestId(): string {
  return randomUUID();
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
  if (forceNew || current === undefined || current === '') return randomUUID();
  return current;
}
