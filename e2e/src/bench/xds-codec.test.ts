/**
 * The bench clients' hand-written envelopes against protobuf-es: requests they frame decode to
 * the fields given, and responses protobuf-es encodes read back to their fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBinary, decodeJsonWith, encodeBinary, requireMessageSchema } from '@ferry/proto';
import { TYPE_URL, XdsCodec } from './xds-codec.js';

const requestSchema = requireMessageSchema('envoy.service.discovery.v3.DiscoveryRequest');
const responseSchema = requireMessageSchema('envoy.service.discovery.v3.DiscoveryResponse');

interface RequestView {
  versionInfo: string;
  typeUrl: string;
  responseNonce: string;
  resourceNames: string[];
  node?: { id: string; cluster: string; userAgentName: string };
}

function unframe(frame: Buffer): Buffer {
  assert.equal(frame[0], 0);
  assert.equal(frame.readUInt32BE(1), frame.length - 5);
  return frame.subarray(5);
}

test('a framed request decodes with protobuf-es to the fields given', () => {
  const codec = new XdsCodec('bench-é');
  const names = ['a', '', 'ü'.repeat(100)]; // an empty entry; a name needing a 2-byte length
  const first = decodeBinary(
    requestSchema,
    unframe(
      codec.frameRequest({
        typeUrl: TYPE_URL.endpoint,
        versionInfo: 'v1',
        responseNonce: '17',
        resourceNames: names,
        node: { id: 'node-ü', cluster: 'default' },
      }),
    ),
  ) as unknown as RequestView;
  assert.equal(first.typeUrl, TYPE_URL.endpoint);
  assert.equal(first.versionInfo, 'v1');
  assert.equal(first.responseNonce, '17');
  assert.deepEqual(first.resourceNames, names);
  assert.equal(first.node?.id, 'node-ü');
  assert.equal(first.node?.cluster, 'default');
  assert.equal(first.node?.userAgentName, 'bench-é');

  const ack = decodeBinary(
    requestSchema,
    unframe(
      codec.frameRequest({
        typeUrl: TYPE_URL.cluster,
        versionInfo: '',
        responseNonce: '',
        resourceNames: [],
      }),
    ),
  ) as unknown as RequestView;
  assert.equal(ack.typeUrl, TYPE_URL.cluster);
  assert.equal(ack.versionInfo, '');
  assert.deepEqual(ack.resourceNames, []);
  assert.equal(ack.node, undefined);
});

test('a response encoded by protobuf-es reads back to its version, type, nonce and resources', () => {
  const decoded = decodeJsonWith(responseSchema, {
    version_info: 'v9',
    type_url: TYPE_URL.endpoint,
    nonce: '123',
    canary: true,
    control_plane: { identifier: 'cp' },
    resources: [
      { '@type': TYPE_URL.endpoint, cluster_name: 'c0' },
      { '@type': TYPE_URL.endpoint, cluster_name: 'c'.repeat(300) },
    ],
  });
  if (!decoded.ok) throw new Error(decoded.errors.join('; '));
  const bytes = Buffer.from(encodeBinary(responseSchema, decoded.value));
  const codec = new XdsCodec();
  const response = codec.decodeResponse(bytes);
  assert.equal(response.versionInfo, 'v9');
  assert.equal(response.typeUrl, TYPE_URL.endpoint);
  assert.equal(response.nonce, '123');
  assert.equal(response.resources.length, 2);
  for (const r of response.resources) assert.equal(r.typeUrl, TYPE_URL.endpoint);
  assert.deepEqual(codec.resourceNames(response), ['c0', 'c'.repeat(300)]);
});

test('a truncated response is an error, not a partial read', () => {
  const codec = new XdsCodec();
  assert.throws(() => codec.decodeResponse(Buffer.from([0x0a, 0x05, 0x76])), /truncated/);
  assert.throws(() => codec.decodeResponse(Buffer.from([0x0a, 0x80])), /truncated/);
});
