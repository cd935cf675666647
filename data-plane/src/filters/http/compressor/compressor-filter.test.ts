import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import type {
  CompressorFilterModel,
  CompressorLibraryModel,
  CompressorPerRouteModel,
} from '../../../config/model.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import {
  FakeFilterCallbacks,
  requestHeaders,
  responseHeaders,
  until,
} from '../filter-test-fixtures.js';
import type { StreamFilter } from '../filter.js';
import { CompressorFilter } from './compressor-filter.js';

const GZIP: CompressorLibraryModel = {
  kind: 'gzip',
  level: -1,
  strategy: 'DEFAULT_STRATEGY',
  memoryLevel: 5,
  windowBits: 12,
  chunkSize: 4096,
};

const BROTLI: CompressorLibraryModel = {
  kind: 'brotli',
  quality: 3,
  mode: 'DEFAULT',
  windowBits: 18,
  inputBlockBits: 24,
  chunkSize: 4096,
  disableLiteralContextModeling: false,
};

function model(extra: Partial<CompressorFilterModel> = {}): CompressorFilterModel {
  return {
    libraryName: 'text',
    library: GZIP,
    response: {
      enabled: true,
      minContentLength: 30,
      contentTypes: [],
      disableOnEtagHeader: false,
      removeAcceptEncodingHeader: false,
    },
    chooseFirst: false,
    ...extra,
  };
}

const CONTEXT = { stats: new MemoryStatsSink(), statPrefix: 'http', listenerName: 'l' };
const BODY = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(200));

function stream(
  config: CompressorFilterModel,
  perRoute?: CompressorPerRouteModel,
): { callbacks: FakeFilterCallbacks; filter: StreamFilter } {
  const callbacks = new FakeFilterCallbacks({
    route: { perFilter: perRoute === undefined ? [] : [{ config: perRoute, disabled: false }] },
  });
  const filter = new CompressorFilter(config, CONTEXT).create(callbacks);
  return { callbacks, filter };
}

/** Runs a request and a response through one compressor stream filter. */
function exchange(
  filter: StreamFilter,
  request: Record<string, string>,
  response: Record<string, string>,
  options: { method?: string; status?: number; endStream?: boolean } = {},
) {
  const requestMap = requestHeaders(options.method ?? 'GET', '/', request);
  filter.decodeHeaders!(requestMap, true);
  const responseMap = responseHeaders(options.status ?? 200, response);
  const status = filter.encodeHeaders!(responseMap, options.endStream ?? false);
  return { requestMap, responseMap, status };
}

const TEXT_RESPONSE = {
  'content-type': 'text/plain; charset=utf-8',
  'content-length': String(BODY.length),
};

describe('compressor filter: responses', () => {
  for (const [library, encoding, decode, partial] of [
    [GZIP, 'gzip', zlib.gunzipSync, { finishFlush: zlib.constants.Z_SYNC_FLUSH }],
    [
      BROTLI,
      'br',
      zlib.brotliDecompressSync,
      { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH },
    ],
  ] as const) {
    test(`${encoding}: streamed chunk by chunk, decodes to the original`, async () => {
      const { callbacks, filter } = stream(model({ library }));
      const { responseMap } = exchange(
        filter,
        { 'accept-encoding': `${encoding}, deflate` },
        TEXT_RESPONSE,
      );
      assert.equal(responseMap.get('content-encoding'), encoding);
      assert.equal(responseMap.get('content-length'), undefined);
      assert.equal(responseMap.get('vary'), 'Accept-Encoding');
      const half = BODY.length / 2;
      assert.equal(filter.encodeData!(BODY.subarray(0, half), false), 'stop-no-buffer');
      // Each chunk is flushed: all of the first half comes out before the body ends.
      await until(
        () => decode(callbacks.encodedBody(), partial).length === half,
        'the flushed first half',
      );
      assert.equal(callbacks.encodeEnded, false);
      assert.equal(filter.encodeData!(BODY.subarray(half), true), 'stop-no-buffer');
      await until(() => callbacks.encodeEnded, 'end of stream');
      assert.deepEqual(decode(callbacks.encodedBody()), BODY);
      assert.equal(callbacks.injectedEncoded.filter((c) => c.endStream).length, 1);
      filter.onDestroy!();
    });
  }

  test('responses left alone, with or without Vary', () => {
    const table: Array<{
      name: string;
      request?: Record<string, string>;
      response?: Record<string, string>;
      method?: string;
      endStream?: boolean;
      config?: Partial<CompressorFilterModel>;
      perRoute?: CompressorPerRouteModel;
      vary: boolean;
    }> = [
      { name: 'no Accept-Encoding', request: {}, vary: true },
      {
        name: 'Accept-Encoding without gzip',
        request: { 'accept-encoding': 'deflate' },
        vary: true,
      },
      { name: 'gzip;q=0', request: { 'accept-encoding': 'gzip;q=0, *' }, vary: true },
      { name: 'HEAD', method: 'HEAD', vary: true },
      { name: 'no body', endStream: true, vary: true },
      {
        name: 'already encoded',
        response: { ...TEXT_RESPONSE, 'content-encoding': 'br' },
        vary: false,
      },
      {
        name: 'no-transform',
        response: { ...TEXT_RESPONSE, 'cache-control': 'public, No-Transform' },
        vary: false,
      },
      {
        name: 'too small',
        response: { 'content-type': 'text/plain', 'content-length': '29' },
        vary: false,
      },
      {
        name: 'bad Content-Length',
        response: { 'content-type': 'text/plain', 'content-length': 'x' },
        vary: false,
      },
      { name: 'media type not listed', response: { 'content-type': 'image/png' }, vary: false },
      {
        name: 'custom media types',
        response: { 'content-type': 'text/plain' },
        config: { response: { ...model().response, contentTypes: ['application/json'] } },
        vary: false,
      },
      { name: 'per-route disabled', perRoute: { responseCompressionEnabled: false }, vary: false },
      {
        name: 'filter disabled',
        config: { response: { ...model().response, enabled: false } },
        vary: false,
      },
      {
        name: 'ETag with disable_on_etag_header',
        response: { ...TEXT_RESPONSE, etag: 'W/"1"' },
        config: { response: { ...model().response, disableOnEtagHeader: true } },
        vary: false,
      },
    ];
    for (const c of table) {
      const { callbacks, filter } = stream(model(c.config), c.perRoute);
      const { responseMap, status } = exchange(
        filter,
        c.request ?? { 'accept-encoding': 'gzip' },
        c.response ?? TEXT_RESPONSE,
        { method: c.method, endStream: c.endStream },
      );
      assert.equal(status, 'continue', c.name);
      assert.notEqual(responseMap.get('content-encoding'), 'gzip', c.name);
      assert.equal(responseMap.get('vary') === 'Accept-Encoding', c.vary, `${c.name}: vary`);
      assert.equal(filter.encodeData!(Buffer.from('x'), true), 'continue', c.name);
      assert.equal(callbacks.injectedEncoded.length, 0, c.name);
    }
  });

  test('a per-route override enables compression the filter has off', () => {
    const off = model({ response: { ...model().response, enabled: false } });
    const { responseMap } = exchange(
      stream(off, { responseCompressionEnabled: true }).filter,
      { 'accept-encoding': 'gzip' },
      TEXT_RESPONSE,
    );
    assert.equal(responseMap.get('content-encoding'), 'gzip');
  });

  test('ETags: a strong one is removed, a weak one kept; Vary is appended to', () => {
    const strong = exchange(
      stream(model()).filter,
      { 'accept-encoding': 'gzip' },
      {
        ...TEXT_RESPONSE,
        etag: '"abc"',
        vary: 'Origin',
      },
    ).responseMap;
    assert.equal(strong.get('etag'), undefined);
    assert.equal(strong.get('vary'), 'Origin, Accept-Encoding');
    const weak = exchange(
      stream(model()).filter,
      { 'accept-encoding': 'gzip' },
      {
        ...TEXT_RESPONSE,
        etag: 'W/"abc"',
        vary: 'accept-encoding',
      },
    ).responseMap;
    assert.equal(weak.get('etag'), 'W/"abc"');
    assert.equal(weak.get('vary'), 'accept-encoding');
  });

  test('remove_accept_encoding_header: the upstream does not see it, the choice still uses it', () => {
    const config = model({ response: { ...model().response, removeAcceptEncodingHeader: true } });
    const { requestMap, responseMap } = exchange(
      stream(config).filter,
      { 'accept-encoding': 'gzip' },
      TEXT_RESPONSE,
    );
    assert.equal(requestMap.get('accept-encoding'), undefined);
    assert.equal(responseMap.get('content-encoding'), 'gzip');
    const kept = exchange(
      stream(config, { removeAcceptEncodingHeader: false }).filter,
      { 'accept-encoding': 'gzip' },
      TEXT_RESPONSE,
    );
    assert.equal(kept.requestMap.get('accept-encoding'), 'gzip');
  });

  test('two compressors in one chain: one decision, only the chosen one compresses', () => {
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const gzip = new CompressorFilter(model(), CONTEXT).create(callbacks);
    const br = new CompressorFilter(model({ library: BROTLI }), CONTEXT).create(callbacks);
    const request = requestHeaders('GET', '/', { 'accept-encoding': 'gzip;q=0.5, br' });
    gzip.decodeHeaders(request, true);
    br.decodeHeaders(request, true);
    // Encode filters run in reverse: br first.
    const response = responseHeaders(200, TEXT_RESPONSE);
    br.encodeHeaders(response, false);
    gzip.encodeHeaders(response, false);
    assert.equal(response.get('content-encoding'), 'br');
  });

  test('trailers wait for the compressed body, then continue', async () => {
    const { callbacks, filter } = stream(model());
    exchange(filter, { 'accept-encoding': 'gzip' }, TEXT_RESPONSE);
    filter.encodeData!(BODY, false);
    assert.equal(filter.encodeTrailers!(responseHeaders(200)), 'stop');
    await until(() => callbacks.continueEncodingCalls === 1, 'trailers released');
    assert.equal(callbacks.encodeEnded, false);
    assert.deepEqual(zlib.gunzipSync(callbacks.encodedBody()), BODY);
  });

  test('zlib falling behind pauses upstream reading until it drains', async () => {
    const { callbacks, filter } = stream(model());
    exchange(filter, { 'accept-encoding': 'gzip' }, { 'content-type': 'text/plain' });
    const incompressible = randomBytes(256 * 1024);
    filter.encodeData!(incompressible, true);
    assert.deepEqual(callbacks.encoderWatermarkCalls, ['above']);
    await until(() => callbacks.encodeEnded, 'end of stream');
    assert.deepEqual(callbacks.encoderWatermarkCalls, ['above', 'below']);
    assert.deepEqual(zlib.gunzipSync(callbacks.encodedBody()), incompressible);
  });

  test('onDestroy stops a pipe mid-body; nothing is injected afterwards', async () => {
    const { callbacks, filter } = stream(model());
    exchange(filter, { 'accept-encoding': 'gzip' }, TEXT_RESPONSE);
    filter.encodeData!(BODY, false);
    filter.onDestroy!();
    const injected = callbacks.injectedEncoded.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(callbacks.injectedEncoded.length, injected);
  });
});

describe('compressor filter: requests', () => {
  const withRequest = model({ request: { enabled: true, minContentLength: 30, contentTypes: [] } });

  test('request_direction_config compresses request bodies', async () => {
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const filter = new CompressorFilter(withRequest, CONTEXT).create(callbacks);
    const headers = requestHeaders('POST', '/', {
      'content-type': 'application/json',
      'content-length': String(BODY.length),
    });
    assert.equal(filter.decodeHeaders(headers, false), 'continue');
    assert.equal(headers.get('content-encoding'), 'gzip');
    assert.equal(headers.get('content-length'), undefined);
    assert.equal(filter.decodeData(BODY, true), 'stop-no-buffer');
    await until(() => callbacks.decodeEnded, 'request end');
    assert.deepEqual(zlib.gunzipSync(callbacks.decodedBody()), BODY);
  });

  test('requests are not compressed without the config, when encoded, small or of other types', () => {
    const cases: Array<[CompressorFilterModel, Record<string, string>]> = [
      [model(), { 'content-type': 'text/plain' }],
      [withRequest, { 'content-type': 'text/plain', 'content-encoding': 'br' }],
      [withRequest, { 'content-type': 'text/plain', 'content-length': '10' }],
      [withRequest, { 'content-type': 'image/png' }],
    ];
    for (const [config, headers] of cases) {
      const filter = new CompressorFilter(config, CONTEXT).create(
        new FakeFilterCallbacks({ route: {} }),
      );
      const map = requestHeaders('POST', '/', headers);
      filter.decodeHeaders(map, false);
      assert.notEqual(map.get('content-encoding'), 'gzip', JSON.stringify(headers));
      assert.equal(filter.decodeData(Buffer.from('x'), true), 'continue');
    }
  });
});
