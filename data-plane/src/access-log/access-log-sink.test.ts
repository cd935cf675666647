import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { createLogger } from '@ferry/shared';
import { stdoutSink } from './access-log-sink.js';

const logger = createLogger('test', 'silent');

describe('stdout sink', () => {
  test('lines go out in one batch; close writes what is pending and leaves the stream open', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const sink = stdoutSink(logger, out);
    sink.write('a\n');
    sink.write('b\n');
    sink.reopen(); // nothing to reopen: lines stay pending, in order
    sink.write('c\n');
    await sink.close();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(chunks, ['a\nb\nc\n']);
    assert.equal(out.writableEnded, false, 'stdout is not ended');
    sink.write('late\n');
    assert.equal(sink.dropped, 1, 'lines after close are dropped and counted');
  });

  test('after a stream error later lines are dropped and counted', async () => {
    const broken = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('EPIPE'));
      },
    });
    const sink = stdoutSink(logger, broken);
    sink.write(`${'x'.repeat(64 * 1024)}\n`); // a full batch: written at once, and fails
    await new Promise((r) => setImmediate(r));
    sink.write('b\n');
    sink.write('c\n');
    assert.equal(sink.dropped, 2);
    await sink.close();
  });
});
