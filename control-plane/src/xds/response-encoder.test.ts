import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serviceDefinition,
  type DeltaDiscoveryResponse,
  type DiscoveryResponse,
} from '@ferry/proto/grpc';
import {
  encodeControlPlane,
  encodeDeltaEntry,
  encodeSotwBody,
  frameDeltaResponse,
  frameSotwResponse,
} from './response-encoder.js';

const ADS = serviceDefinition('envoy.service.discovery.v3.AggregatedDiscoveryService');
const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

/** The message inside a gRPC frame, after checking its prefix (uncompressed, exact length). */
function unframe(frame: Buffer): Buffer {
  assert.equal(frame[0], 0);
  assert.equal(frame.readUInt32BE(1), frame.length - 5);
  return frame.subarray(5);
}

// The hand-written bytes must decode, with the generated deserializer, to the intended message.
describe('response encoder', () => {
  test('a SotW DiscoveryResponse decodes to every field', () => {
    const big = Buffer.alloc(300, 7); // a length that needs a two-byte varint
    const body = encodeSotwBody(
      'v1',
      [
        { type_url: CLUSTER, value: Buffer.from([1, 2, 3]) },
        { type_url: CLUSTER, value: big },
      ],
      CLUSTER,
    );
    const bytes = unframe(frameSotwResponse(body, 'n7', encodeControlPlane(6, 'ferry/é')));
    const decoded = ADS.StreamAggregatedResources!.responseDeserialize(bytes) as DiscoveryResponse;
    assert.equal(decoded.version_info, 'v1');
    assert.equal(decoded.type_url, CLUSTER);
    assert.equal(decoded.nonce, 'n7');
    assert.equal(decoded.control_plane?.identifier, 'ferry/é');
    assert.equal(decoded.resources?.length, 2);
    assert.equal(decoded.resources?.[0]?.type_url, CLUSTER);
    assert.deepEqual([...(decoded.resources?.[0]?.value ?? [])], [1, 2, 3]);
    assert.ok(Buffer.from(decoded.resources?.[1]?.value ?? []).equals(big));
  });

  test('an empty SotW response (no resources, empty version) decodes', () => {
    const bytes = unframe(
      frameSotwResponse(encodeSotwBody('', [], CLUSTER), '1', encodeControlPlane(6, 'x')),
    );
    const decoded = ADS.StreamAggregatedResources!.responseDeserialize(bytes) as DiscoveryResponse;
    assert.equal((decoded.resources ?? []).length, 0); // proto-loader: defaults off
    assert.equal(decoded.type_url, CLUSTER);
    assert.equal(decoded.nonce, '1');
  });

  test('a DeltaDiscoveryResponse decodes to every field', () => {
    const entry = encodeDeltaEntry({
      name: 'web',
      version: 'abc',
      resource: { type_url: CLUSTER, value: Buffer.from([9, 9]) },
    });
    const bytes = unframe(
      frameDeltaResponse(
        'sys',
        [entry],
        CLUSTER,
        ['gone', 'also-gone'],
        'n1',
        encodeControlPlane(7, 'cp'),
      ),
    );
    const decoded = ADS.DeltaAggregatedResources!.responseDeserialize(
      bytes,
    ) as DeltaDiscoveryResponse;
    assert.equal(decoded.system_version_info, 'sys');
    assert.equal(decoded.type_url, CLUSTER);
    assert.equal(decoded.nonce, 'n1');
    assert.deepEqual(decoded.removed_resources, ['gone', 'also-gone']);
    assert.equal(decoded.control_plane?.identifier, 'cp');
    assert.equal(decoded.resources?.length, 1);
    assert.equal(decoded.resources?.[0]?.name, 'web');
    assert.equal(decoded.resources?.[0]?.version, 'abc');
    assert.equal(decoded.resources?.[0]?.resource?.type_url, CLUSTER);
    assert.deepEqual([...(decoded.resources?.[0]?.resource?.value ?? [])], [9, 9]);
  });
});
