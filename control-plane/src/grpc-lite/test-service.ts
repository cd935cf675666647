/**
 * A JSON-over-gRPC test service for grpc-lite's tests, with a grpc-js client for it. Test-only.
 */
import * as grpc from '@grpc/grpc-js';

function serialize(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function deserialize(bytes: Buffer): unknown {
  return JSON.parse(bytes.toString());
}

function method(
  name: string,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: `/ferry.test.Lite/${name}`,
    requestStream,
    responseStream,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

export const TEST_SERVICE = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

export type Json = Record<string, unknown>;

/** The generated client's methods, typed. */
export interface TestClientApi extends grpc.Client {
  unary(
    request: Json,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, value: Json) => void,
  ): grpc.ClientUnaryCall;
  serverStream(request: Json): grpc.ClientReadableStream<Json>;
  clientStream(
    callback: (error: grpc.ServiceError | null, value: Json) => void,
  ): grpc.ClientWritableStream<Json>;
  chat(metadata?: grpc.Metadata): grpc.ClientDuplexStream<Json, Json>;
}

const TestClient = grpc.makeGenericClientConstructor(TEST_SERVICE, 'Lite');

export function newTestClient(target: string, credentials: grpc.ChannelCredentials): TestClientApi {
  return new TestClient(target, credentials) as unknown as TestClientApi;
}

/** The first of `emitter`'s `event`, or a rejection after `ms`. */
export function next<T = unknown>(
  emitter: NodeJS.EventEmitter,
  event: string,
  ms = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Resolves once `condition` holds, polling; rejects after `ms`. */
export async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
