import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

// Encodes an ExportTraceServiceRequest by hand (field numbers from the OTLP spec) so the
// receiver's decoder is checked against bytes it did not produce itself.
function keyValue(
  w: protobuf.Writer,
  field: number,
  key: string,
  value: string | number | boolean,
) {
  w.uint32((field << 3) | 2).fork();
  w.uint32((1 << 3) | 2).string(key);
  w.uint32((2 << 3) | 2).fork();
  if (typeof value === 'string') w.uint32((1 << 3) | 2).string(value);
  else if (typeof value === 'boolean') w.uint32((2 << 3) | 0).bool(value);
  else if (Number.isInteger(value)) w.uint32((3 << 3) | 0).int64(value);
  else w.uint32((4 << 3) | 1).double(value);
  w.ldelim();
  w.ldelim();
}

function exportRequest(): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).fork(); // resource_spans
  w.uint32((1 << 3) | 2).fork(); // resource
  keyValue(w, 1, 'service.name', 'proxy-a');
  w.ldelim();
  w.uint32((2 << 3) | 2).fork(); // scope_spans
  w.uint32((1 << 3) | 2).fork(); // scope
  w.uint32((1 << 3) | 2).string('ferry');
  w.ldelim();
  w.uint32((2 << 3) | 2).fork(); // span
  w.uint32((1 << 3) | 2).bytes(Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex'));
  w.uint32((2 << 3) | 2).bytes(Buffer.from('b7ad6b7169203331', 'hex'));
  w.uint32((3 << 3) | 2).string('k=v');
  w.uint32((4 << 3) | 2).bytes(Buffer.from('00f067aa0ba902b7', 'hex'));
  w.uint32((5 << 3) | 2).string('GET /');
  w.uint32((6 << 3) | 0).int32(2);
  w.uint32((7 << 3) | 1).fixed64(1_700_000_000_000_000_000n.toString());
  w.uint32((8 << 3) | 1).fixed64(1_700_000_000_500_000_000n.toString());
  keyValue(w, 9, 'http.response.status_code', 503);
  keyValue(w, 9, 'sampled', true);
  keyValue(w, 9, 'ratio', 0.5);
  w.uint32((11 << 3) | 2).fork(); // event
  w.uint32((1 << 3) | 1).fixed64(1_700_000_000_250_000_000n.toString());
  w.uint32((2 << 3) | 2).string('waf.match');
  keyValue(w, 3, 'waf.action', 'blocked');
  w.ldelim();
  w.uint32((12 << 3) | 0).uint32(7); // dropped_events_count: skipped by the decoder
  w.uint32((13 << 3) | 2).fork(); // link
  w.uint32((1 << 3) | 2).bytes(Buffer.from('11111111111111111111111111111111', 'hex'));
  w.uint32((2 << 3) | 2).bytes(Buffer.from('2222222222222222', 'hex'));
  keyValue(w, 4, 'why', 'apply');
  w.ldelim();
  w.uint32((15 << 3) | 2).fork(); // status
  w.uint32((2 << 3) | 2).string('upstream failed');
  w.uint32((3 << 3) | 0).int32(2);
  w.ldelim();
  w.ldelim(); // span
  w.ldelim(); // scope_spans
  w.ldelim(); // resource_spans
  return w.finish();
}

let receiver: OtlpReceiver;
after(async () => receiver?.close());

test('OTLP receiver decodes spans sent over gRPC and over HTTP (gzip)', async () => {
  receiver = await startOtlpReceiver();
  const body = Buffer.from(exportRequest());

  const client = new grpc.Client(receiver.grpcAddress, grpc.credentials.createInsecure());
  await new Promise<void>((resolve, reject) => {
    client.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err) => (err ? reject(err) : resolve()),
    );
  });
  client.close();

  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${receiver.httpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(gzipSync(body));
  });
  assert.equal(status, 200);

  const spans = await receiver.waitForSpans((s) => s.length === 2);
  assert.deepEqual(
    spans.map((s) => s.transport),
    ['grpc', 'http'],
  );
  for (const span of spans) {
    assert.deepEqual(
      { ...span, transport: undefined },
      {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        parentSpanId: '00f067aa0ba902b7',
        traceState: 'k=v',
        name: 'GET /',
        kind: 2,
        startTimeUnixNano: 1_700_000_000_000_000_000n,
        endTimeUnixNano: 1_700_000_000_500_000_000n,
        attributes: { 'http.response.status_code': 503, sampled: true, ratio: 0.5 },
        links: [
          {
            traceId: '11111111111111111111111111111111',
            spanId: '2222222222222222',
            attributes: { why: 'apply' },
          },
        ],
        events: [
          {
            name: 'waf.match',
            timeUnixNano: 1_700_000_000_250_000_000n,
            attributes: { 'waf.action': 'blocked' },
          },
        ],
        status: { code: 2, message: 'upstream failed' },
        serviceName: 'proxy-a',
        resource: { 'service.name': 'proxy-a' },
        scopeName: 'ferry',
        transport: undefined,
      },
    );
  }
  assert.equal(receiver.requests, 2);
});
