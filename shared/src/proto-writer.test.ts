import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lengthDelimitedSize, ProtoWriter, varintSize } from './proto-writer.js';

test('varints: sizes and bytes at the 7-bit boundaries, and above 32 bits', () => {
  for (const [value, bytes] of [
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x10]],
  ] as const) {
    assert.equal(varintSize(value), bytes.length, `size of ${value}`);
    const w = new ProtoWriter(Buffer.alloc(bytes.length));
    w.varint(value);
    assert.deepEqual([...w.done()], bytes, `bytes of ${value}`);
  }
});

test('fields: bytes, strings (empty ones omitted), headers, and an exact fill', () => {
  const size = lengthDelimitedSize(2) + lengthDelimitedSize(3) + lengthDelimitedSize(1) + 1;
  const w = new ProtoWriter(Buffer.alloc(size));
  w.bytes(1, Buffer.from([7, 8]));
  w.string(2, '', 0);
  w.string(4, 'abc', 3, 'latin1');
  w.header(5, 1);
  w.raw(Buffer.from([9]));
  w.varint(1);
  assert.deepEqual([...w.done()], [0x0a, 2, 7, 8, 0x22, 3, 0x61, 0x62, 0x63, 0x2a, 1, 9, 1]);
  assert.throws(() => new ProtoWriter(Buffer.alloc(2)).done(), /wrote 0 of 2 bytes/);
});
