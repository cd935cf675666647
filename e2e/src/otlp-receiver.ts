/**
 * A real OTLP trace receiver for the tests: OTLP/gRPC (`TraceService/Export`) and OTLP/HTTP
 * protobuf (`POST /v1/traces`), both on 127.0.0.1 random ports, decoding
 * `ExportTraceServiceRequest` into plain spans the tests can assert on. It stands where Jaeger
 * (or an OpenTelemetry Collector) stands in production: the proxies and the control plane export
 * to it with their real exporters.
 *
 * The decoder reads the protobuf wire format directly (field numbers from the OTLP spec,
 * opentelemetry-proto trace/v1, common/v1, resource/v1 and collector/trace/v1), so the tests
 * depend on no generated code. Unknown fields are skipped, as any protobuf reader does.
 */
import http from 'node:http';
import https from 'node:https';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const gunzipAsync = promisify(gunzip);

export type AttributeValue = string | number | boolean;

export interface ReceivedLink {
  traceId: string;
  spanId: string;
  attributes: Record<string, AttributeValue>;
}

export interface ReceivedEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
}

export interface ReceivedSpan {
  /** Lower-case hex, 32 characters. */
  traceId: string;
  /** Lower-case hex, 16 characters. */
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  links: ReceivedLink[];
  events: ReceivedEvent[];
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  /** The resource's `service.name`, '' if absent. */
  serviceName: string;
  resource: Record<string, AttributeValue>;
  scopeName: string;
  transport: 'grpc' | 'http';
}

export interface OtlpReceiver {
  /** "127.0.0.1:port" for OTLP/gRPC. */
  readonly grpcAddress: string;
  readonly grpcPort: number;
  /** "http(s)://127.0.0.1:port"; exporters POST to `${httpUrl}/v1/traces`. */
  readonly httpUrl: string;
  readonly httpPort: number;
  /** Every span received so far, in arrival order. */
  readonly spans: readonly ReceivedSpan[];
  /** Export requests received (both transports), including empty ones. */
  readonly requests: number;
  /** Resolves with all spans once `predicate` holds; rejects after `timeoutMs` (default 15 s). */
  waitForSpans(
    predicate: (spans: readonly ReceivedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<readonly ReceivedSpan[]>;
  clear(): void;
  close(): Promise<void>;
}

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const identity = (b: Buffer): Buffer => b;

/**
 * `tls`: both transports serve TLS with this certificate (OTLP/gRPC over TLS and OTLP/HTTPS),
 * as a collector behind TLS does.
 */
export async function startOtlpReceiver(
  options: { tls?: { cert: string; key: string } } = {},
): Promise<OtlpReceiver> {
  const tls = options.tls;
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  const waiters = new Set<() => void>();
  const accept = (body: Uint8Array, transport: 'grpc' | 'http'): void => {
    requests++;
    spans.push(...decodeExportTraceServiceRequest(body, transport));
    for (const wake of waiters) wake();
  };

  const grpcServer = new grpc.Server();
  grpcServer.addService(
    {
      Export: {
        path: EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Export: (
        call: grpc.ServerUnaryCall<Buffer, Buffer>,
        callback: grpc.sendUnaryData<Buffer>,
      ) => {
        try {
          accept(call.request, 'grpc');
          // An empty ExportTraceServiceResponse: full success.
          callback(null, Buffer.alloc(0));
        } catch (err) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
        }
      },
    },
  );
  const grpcPort = await new Promise<number>((resolve, reject) => {
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(null, [
          { private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) },
        ])
      : grpc.ServerCredentials.createInsecure();
    grpcServer.bindAsync('127.0.0.1:0', credentials, (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });

  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        const type = req.headers['content-type'] ?? '';
        if (!type.startsWith('application/x-protobuf')) {
          res.writeHead(415, { 'content-type': 'text/plain' }).end('only application/x-protobuf');
          return;
        }
        try {
          let body = Buffer.concat(chunks);
          if (req.headers['content-encoding'] === 'gzip') body = await gunzipAsync(body);
          accept(body, 'http');
          res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end((err as Error).message);
        }
      })();
    });
  };
  const httpServer = tls
    ? https.createServer({ cert: tls.cert, key: tls.key }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const httpPort = (httpServer.address() as { port: number }).port;

  let closed = false;
  return {
    grpcAddress: `127.0.0.1:${grpcPort}`,
    grpcPort,
    httpUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${httpPort}`,
    httpPort,
    get spans() {
      return spans;
    },
    get requests() {
      return requests;
    },
    waitForSpans(predicate, timeoutMs = 15_000) {
      if (predicate(spans)) return Promise.resolve(spans);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(
            new Error(
              `OTLP receiver: condition not met within ${timeoutMs} ms; ` +
                `${spans.length} spans received: ${spans.map((s) => `${s.serviceName}/${s.name}`).join(', ')}`,
            ),
          );
        }, timeoutMs);
        const wake = (): void => {
          if (!predicate(spans)) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(spans);
        };
        waiters.add(wake);
      });
    },
    clear() {
      spans.length = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      grpcServer.forceShutdown();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

/** Decodes an OTLP `ExportTraceServiceRequest` (resource_spans = 1). */
export function decodeExportTraceServiceRequest(
  body: Uint8Array,
  transport: 'grpc' | 'http',
): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  forEachField(body, (field, r) => {
    if (field === 1) decodeResourceSpans(r.bytes(), transport, out);
    else return false;
    return true;
  });
  return out;
}

// ResourceSpans { resource = 1; scope_spans = 2; }
function decodeResourceSpans(buf: Uint8Array, transport: 'grpc' | 'http', out: ReceivedSpan[]) {
  let resource: Record<string, AttributeValue> = {};
  const scopes: Uint8Array[] = [];
  forEachField(buf, (field, r) => {
    if (field === 1) resource = decodeResource(r.bytes());
    else if (field === 2) scopes.push(r.bytes());
    else return false;
    return true;
  });
  const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : '';
  for (const scope of scopes) {
    // ScopeSpans { scope = 1; spans = 2; }
    let scopeName = '';
    const spanBufs: Uint8Array[] = [];
    forEachField(scope, (field, r) => {
      if (field === 1) scopeName = decodeScopeName(r.bytes());
      else if (field === 2) spanBufs.push(r.bytes());
      else return false;
      return true;
    });
    for (const s of spanBufs) {
      out.push({ ...decodeSpan(s), serviceName, resource, scopeName, transport });
    }
  }
}

// Resource { attributes = 1; }
function decodeResource(buf: Uint8Array): Record<string, AttributeValue> {
  const attrs: Record<string, AttributeValue> = {};
  forEachField(buf, (field, r) => {
    if (field === 1) decodeKeyValue(r.bytes(), attrs);
    else return false;
    return true;
  });
  return attrs;
}

// InstrumentationScope { name = 1; version = 2; }
function decodeScopeName(buf: Uint8Array): string {
  let name = '';
  forEachField(buf, (field, r) => {
    if (field === 1) name = r.string();
    else return false;
    return true;
  });
  return name;
}

type SpanCore = Omit<ReceivedSpan, 'serviceName' | 'resource' | 'scopeName' | 'transport'>;

// Span { trace_id = 1; span_id = 2; trace_state = 3; parent_span_id = 4; name = 5; kind = 6;
//        start_time_unix_nano = 7 (fixed64); end_time_unix_nano = 8 (fixed64); attributes = 9;
//        events = 11; links = 13; status = 15; }
function decodeSpan(buf: Uint8Array): SpanCore {
  const span: SpanCore = {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    traceState: '',
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: {},
    links: [],
    events: [],
    status: { code: 0, message: '' },
  };
  forEachField(buf, (field, r) => {
    switch (field) {
      case 1:
        span.traceId = hex(r.bytes());
        break;
      case 2:
        span.spanId = hex(r.bytes());
        break;
      case 3:
        span.traceState = r.string();
        break;
      case 4:
        span.parentSpanId = hex(r.bytes());
        break;
      case 5:
        span.name = r.string();
        break;
      case 6:
        span.kind = r.int32();
        break;
      case 7:
        span.startTimeUnixNano = fixed64(r);
        break;
      case 8:
        span.endTimeUnixNano = fixed64(r);
        break;
      case 9:
        decodeKeyValue(r.bytes(), span.attributes);
        break;
      case 11:
        span.events.push(decodeEvent(r.bytes()));
        break;
      case 13:
        span.links.push(decodeLink(r.bytes()));
        break;
      case 15:
        span.status = decodeStatus(r.bytes());
        break;
      default:
        return false;
    }
    return true;
  });
  return span;
}

// Span.Event { time_unix_nano = 1 (fixed64); name = 2; attributes = 3; }
function decodeEvent(buf: Uint8Array): ReceivedEvent {
  const event: ReceivedEvent = { name: '', timeUnixNano: 0n, attributes: {} };
  forEachField(buf, (field, r) => {
    if (field === 1) event.timeUnixNano = fixed64(r);
    else if (field === 2) event.name = r.string();
    else if (field === 3) decodeKeyValue(r.bytes(), event.attributes);
    else return false;
    return true;
  });
  return event;
}

// Link { trace_id = 1; span_id = 2; trace_state = 3; attributes = 4; }
function decodeLink(buf: Uint8Array): ReceivedLink {
  const link: ReceivedLink = { traceId: '', spanId: '', attributes: {} };
  forEachField(buf, (field, r) => {
    if (field === 1) link.traceId = hex(r.bytes());
    else if (field === 2) link.spanId = hex(r.bytes());
    else if (field === 4) decodeKeyValue(r.bytes(), link.attributes);
    else return false;
    return true;
  });
  return link;
}

// Status { message = 2; code = 3; }
function decodeStatus(buf: Uint8Array): { code: number; message: string } {
  const status = { code: 0, message: '' };
  forEachField(buf, (field, r) => {
    if (field === 2) status.message = r.string();
    else if (field === 3) status.code = r.int32();
    else return false;
    return true;
  });
  return status;
}

// KeyValue { key = 1; value = 2 (AnyValue); }
function decodeKeyValue(buf: Uint8Array, into: Record<string, AttributeValue>): void {
  let key = '';
  let value: AttributeValue = '';
  forEachField(buf, (field, r) => {
    if (field === 1) key = r.string();
    else if (field === 2) value = decodeAnyValue(r.bytes());
    else return false;
    return true;
  });
  into[key] = value;
}

// AnyValue { string_value = 1; bool_value = 2; int_value = 3; double_value = 4;
//            array_value = 5; kvlist_value = 6; bytes_value = 7; }
// Arrays and key-value lists are rendered as JSON text: the tests compare scalars.
function decodeAnyValue(buf: Uint8Array): AttributeValue {
  let value: AttributeValue = '';
  forEachField(buf, (field, r) => {
    switch (field) {
      case 1:
        value = r.string();
        break;
      case 2:
        value = r.bool();
        break;
      case 3:
        value = Number(BigInt.asIntN(64, varint64(r)));
        break;
      case 4:
        value = r.double();
        break;
      case 5: {
        const items: AttributeValue[] = [];
        forEachField(r.bytes(), (f, rr) => {
          if (f === 1) items.push(decodeAnyValue(rr.bytes()));
          else return false;
          return true;
        });
        value = JSON.stringify(items);
        break;
      }
      case 7:
        value = hex(r.bytes());
        break;
      default:
        return false;
    }
    return true;
  });
  return value;
}

/**
 * Calls `visit` for each field of a message; `visit` reads the value from the reader and returns
 * true, or returns false to have the field skipped by its wire type.
 */
function forEachField(
  buf: Uint8Array,
  visit: (field: number, reader: protobuf.Reader) => boolean,
): void {
  const reader = protobuf.Reader.create(buf);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (!visit(tag >>> 3, reader)) reader.skipType(tag & 7);
  }
}

/** A fixed64 as two little-endian 32-bit halves. */
function fixed64(r: protobuf.Reader): bigint {
  const low = r.fixed32();
  const high = r.fixed32();
  return (BigInt(high) << 32n) | BigInt(low);
}

/** A 64-bit varint as an unsigned bigint (the caller applies the sign). */
function varint64(r: protobuf.Reader): bigint {
  let value = 0n;
  for (let shift = 0n; ; shift += 7n) {
    const byte = r.buf[r.pos++]!;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return value;
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
