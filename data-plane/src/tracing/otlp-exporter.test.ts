import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Pool } from 'undici';
import { OtlpHttpExporter } from './otlp-exporter.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

describe('OtlpHttpExporter', () => {
  let server: http.Server;
  let port: number;
  const seen: Seen[] = [];
  let answer = 200;

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        res.writeHead(answer, { 'content-type': 'application/x-protobuf' }).end('partial');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const spans = [{ name: 'a' }, { name: 'b' }] as unknown as ReadableSpan[];
  const serialize = (batch: ReadableSpan[]): Uint8Array =>
    Buffer.from(batch.map((s) => s.name).join(','));
  const target = {
    httpPath: '/otlp/v1/traces?tenant=x',
    headers: [{ key: 'authorization', value: 'Bearer t' }],
    timeoutMs: 2000,
  };
  const exportOnce = (exporter: OtlpHttpExporter): Promise<ExportResult> =>
    new Promise((resolve) => exporter.export(spans, resolve));

  test('POSTs the serialized batch as application/x-protobuf with the configured headers', async () => {
    const exporter = new OtlpHttpExporter(new Pool(`http://127.0.0.1:${port}`), serialize, target);
    answer = 200;
    const result = await exportOnce(exporter);
    assert.equal(result.code, ExportResultCode.SUCCESS);
    const request = seen.at(-1)!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/otlp/v1/traces?tenant=x');
    assert.equal(request.headers['content-type'], 'application/x-protobuf');
    assert.equal(request.headers.authorization, 'Bearer t');
    assert.equal(request.body.toString(), 'a,b');
    answer = 503;
    const failed = await exportOnce(exporter);
    assert.equal(failed.code, ExportResultCode.FAILED);
    assert.match(String(failed.error?.message), /HTTP 503/);
    await exporter.shutdown();
  });

  test('a collector that cannot be reached or a batch that cannot be serialized fails the export', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = new OtlpHttpExporter(
      new Pool(`http://127.0.0.1:${deadPort}`),
      serialize,
      target,
    );
    const refused = await exportOnce(unreachable);
    assert.equal(refused.code, ExportResultCode.FAILED);
    assert.ok(refused.error instanceof Error);
    await unreachable.shutdown();
    const unserializable = new OtlpHttpExporter(
      new Pool(`http://127.0.0.1:${port}`),
      () => undefined,
      target,
    );
    const before = seen.length;
    const result = await exportOnce(unserializable);
    assert.equal(result.code, ExportResultCode.FAILED);
    assert.equal(seen.length, before, 'nothing sent');
    await unserializable.shutdown();
  });
});
