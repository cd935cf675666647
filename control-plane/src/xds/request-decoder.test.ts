import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serviceDefinition, type DiscoveryRequest } from '@ferry/proto/grpc';
import { discoveryRequestDeserializer } from './request-decoder.js';

const ADS = serviceDefinition(
  'envoy.service.discovery.v3.AggregatedDiscoveryService',
).StreamAggregatedResources!;
const generated = (bytes: Buffer): unknown => ADS.requestDeserialize(bytes);
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

/** Counts the messages that reach the generated decoder. */
function counting(): { decode: (bytes: Buffer) => unknown; fallbacks: () => number } {
  let fallbacks = 0;
  const decode = discoveryRequestDeserializer((bytes) => {
    fallbacks++;
    return generated(bytes);
  });
  return { decode, fallbacks: () => fallbacks };
}

function encode(request: DiscoveryRequest): Buffer {
  return ADS.requestSerialize(request);
}

describe('DiscoveryRequest reader', () => {
  test('ACKs and subscription changes decode as the generated decoder decodes them, without it', () => {
    const { decode, fallbacks } = counting();
    const cases: DiscoveryRequest[] = [
      {},
      { version_info: 'v1', type_url: EDS, response_nonce: '42' },
      { version_info: 'v1', resource_names: ['a', 'b', 'a'], type_url: EDS, response_nonce: '7' },
      { resource_names: ['é', 'x'.repeat(300)], type_url: EDS }, // a two-byte length
      { type_url: EDS, response_nonce: '' },
    ];
    for (const request of cases) {
      const bytes = encode(request);
      assert.deepEqual(decode(bytes), generated(bytes), JSON.stringify(request));
    }
    assert.equal(fallbacks(), 0);
  });

  test('an explicitly empty string on the wire is present, as with the generated decoder', () => {
    const { decode } = counting();
    const bytes = Buffer.from([0x0a, 0x00, 0x22, 0x01, 0x74]); // version_info = '', type_url = 't'
    assert.deepEqual(decode(bytes), { version_info: '', type_url: 't' });
    assert.deepEqual(decode(bytes), generated(bytes));
  });

  test('a repeated singular field keeps its last value; malformed UTF-8 reads as the generated decoder reads it', () => {
    const { decode, fallbacks } = counting();
    const bytes = Buffer.from([0x2a, 0x01, 0x31, 0x2a, 0x02, 0xc3, 0x28, 0x22, 0x01, 0x74]);
    assert.deepEqual(decode(bytes), generated(bytes));
    assert.equal((decode(bytes) as DiscoveryRequest).response_nonce, '\ufffd(');
    assert.equal(fallbacks(), 0);
  });

  test('a node, a NACK, locators and unknown fields go to the generated decoder', () => {
    const { decode, fallbacks } = counting();
    const cases: Array<DiscoveryRequest | Buffer> = [
      { node: { id: 'n', cluster: 'c' }, type_url: EDS },
      { version_info: 'v1', response_nonce: '3', error_detail: { code: 3, message: 'bad' } },
      // resource_locators { name: 'x' }
      Buffer.from([0x3a, 0x03, 0x0a, 0x01, 0x78]),
      // type_url then an unknown field 9 (varint): kept by neither, but not read here.
      Buffer.from([0x22, 0x01, 0x74, 0x48, 0x01]),
      // version_info as a varint: the wrong wire type.
      Buffer.from([0x08, 0x01]),
    ];
    for (const c of cases) {
      const bytes = Buffer.isBuffer(c) ? c : encode(c);
      assert.deepEqual(decode(bytes), generated(bytes));
    }
    assert.equal(fallbacks(), cases.length);
  });

  test('a truncated message is left to the generated decoder: the same result, or the same failure', () => {
    const { decode, fallbacks } = counting();
    const cases = [
      Buffer.from([0x22, 0x05, 0x74]), // a length past the end (the generated decoder clamps it)
      Buffer.from([0x22]), // a tag without a length
      Buffer.from([0x22, 0x80]), // an unfinished length
    ];
    for (const bytes of cases) {
      let expected: unknown;
      try {
        expected = { value: generated(bytes) };
      } catch (error) {
        expected = { error: (error as Error).message };
      }
      let actual: unknown;
      try {
        actual = { value: decode(bytes) };
      } catch (error) {
        actual = { error: (error as Error).message };
      }
      assert.deepEqual(actual, expected);
    }
    assert.equal(fallbacks(), cases.length);
  });
});
