import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import type { DecompressorFilterModel } from '../../../config/model.js';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import {
  FakeFilterCallbacks,
  requestHeaders,
  responseHeaders,
  until,
} from '../filter-test-fixtures.js';
import { httpFilterByTypeUrl } from '../registry.js';
import {
  DECOMPRESSOR_FILTER_TYPE_URL,
  decompressorFilter,
  validateDecompressor,
} from './config.js';
import { DecompressorFilter, addEncodingToAcceptEncoding } from './decompressor-filter.js';

const T = 'type.googleapis.com/';
const CONTEXT = { stats: new MemoryStatsSink(), statPrefix: 'http', listenerName: 'l' };
/** Text that compresses about 4:3, far from max_inflate_ratio. */
const BODY = Buffer.from(randomBytes(15000).toString('base64'));

function model(extra: Partial<DecompressorFilterModel> = {}): DecompressorFilterModel {
  return {
    libraryName: 'gz',
    library: { kind: 'gzip', windowBits: 15, chunkSize: 4096, maxInflateRatio: 100 },
    request: { enabled: true, ignoreNoTransformHeader: false, advertiseAcceptEncoding: true },
    response: { enabled: true, ignoreNoTransformHeader: false },
    ...extra,
  };
}

function validate(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  return { value: validateDecompressor(config, 'typed_config', issues), errors: issues.errors };
}

describe('decompressor config', () => {
  test('defaults: both directions on, advertise on', () => {
    assert.equal(httpFilterByTypeUrl(DECOMPRESSOR_FILTER_TYPE_URL), decompressorFilter);
    assert.deepEqual(
      validate({
        decompressor_library: {
          name: 'gz',
          typed_config: { '@type': `${T}envoy.extensions.compression.gzip.decompressor.v3.Gzip` },
        },
      }),
      { value: model(), errors: [] },
    );
    assert.deepEqual(
      validate({
        decompressor_library: {
          name: 'br',
          typed_config: {
            '@type': `${T}envoy.extensions.compression.brotli.decompressor.v3.Brotli`,
            disable_ring_buffer_reallocation: true,
          },
        },
        request_direction_config: {
          common_config: { enabled: { default_value: false, runtime_key: 'k' } },
          advertise_accept_encoding: false,
        },
        response_direction_config: { common_config: { ignore_no_transform_header: true } },
      }).value,
      model({
        libraryName: 'br',
        library: {
          kind: 'brotli',
          chunkSize: 4096,
          disableRingBufferReallocation: true,
          maxInflateRatio: 100,
        },
        request: { enabled: false, ignoreNoTransformHeader: false, advertiseAcceptEncoding: false },
        response: { enabled: true, ignoreNoTransformHeader: true },
      }),
    );
  });

  test('NACKs with field paths', () => {
    assert.deepEqual(
      validate({
        decompressor_library: {
          name: 'z',
          typed_config: { '@type': `${T}envoy.extensions.compression.zstd.decompressor.v3.Zstd` },
        },
        response_direction_config: { common_config: { bogus: 1 } },
      }).errors,
      [
        'typed_config.decompressor_library.typed_config: envoy.extensions.compression.zstd.decompressor.v3.Zstd is not supported by ferry-proxy (supported: envoy.compression.gzip.decompressor, envoy.compression.brotli.decompressor)',
        'typed_config.response_direction_config.common_config.bogus: not supported by ferry-proxy',
      ],
    );
  });
});

describe('decompressor filter', () => {
  test('Accept-Encoding is advertised (Envoy addEncodingToAcceptEncoding)', () => {
    assert.equal(addEncodingToAcceptEncoding('', 'gzip'), 'gzip');
    assert.equal(addEncodingToAcceptEncoding('br, gzip;q=0.1', 'gzip'), 'br,gzip');
    assert.equal(addEncodingToAcceptEncoding('one;q=0.3,two', 'two'), 'one;q=0.3,two');
    const filter = new DecompressorFilter(model(), CONTEXT).create(new FakeFilterCallbacks());
    const headers = requestHeaders('GET', '/', { 'accept-encoding': 'br' });
    filter.decodeHeaders(headers, true);
    assert.equal(headers.get('accept-encoding'), 'br,gzip');
    const quiet = new DecompressorFilter(
      model({ response: { enabled: false, ignoreNoTransformHeader: false } }),
      CONTEXT,
    ).create(new FakeFilterCallbacks());
    const untouched = requestHeaders('GET', '/', { 'accept-encoding': 'br' });
    quiet.decodeHeaders(untouched, true);
    assert.equal(untouched.get('accept-encoding'), 'br');
  });

  for (const [name, library, compress] of [
    ['gzip', model().library, zlib.gzipSync],
    [
      'br',
      {
        kind: 'brotli',
        chunkSize: 4096,
        disableRingBufferReallocation: false,
        maxInflateRatio: 100,
      },
      zlib.brotliCompressSync,
    ],
  ] as const) {
    test(`${name} request and response bodies are decompressed`, async () => {
      const callbacks = new FakeFilterCallbacks();
      const filter = new DecompressorFilter(model({ library }), CONTEXT).create(callbacks);
      const compressed = compress(BODY);
      const request = requestHeaders('POST', '/', {
        'content-encoding': `${name}, identity`,
        'content-length': String(compressed.length),
      });
      filter.decodeHeaders(request, false);
      assert.equal(request.get('content-encoding'), 'identity');
      assert.equal(request.get('content-length'), undefined);
      assert.equal(filter.decodeData(compressed.subarray(0, 10), false), 'stop-no-buffer');
      filter.decodeData(compressed.subarray(10), true);
      await until(() => callbacks.decodeEnded, 'request body');
      assert.deepEqual(callbacks.decodedBody(), BODY);

      const response = responseHeaders(200, { 'content-encoding': name.toUpperCase() });
      filter.encodeHeaders(response, false);
      assert.equal(response.get('content-encoding'), undefined);
      filter.encodeData(compressed, true);
      await until(() => callbacks.encodeEnded, 'response body');
      assert.deepEqual(callbacks.encodedBody(), BODY);
      filter.onDestroy();
    });
  }

  test('left alone: other codings, no-transform, disabled direction, no body', () => {
    const compressed = zlib.gzipSync(BODY);
    const cases: Array<[DecompressorFilterModel, Record<string, string>, boolean]> = [
      [model(), { 'content-encoding': 'br' }, false],
      [model(), { 'content-encoding': 'identity, gzip' }, false],
      [model(), { 'content-encoding': 'gzip', 'cache-control': 'no-transform' }, false],
      [
        model({ response: { enabled: true, ignoreNoTransformHeader: true } }),
        { 'content-encoding': 'gzip', 'cache-control': 'no-transform' },
        true,
      ],
      [
        model({ response: { enabled: false, ignoreNoTransformHeader: false } }),
        { 'content-encoding': 'gzip' },
        false,
      ],
    ];
    for (const [config, headers, decompressed] of cases) {
      const filter = new DecompressorFilter(config, CONTEXT).create(new FakeFilterCallbacks());
      const response = responseHeaders(200, headers);
      filter.encodeHeaders(response, false);
      assert.equal(
        filter.encodeData(compressed, true) === 'stop-no-buffer',
        decompressed,
        JSON.stringify(headers),
      );
      filter.onDestroy();
    }
    const headOnly = new DecompressorFilter(model(), CONTEXT).create(new FakeFilterCallbacks());
    const response = responseHeaders(200, { 'content-encoding': 'gzip' });
    headOnly.encodeHeaders(response, true);
    assert.equal(response.get('content-encoding'), 'gzip');
  });

  test('a request bomb is cut off at max_inflate_ratio with 413', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024));
    const callbacks = new FakeFilterCallbacks();
    const filter = new DecompressorFilter(
      model({ library: { kind: 'gzip', windowBits: 15, chunkSize: 4096, maxInflateRatio: 10 } }),
      CONTEXT,
    ).create(callbacks);
    filter.decodeHeaders(requestHeaders('POST', '/', { 'content-encoding': 'gzip' }), false);
    filter.decodeData(bomb, true);
    await until(() => callbacks.localReplies.length === 1, 'the 413');
    assert.deepEqual(callbacks.localReplies[0], {
      status: 413,
      body: 'Payload Too Large',
      options: { details: 'decompressor_inflate_ratio_exceeded' },
    });
    assert.ok(callbacks.decodedBody().length <= 10 * bomb.length, 'output stayed under the ratio');
    assert.equal(callbacks.decodeEnded, false);
  });

  test('a response bomb resets the stream; corrupt bodies fail too', async () => {
    const callbacks = new FakeFilterCallbacks();
    const filter = new DecompressorFilter(model(), CONTEXT).create(callbacks);
    filter.encodeHeaders(responseHeaders(200, { 'content-encoding': 'gzip' }), false);
    filter.encodeData(zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024)), true);
    await until(() => callbacks.resets === 1, 'the reset');
    assert.equal(callbacks.encodeEnded, false);

    const corrupt = new FakeFilterCallbacks();
    const request = new DecompressorFilter(model(), CONTEXT).create(corrupt);
    request.decodeHeaders(requestHeaders('POST', '/', { 'content-encoding': 'gzip' }), false);
    request.decodeData(Buffer.from('definitely not gzip'), true);
    await until(() => corrupt.localReplies.length === 1, 'the 400');
    assert.deepEqual(corrupt.localReplies[0], {
      status: 400,
      body: 'Bad Request',
      options: { details: 'decompressor_invalid_data' },
    });
  });

  test('trailers wait for the decompressed body', async () => {
    const callbacks = new FakeFilterCallbacks();
    const filter = new DecompressorFilter(model(), CONTEXT).create(callbacks);
    filter.decodeHeaders(requestHeaders('POST', '/', { 'content-encoding': 'gzip' }), false);
    filter.decodeData(zlib.gzipSync(BODY), false);
    assert.equal(filter.decodeTrailers(), 'stop');
    await until(() => callbacks.continueDecodingCalls === 1, 'trailers released');
    assert.deepEqual(callbacks.decodedBody(), BODY);
    assert.equal(callbacks.decodeEnded, false);
  });
});
