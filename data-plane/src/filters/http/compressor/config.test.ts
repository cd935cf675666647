import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { httpFilterByPerRouteTypeUrl, httpFilterByTypeUrl } from '../registry.js';
import {
  COMPRESSOR_FILTER_TYPE_URL,
  COMPRESSOR_PER_ROUTE_TYPE_URL,
  compressorFilter,
  validateCompressor,
} from './config.js';

const T = 'type.googleapis.com/';
const GZIP = {
  name: 'text',
  typed_config: { '@type': `${T}envoy.extensions.compression.gzip.compressor.v3.Gzip` },
};

function validate(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  return { value: validateCompressor(config, 'typed_config', issues), errors: issues.errors };
}

function perRoute(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  const value = compressorFilter.validatePerRoute!(
    COMPRESSOR_PER_ROUTE_TYPE_URL,
    config,
    'p',
    issues,
  );
  return { value, errors: issues.errors };
}

describe('compressor config', () => {
  test('registered by type URL and per-route type URL', () => {
    assert.equal(httpFilterByTypeUrl(COMPRESSOR_FILTER_TYPE_URL), compressorFilter);
    assert.equal(httpFilterByPerRouteTypeUrl(COMPRESSOR_PER_ROUTE_TYPE_URL), compressorFilter);
  });

  test('defaults: gzip level 6 window 12, responses on, min 30, no request compression', () => {
    assert.deepEqual(validate({ compressor_library: GZIP }), {
      value: {
        libraryName: 'text',
        library: {
          kind: 'gzip',
          level: -1,
          strategy: 'DEFAULT_STRATEGY',
          memoryLevel: 5,
          windowBits: 12,
          chunkSize: 4096,
        },
        response: {
          enabled: true,
          minContentLength: 30,
          contentTypes: [],
          disableOnEtagHeader: false,
          removeAcceptEncodingHeader: false,
        },
        chooseFirst: false,
      },
      errors: [],
    });
  });

  test('directions, brotli, deprecated fields only without response_direction_config', () => {
    const { value, errors } = validate({
      compressor_library: {
        name: 'br',
        typed_config: {
          '@type': `${T}envoy.extensions.compression.brotli.compressor.v3.Brotli`,
          quality: 5,
          encoder_mode: 'TEXT',
        },
      },
      request_direction_config: {
        common_config: {
          enabled: { default_value: true, runtime_key: 'k' },
          content_type: ['Application/JSON'],
        },
      },
      response_direction_config: {
        common_config: {
          min_content_length: 0,
          enabled: { default_value: false, runtime_key: 'k' },
        },
        disable_on_etag_header: true,
      },
      content_length: 999,
      choose_first: true,
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(value, {
      libraryName: 'br',
      library: {
        kind: 'brotli',
        quality: 5,
        mode: 'TEXT',
        windowBits: 18,
        inputBlockBits: 24,
        chunkSize: 4096,
        disableLiteralContextModeling: false,
      },
      request: { enabled: true, minContentLength: 30, contentTypes: ['application/json'] },
      response: {
        enabled: false,
        minContentLength: 30,
        contentTypes: [],
        disableOnEtagHeader: true,
        removeAcceptEncodingHeader: false,
      },
      chooseFirst: true,
    });
    const legacy = validate({
      compressor_library: GZIP,
      content_length: 100,
      content_type: ['text/html'],
      remove_accept_encoding_header: true,
      runtime_enabled: { default_value: false, runtime_key: 'k' },
    }).value as { response: unknown };
    assert.deepEqual(legacy.response, {
      enabled: false,
      minContentLength: 100,
      contentTypes: ['text/html'],
      disableOnEtagHeader: false,
      removeAcceptEncodingHeader: true,
    });
  });

  test('CompressorPerRoute', () => {
    assert.deepEqual(perRoute({ disabled: true }).value, { responseCompressionEnabled: false });
    assert.deepEqual(perRoute({ overrides: {} }).value, {});
    assert.deepEqual(perRoute({ overrides: { response_direction_config: {} } }).value, {
      responseCompressionEnabled: true,
    });
    assert.deepEqual(
      perRoute({
        overrides: { response_direction_config: { remove_accept_encoding_header: false } },
      }).value,
      { responseCompressionEnabled: true, removeAcceptEncodingHeader: false },
    );
  });

  test('NACKs with field paths', () => {
    const table: Array<[string, JsonObject, string[]]> = [
      [
        'zstd library',
        {
          compressor_library: {
            name: 'z',
            typed_config: { '@type': `${T}envoy.extensions.compression.zstd.compressor.v3.Zstd` },
          },
        },
        [
          'typed_config.compressor_library.typed_config: envoy.extensions.compression.zstd.compressor.v3.Zstd is not supported by ferry-proxy (supported: envoy.compression.gzip.compressor, envoy.compression.brotli.compressor)',
        ],
      ],
      ['no library', {}, ['typed_config.compressor_library: is required']],
      [
        'unknown direction field',
        { compressor_library: GZIP, response_direction_config: { common_config: { nope: 1 } } },
        ['typed_config.response_direction_config.common_config.nope: not supported by ferry-proxy'],
      ],
      [
        'unknown library field',
        {
          compressor_library: {
            name: 'g',
            typed_config: {
              '@type': `${T}envoy.extensions.compression.gzip.compressor.v3.Gzip`,
              level: 1,
            },
          },
        },
        ['typed_config.compressor_library.typed_config.level: not supported by ferry-proxy'],
      ],
    ];
    for (const [name, config, errors] of table)
      assert.deepEqual(validate(config).errors, errors, name);
    assert.deepEqual(perRoute({ overrides: { response_direction_config: { x: 1 } } }).errors, [
      'p.overrides.response_direction_config.x: not supported by ferry-proxy',
    ]);
  });
});
