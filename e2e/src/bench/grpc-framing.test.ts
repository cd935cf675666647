import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { frameMessage, MessageDeframer } from './grpc-framing.js';

describe('grpc framing', () => {
  const a = Buffer.from('first message');
  const b = Buffer.alloc(0);
  const c = Buffer.from('x'.repeat(300));
  const stream = Buffer.concat([frameMessage(a), frameMessage(b), frameMessage(c)]);

  test('frames with a zero flag and a big-endian length', () => {
    const framed = frameMessage(c);
    assert.equal(framed[0], 0);
    assert.equal(framed.readUInt32BE(1), 300);
    assert.deepEqual(framed.subarray(5), c);
  });

  test('reassembles messages from chunks split at every offset', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const deframer = new MessageDeframer();
      const out = [
        ...deframer.push(stream.subarray(0, cut)),
        ...deframer.push(stream.subarray(cut)),
      ];
      assert.deepEqual(
        out.map((m) => m.toString()),
        [a, b, c].map((m) => m.toString()),
        `cut at ${cut}`,
      );
      assert.equal(deframer.pendingBytes, 0);
    }
  });

  test('reassembles byte by byte', () => {
    const deframer = new MessageDeframer();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...deframer.push(stream.subarray(i, i + 1)));
    assert.equal(out.length, 3);
    assert.deepEqual(out[2], c);
  });

  test('rejects compressed messages', () => {
    const framed = frameMessage(a);
    framed[0] = 1;
    assert.throws(() => new MessageDeframer().push(framed), /compressed flag 1/);
  });
});
