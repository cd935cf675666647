import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { FakeFilterCallbacks, requestHeaders } from '../filter-test-fixtures.js';
import { httpFilterByPerRouteTypeUrl, httpFilterByTypeUrl } from '../registry.js';
import { BufferStreamFilter } from './buffer-filter.js';
import { BUFFER_FILTER_TYPE_URL, BUFFER_PER_ROUTE_TYPE_URL, bufferFilter } from './config.js';

function validate(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  return { value: bufferFilter.validate(config, 'typed_config', issues), errors: issues.errors };
}

function validatePerRoute(config: JsonObject): { value: unknown; errors: string[] } {
  const issues = new Issues('');
  const value = bufferFilter.validatePerRoute!(BUFFER_PER_ROUTE_TYPE_URL, config, 'p', issues);
  return { value, errors: issues.errors };
}

describe('buffer config', () => {
  test('registered by type URL, per-route type URL and name', () => {
    assert.equal(httpFilterByTypeUrl(BUFFER_FILTER_TYPE_URL), bufferFilter);
    assert.equal(httpFilterByPerRouteTypeUrl(BUFFER_PER_ROUTE_TYPE_URL), bufferFilter);
  });

  test('valid configs', () => {
    assert.deepEqual(validate({ max_request_bytes: 1024 }), {
      value: { maxRequestBytes: 1024 },
      errors: [],
    });
    assert.deepEqual(validatePerRoute({ disabled: true }), {
      value: { disabled: true },
      errors: [],
    });
    assert.deepEqual(validatePerRoute({ buffer: { max_request_bytes: 5 } }), {
      value: { disabled: false, buffer: { maxRequestBytes: 5 } },
      errors: [],
    });
  });

  test('NACKs with field paths', () => {
    assert.deepEqual(validate({}).errors, [
      'typed_config.max_request_bytes: is required and must be > 0',
    ]);
    assert.deepEqual(validate({ max_request_bytes: 1, max_request_time: '1s' }).errors, [
      'typed_config.max_request_time: not supported by ferry-proxy',
    ]);
    assert.deepEqual(validatePerRoute({ buffer: {} }).errors, [
      'p.buffer.max_request_bytes: is required and must be > 0',
    ]);
  });
});

describe('buffer filter', () => {
  const config = { maxRequestBytes: 10 };

  test('holds the request until the body is complete, then sets Content-Length', () => {
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const filter = new BufferStreamFilter(config, callbacks);
    const headers = requestHeaders('POST', '/upload');
    assert.equal(filter.decodeHeaders(headers, false), 'stop');
    assert.equal(callbacks.decoderBufferLimit, 10);
    assert.equal(filter.decodeData(Buffer.from('hello'), false), 'stop-and-buffer');
    assert.equal(headers.get('content-length'), undefined);
    assert.equal(filter.decodeData(Buffer.from('world'), true), 'continue');
    assert.equal(headers.get('content-length'), '10');
    assert.deepEqual(callbacks.localReplies, []);
  });

  test('a request over max_request_bytes gets 413 Payload Too Large', () => {
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const filter = new BufferStreamFilter(config, callbacks);
    filter.decodeHeaders(requestHeaders('POST', '/'), false);
    assert.equal(filter.decodeData(Buffer.alloc(6), false), 'stop-and-buffer');
    assert.equal(filter.decodeData(Buffer.alloc(5), false), 'stop-no-buffer');
    assert.deepEqual(callbacks.localReplies, [
      { status: 413, body: 'Payload Too Large', options: { details: 'request_payload_too_large' } },
    ]);
  });

  test('trailers release the request; an existing Content-Length is kept', () => {
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const filter = new BufferStreamFilter(config, callbacks);
    const headers = requestHeaders('POST', '/', { 'content-length': '3' });
    filter.decodeHeaders(headers, false);
    filter.decodeData(Buffer.from('abc'), false);
    assert.equal(filter.decodeTrailers(), 'continue');
    assert.equal(headers.get('content-length'), '3');
  });

  test('headers-only requests and per-route disabled pass through', () => {
    const callbacks = new FakeFilterCallbacks({ route: {} });
    assert.equal(
      new BufferStreamFilter(config, callbacks).decodeHeaders(requestHeaders('GET', '/'), true),
      'continue',
    );
    callbacks.setRoute({ perFilter: [{ config: { disabled: true }, disabled: false }] });
    const filter = new BufferStreamFilter(config, callbacks);
    assert.equal(filter.decodeHeaders(requestHeaders('POST', '/'), false), 'continue');
    assert.equal(filter.decodeData(Buffer.alloc(100), true), 'continue');
    assert.equal(callbacks.decoderBufferLimit, undefined);
  });

  test('a per-route buffer replaces the limit', () => {
    const callbacks = new FakeFilterCallbacks({
      route: {
        perFilter: [
          { config: { disabled: false, buffer: { maxRequestBytes: 3 } }, disabled: false },
        ],
      },
    });
    const filter = new BufferStreamFilter(config, callbacks);
    filter.decodeHeaders(requestHeaders('POST', '/'), false);
    assert.equal(callbacks.decoderBufferLimit, 3);
    filter.decodeData(Buffer.alloc(4), true);
    assert.equal(callbacks.localReplies[0]?.status, 413);
  });
});
