/**
 * Unary gRPC calls from filters (Envoy's Grpc::AsyncClient with an envoy_grpc GrpcService), on
 * top of the async client (async-client.ts): the request is one length-prefixed message POSTed
 * to `/<service>/<method>` with `content-type: application/grpc`, `te: trailers` and a
 * `grpc-timeout` from the GrpcService's timeout; the outcome is read from grpc-status /
 * grpc-message in the trailers, or in the headers of a trailers-only response.
 *
 * Contract: exactly one of onResponse / onError follows a call (none after cancel()), never
 * before grpcUnaryCall returned. Transport failures map to gRPC codes as Envoy's do: timeout →
 * DEADLINE_EXCEEDED, no response (no cluster, no host, connect failure, reset, overflow) →
 * UNAVAILABLE, a non-200 HTTP status → its gRPC equivalent (the gRPC HTTP mapping).
 *
 * Messages are encoded and decoded with the descriptors of @ferry/proto (GrpcMessageCodec),
 * resolved once when a filter's config is applied, never on the request path.
 */
import {
  createMessage,
  decodeBinary,
  encodeBinary,
  requireMessageSchema,
  type DescMessage,
  type Message,
} from '@ferry/proto';
import type { ClusterRuntime } from './cluster-runtime.js';
import {
  sendAsyncRequest,
  type AsyncFailureReason,
  type AsyncHttpResponse,
  type AsyncRequestCallbacks,
  type AsyncRequestHandle,
} from './async-client.js';
import {
  asObject,
  checkFields,
  durationMs,
  join,
  messageSpec,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from '../config/translate-common.js';

/** gRPC status codes used here. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** A validated envoy.config.core.v3.GrpcService (envoy_grpc only). */
export interface GrpcServiceModel {
  readonly clusterName: string;
  /** :authority of the calls (default: the cluster name). */
  readonly authority: string;
  /** GrpcService.timeout in ms; 0 when unset (the caller's default applies). */
  readonly timeoutMs: number;
  /** initial_metadata as `[name, value, ...]`, lower-case names. */
  readonly initialMetadata: readonly string[];
}

const GRPC_SERVICE_SPEC = messageSpec(
  'envoy.config.core.v3.GrpcService',
  {
    envoy_grpc: 'required: the cluster (HTTP/2 via http2_protocol_options) and authority',
    timeout: 'deadline of each call, sent as grpc-timeout',
    initial_metadata: 'headers added to every call',
  },
  'filter',
);

const ENVOY_GRPC_SPEC = messageSpec(
  'envoy.config.core.v3.GrpcService.EnvoyGrpc',
  {
    cluster_name: 'a cluster of the configuration (checked per request: no cluster is UNAVAILABLE)',
    authority: ':authority (default: the cluster name)',
  },
  'filter',
);

const INITIAL_METADATA_SPEC = messageSpec(
  'envoy.config.core.v3.HeaderValue',
  { key: 'lower-case header name', value: 'header value' },
  'GrpcService initial_metadata',
);

/** The GrpcService messages a filter accepts, for docs/envoy-reference.md. */
export const GRPC_SERVICE_SPECS: readonly MessageSpec[] = [
  GRPC_SERVICE_SPEC,
  ENVOY_GRPC_SPEC,
  INITIAL_METADATA_SPEC,
];

/** Checks a GrpcService (`path` is its field path); google_grpc and the rest are NACKed. */
export function validateGrpcService(
  obj: JsonObject,
  path: string,
  issues: Issues,
): GrpcServiceModel {
  checkFields(obj, GRPC_SERVICE_SPEC, path, issues, {
    google_grpc:
      'google_grpc is not supported by ferry-proxy: use envoy_grpc with a cluster (http2_protocol_options)',
  });
  const envoyGrpc = asObject(obj.envoy_grpc);
  const grpcPath = join(path, 'envoy_grpc');
  if (envoyGrpc === undefined) {
    if (obj.google_grpc === undefined) issues.add(grpcPath, 'required');
    return { clusterName: '', authority: '', timeoutMs: 0, initialMetadata: [] };
  }
  checkFields(envoyGrpc, ENVOY_GRPC_SPEC, grpcPath, issues);
  const clusterName = str(envoyGrpc.cluster_name);
  if (clusterName === '') issues.add(join(grpcPath, 'cluster_name'), 'required');
  const initialMetadata: string[] = [];
  for (const [header, headerPath] of objectsOf(obj, 'initial_metadata', path)) {
    checkFields(header, INITIAL_METADATA_SPEC, headerPath, issues);
    const key = str(header.key);
    if (!/^[a-z0-9-_.]+$/.test(key) || key.startsWith('grpc-'))
      issues.add(
        join(headerPath, 'key'),
        `${JSON.stringify(key)} is not a valid metadata key (lower-case, not grpc-*)`,
      );
    initialMetadata.push(key, str(header.value));
  }
  const timeoutMs = durationMs(obj.timeout, 0);
  if (timeoutMs < 0) issues.add(join(path, 'timeout'), 'must not be negative');
  return {
    clusterName,
    authority: str(envoyGrpc.authority) || clusterName,
    timeoutMs: Math.max(0, timeoutMs),
    initialMetadata,
  };
}

/** Encodes requests and decodes responses of one method with the project's descriptors. */
export class GrpcMessageCodec {
  readonly #request: DescMessage;
  readonly #response: DescMessage;

  /** Resolves both types now (loads the descriptor set on first use): call at config apply. */
  constructor(requestType: string, responseType: string) {
    this.#request = requireMessageSchema(requestType);
    this.#response = requireMessageSchema(responseType);
  }

  /** `init`: fields in lowerCamelCase, oneofs as `{ case, value }` (createMessage). */
  encode(init: Record<string, unknown>): Uint8Array {
    return encodeBinary(this.#request, createMessage(this.#request, init));
  }

  /** Throws on malformed bytes. */
  decode(bytes: Uint8Array): Message {
    return decodeBinary(this.#response, bytes);
  }
}

export interface GrpcUnaryCallbacks {
  /** grpc-status 0 with exactly one message: its bytes (decode with GrpcMessageCodec). */
  onResponse(message: Buffer): void;
  /** Any other outcome: the gRPC status code (never 0) and message. */
  onError(status: number, message: string): void;
}

export interface GrpcCallOptions {
  /** Deadline in ms (sent as grpc-timeout, enforced locally); 0: none. */
  readonly timeoutMs: number;
  /** Extra request metadata `[name, value, ...]`, lower-case names. */
  readonly metadata?: readonly string[];
}

/** Frames one message: compressed flag 0 and a 32-bit big-endian length. */
export function frameGrpcMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

/** Sends one unary call of `method` (`/package.Service/Method`) to `service`'s cluster. */
export function grpcUnaryCall(
  clusters: ReadonlyMap<string, ClusterRuntime>,
  service: GrpcServiceModel,
  method: string,
  message: Uint8Array,
  options: GrpcCallOptions,
  callbacks: GrpcUnaryCallbacks,
): AsyncRequestHandle {
  const cluster = clusters.get(service.clusterName);
  // Envoy refuses a gRPC client on a cluster without HTTP/2; so does this call, with the reason.
  if (cluster !== undefined && cluster.model.upstreamProtocol !== 'HTTP2')
    return new RefusedCall(
      callbacks,
      `cluster ${service.clusterName} is not HTTP/2: a gRPC service's cluster needs http2_protocol_options`,
    );
  const headers = [
    'content-type',
    'application/grpc',
    'te',
    'trailers',
    ...service.initialMetadata,
    ...(options.metadata ?? []),
  ];
  if (options.timeoutMs > 0) headers.push('grpc-timeout', `${options.timeoutMs}m`);
  return sendAsyncRequest(
    clusters,
    service.clusterName,
    {
      method: 'POST',
      path: method,
      authority: service.authority,
      headers,
      body: frameGrpcMessage(message),
    },
    { timeoutMs: options.timeoutMs },
    new UnaryResponseReader(callbacks),
  );
}

/** A call that cannot be made: UNAVAILABLE, reported after grpcUnaryCall returned. */
class RefusedCall implements AsyncRequestHandle {
  #cancelled = false;

  constructor(callbacks: GrpcUnaryCallbacks, reason: string) {
    queueMicrotask(() => {
      if (!this.#cancelled) callbacks.onError(GrpcStatus.UNAVAILABLE, reason);
    });
  }

  cancel(): void {
    this.#cancelled = true;
  }
}

/** Envoy's Grpc::Utility::httpToGrpcStatus (the gRPC HTTP-to-gRPC status mapping). */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

function flatGet(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

/** grpc-message is percent-encoded (gRPC over HTTP/2). */
function decodeGrpcMessage(value: string | undefined): string {
  if (value === undefined) return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const FAILURE_STATUS: Readonly<Record<AsyncFailureReason, number>> = {
  no_cluster: GrpcStatus.UNAVAILABLE,
  overflow: GrpcStatus.UNAVAILABLE,
  no_healthy_upstream: GrpcStatus.UNAVAILABLE,
  connect_failure: GrpcStatus.UNAVAILABLE,
  reset: GrpcStatus.UNAVAILABLE,
  timeout: GrpcStatus.DEADLINE_EXCEEDED,
  response_too_large: GrpcStatus.RESOURCE_EXHAUSTED,
};

class UnaryResponseReader implements AsyncRequestCallbacks {
  constructor(readonly callbacks: GrpcUnaryCallbacks) {}

  onFailure(reason: AsyncFailureReason, detail: string): void {
    this.callbacks.onError(FAILURE_STATUS[reason], `${reason}: ${detail}`);
  }

  onSuccess(response: AsyncHttpResponse): void {
    const callbacks = this.callbacks;
    if (response.status !== 200) {
      callbacks.onError(
        httpToGrpcStatus(response.status),
        `gRPC call answered with HTTP status ${response.status}`,
      );
      return;
    }
    // Trailers-only responses carry the status in the headers.
    const source =
      flatGet(response.trailers, 'grpc-status') !== undefined
        ? response.trailers
        : response.headers;
    const statusText = flatGet(source, 'grpc-status');
    if (statusText === undefined || !/^\d+$/.test(statusText)) {
      callbacks.onError(GrpcStatus.UNKNOWN, 'gRPC response without a valid grpc-status');
      return;
    }
    const status = Number(statusText);
    if (status !== GrpcStatus.OK) {
      callbacks.onError(status, decodeGrpcMessage(flatGet(source, 'grpc-message')));
      return;
    }
    const body = response.body;
    if (body.length < 5) {
      callbacks.onError(GrpcStatus.INTERNAL, 'gRPC response without a message');
      return;
    }
    const length = body.readUInt32BE(1);
    if (body[0] !== 0) {
      callbacks.onError(GrpcStatus.INTERNAL, 'compressed gRPC response (none was accepted)');
      return;
    }
    if (body.length !== 5 + length) {
      callbacks.onError(GrpcStatus.INTERNAL, 'gRPC response framing does not hold one message');
      return;
    }
    callbacks.onResponse(body.subarray(5));
  }
}
