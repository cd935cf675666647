/**
 * gRPC health check (HealthCheck.GrpcHealthCheck): a unary grpc.health.v1.Health/Check call over
 * HTTP/2 (prior knowledge, or ALPN h2 over TLS when the cluster has an UpstreamTlsContext). Healthy when the reply's status is SERVING and grpc-status is 0. The
 * request and reply are tiny, so they are encoded by hand rather than through a proto library:
 * HealthCheckRequest { string service = 1; }, HealthCheckResponse { ServingStatus status = 1; }.
 */
import type http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { GrpcHealthCheckModel } from '../config/model.js';
import {
  HEALTHY,
  activeFailure,
  connectHttp2,
  networkFailure,
  openCheckConnection,
  type CheckOutcome,
  type HealthChecker,
  type HealthCheckTarget,
} from './health-checker.js';

const SERVING = 1;
const H2_ALPN: readonly string[] = ['h2'];

export class GrpcHealthChecker implements HealthChecker {
  constructor(private readonly model: GrpcHealthCheckModel) {}

  check(target: HealthCheckTarget, signal: AbortSignal): Promise<CheckOutcome> {
    if (target.tls === undefined) return this.#call(target, signal);
    return openCheckConnection(target, H2_ALPN, signal).then(
      (socket) => this.#call(target, signal, socket),
      (err: Error) => networkFailure(err.message),
    );
  }

  #call(target: HealthCheckTarget, signal: AbortSignal, socket?: Socket): Promise<CheckOutcome> {
    return new Promise((resolve) => {
      const session = connectHttp2(target, socket);
      const chunks: Buffer[] = [];
      let httpStatus = 0;
      let grpcStatus: string | undefined;
      const finish = (outcome: CheckOutcome): void => {
        signal.removeEventListener('abort', onAbort);
        session.destroy();
        resolve(outcome);
      };
      const onAbort = (): void => finish(networkFailure('timed out'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      session.on('error', (err: Error) => finish(networkFailure(err.message)));
      const stream = session.request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Check',
        ':authority': this.model.authority !== '' ? this.model.authority : target.clusterName,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status'] ?? 0);
        // A trailers-only reply carries grpc-status in the headers.
        const status = headers['grpc-status'];
        if (typeof status === 'string') grpcStatus = status;
      });
      stream.on('trailers', (trailers: http2.IncomingHttpHeaders) => {
        const status = trailers['grpc-status'];
        if (typeof status === 'string') grpcStatus = status;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (httpStatus !== 200) return finish(activeFailure(`HTTP status ${httpStatus}`));
        if (grpcStatus !== '0')
          return finish(activeFailure(`grpc-status ${grpcStatus ?? 'missing'}`));
        const status = decodeServingStatus(Buffer.concat(chunks));
        if (status === undefined) return finish(activeFailure('malformed HealthCheckResponse'));
        finish(status === SERVING ? HEALTHY : activeFailure(`serving status ${status}`));
      });
      stream.on('error', (err: Error) => finish(networkFailure(err.message)));
      stream.end(encodeHealthCheckRequest(this.model.serviceName));
    });
  }
}

/** A length-prefixed gRPC message holding HealthCheckRequest { service }. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const body =
    name.length > 0
      ? Buffer.concat([Buffer.from([0x0a]), varint(name.length), name])
      : Buffer.alloc(0);
  const frame = Buffer.alloc(5);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(body.length, 1);
  return Buffer.concat([frame, body]);
}

/** Encodes a length-prefixed HealthCheckResponse (tests' servers use it). */
export function encodeHealthCheckResponse(status: number): Buffer {
  const body =
    status === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x08]), varint(status)]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(body.length, 1);
  return Buffer.concat([frame, body]);
}

/**
 * The `status` of a length-prefixed, uncompressed HealthCheckResponse; 0 (UNKNOWN) when the
 * field is absent (proto3 default); undefined when the bytes are not a valid response.
 */
export function decodeServingStatus(message: Buffer): number | undefined {
  if (message.length < 5 || message[0] !== 0) return undefined;
  const length = message.readUInt32BE(1);
  if (message.length < 5 + length) return undefined;
  const body = message.subarray(5, 5 + length);
  let status = 0;
  let at = 0;
  while (at < body.length) {
    const key = readVarint(body, at);
    if (!key) return undefined;
    at = key.next;
    const wireType = key.value & 7;
    if (wireType === 0) {
      const value = readVarint(body, at);
      if (!value) return undefined;
      at = value.next;
      if (key.value >>> 3 === 1) status = value.value;
    } else if (wireType === 2) {
      const len = readVarint(body, at);
      if (!len) return undefined;
      at = len.next + len.value;
    } else {
      return undefined;
    }
  }
  return at === body.length ? status : undefined;
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function readVarint(buf: Buffer, start: number): { value: number; next: number } | undefined {
  let value = 0;
  let shift = 0;
  for (let at = start; at < buf.length && shift < 35; at++) {
    const byte = buf[at]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: at + 1 };
    shift += 7;
  }
  return undefined;
}
