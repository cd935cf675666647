import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { decodeChunk, frameMessage, MessageDecoder, type FramingError } from './framing.js';
import { encodeGrpcMessage, parseTimeout } from './wire.js';

function decode(
  chunks: readonly Buffer[],
  max = 1024,
): { messages: string[]; error: FramingError | null; partial: boolean } {
  const decoder = new MessageDecoder(max);
  const messages: string[] = [];
  const sink = { onMessage: (m: Buffer): void => void messages.push(m.toString()) };
  let error: FramingError | null = null;
  for (const chunk of chunks) {
    error = decoder.push(chunk, sink);
    if (error !== null) break;
  }
  return { messages, error, partial: decoder.partial };
}

describe('grpc-lite framing', () => {
  const wire = Buffer.concat([
    frameMessage(Buffer.from('first')),
    frameMessage(Buffer.alloc(0)),
    frameMessage(Buffer.from('x'.repeat(300))),
  ]);

  test('messages in one chunk, and split at every possible byte boundary', () => {
    assert.deepEqual(decode([wire]), {
      messages: ['first', '', 'x'.repeat(300)],
      error: null,
      partial: false,
    });
    for (let cut = 1; cut < wire.length; cut++) {
      const result = decode([wire.subarray(0, cut), wire.subarray(cut)]);
      assert.deepEqual(result.messages, ['first', '', 'x'.repeat(300)], `cut at ${cut}`);
      assert.equal(result.partial, false);
    }
    // One byte at a time.
    const bytes = [...wire].map((b) => Buffer.from([b]));
    assert.deepEqual(decode(bytes).messages, ['first', '', 'x'.repeat(300)]);
  });

  test('decodeChunk: whole messages need no decoder; one is kept only while a message is split', () => {
    const messages: string[] = [];
    const sink = { onMessage: (m: Buffer): void => void messages.push(m.toString()) };
    assert.equal(decodeChunk(null, wire, sink, 1024), null);
    assert.deepEqual(messages, ['first', '', 'x'.repeat(300)]);
    for (let cut = 1; cut < wire.length; cut++) {
      messages.length = 0;
      const state = decodeChunk(null, wire.subarray(0, cut), sink, 1024);
      // Cuts at the two message boundaries (after 'first' and after the empty message) leave
      // nothing begun.
      const boundary = cut === 10 || cut === 15;
      assert.equal(state instanceof MessageDecoder, !boundary, `cut at ${cut}`);
      const end = decodeChunk(state as MessageDecoder | null, wire.subarray(cut), sink, 1024);
      assert.equal(end, null, `cut at ${cut}`);
      assert.deepEqual(messages, ['first', '', 'x'.repeat(300)], `cut at ${cut}`);
    }
    const bad = frameMessage(Buffer.from('z'));
    bad[0] = 7;
    messages.length = 0;
    const error = decodeChunk(
      null,
      Buffer.concat([frameMessage(Buffer.from('ok')), bad]),
      sink,
      1024,
    );
    assert.match((error as FramingError).details, /compressed flag 7/);
    assert.deepEqual(messages, ['ok']);
    const big = decodeChunk(null, frameMessage(Buffer.alloc(2000)).subarray(0, 5), sink, 1024);
    assert.equal((big as FramingError).code, status.RESOURCE_EXHAUSTED);
  });

  test('a chunk ending inside a prefix or a message leaves the decoder partial', () => {
    assert.equal(decode([wire.subarray(0, 3)]).partial, true);
    assert.equal(decode([wire.subarray(0, 7)]).partial, true);
    assert.equal(decode([wire.subarray(0, 10)]).partial, false);
  });

  test('a message longer than the limit is RESOURCE_EXHAUSTED, seen at its prefix', () => {
    const result = decode([frameMessage(Buffer.alloc(2000)).subarray(0, 5)], 1024);
    assert.equal(result.error?.code, status.RESOURCE_EXHAUSTED);
    assert.match(result.error?.details ?? '', /larger than max \(2000 vs\. 1024\)/);
    assert.equal(decode([frameMessage(Buffer.alloc(1024))], 1024).error, null);
  });

  test('a compressed flag or an invalid flag byte is INTERNAL', () => {
    const compressed = frameMessage(Buffer.from('z'));
    compressed[0] = 1;
    assert.equal(decode([compressed]).error?.code, status.INTERNAL);
    assert.match(decode([compressed]).error?.details ?? '', /compressed/);
    const bad = frameMessage(Buffer.from('z'));
    bad[0] = 7;
    assert.match(decode([bad]).error?.details ?? '', /compressed flag 7/);
    assert.deepEqual(decode([frameMessage(Buffer.from('ok')), bad]).messages, ['ok']);
  });

  test('grpc-timeout values and their units; malformed ones are NaN', () => {
    assert.equal(parseTimeout('2S'), 2000);
    assert.equal(parseTimeout('100m'), 100);
    assert.equal(parseTimeout('1H'), 3_600_000);
    assert.equal(parseTimeout('3M'), 180_000);
    assert.equal(parseTimeout('5000u'), 5);
    assert.equal(parseTimeout('1000000n'), 1);
    for (const bad of ['', '1', 'S', '123456789S', '1s', '-1S', '1.5S']) {
      assert.ok(Number.isNaN(parseTimeout(bad)), bad);
    }
  });

  test('grpc-message percent-encodes non-printable bytes, non-ASCII and %', () => {
    assert.equal(encodeGrpcMessage('plain text: ok'), 'plain text: ok');
    assert.equal(encodeGrpcMessage('100% done'), '100%25 done');
    assert.equal(encodeGrpcMessage('é\n'), '%C3%A9%0A');
  });
});
