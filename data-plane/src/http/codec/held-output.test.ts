/**
 * held-output.ts: a response head held for its body is written when the input that produced it
 * has been processed, or at the end of the tick when no input is being processed; never later.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beginInput, endInput, holdOutput, type HeldOutput } from './held-output.js';

/** A writer holding one head, recording when it is flushed. */
class Writer implements HeldOutput {
  head: string | null = null;
  readonly written: string[] = [];
  hold(head: string): void {
    this.head = head;
    holdOutput(this);
  }
  /** The body joins the held head (one write). */
  writeBody(body: string): void {
    this.written.push(`${this.head ?? ''}${body}`);
    this.head = null;
  }
  flushHead(): void {
    if (this.head === null) return;
    this.written.push(this.head);
    this.head = null;
  }
}

test('a head held while input is processed leaves with the body of the same input', () => {
  const writer = new Writer();
  beginInput();
  writer.hold('HEAD|');
  writer.writeBody('body');
  endInput();
  assert.deepEqual(writer.written, ['HEAD|body']);
});

test('a head whose body is not in the input leaves when the input has been processed', () => {
  const writer = new Writer();
  beginInput();
  writer.hold('HEAD|');
  assert.deepEqual(writer.written, []);
  endInput();
  assert.deepEqual(writer.written, ['HEAD|'], 'written at endInput, not a tick later');
});

test('nested input: heads wait for the outermost input to end', () => {
  const writer = new Writer();
  beginInput();
  beginInput();
  writer.hold('HEAD|');
  endInput();
  assert.deepEqual(writer.written, []);
  endInput();
  assert.deepEqual(writer.written, ['HEAD|']);
});

test('a head held outside input processing leaves at the end of the tick', async () => {
  const writer = new Writer();
  writer.hold('HEAD|');
  assert.deepEqual(writer.written, []);
  await new Promise<void>((resolve) => process.nextTick(resolve));
  assert.deepEqual(writer.written, ['HEAD|']);
});

test('the end-of-tick flush leaves a head held by input still being processed to that input', async () => {
  const outside = new Writer();
  outside.hold('A|');
  beginInput();
  const inside = new Writer();
  inside.hold('B|');
  await new Promise<void>((resolve) => process.nextTick(resolve));
  assert.deepEqual(outside.written, [], 'input is still being processed');
  endInput();
  assert.deepEqual(outside.written, ['A|']);
  assert.deepEqual(inside.written, ['B|']);
});
