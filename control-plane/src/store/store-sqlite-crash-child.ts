/**
 * Child process of store-sqlite-crash.test.ts (not a test itself): applies crashBatch after
 * crashBatch to the store file given in argv and prints "ack <revision>" after each apply
 * resolved, until the parent SIGKILLs it. A line printed means "acknowledged to a client".
 *
 * Usage: node store-sqlite-crash-child.js FILE BATCH_SIZE
 */
import { SqliteStore } from './store-sqlite.js';
import { crashBatch } from './store-test-fixtures.js';

/** Ends the child on its own if the parent vanished without killing it. */
const MAX_BATCHES = 10_000;

const [file, sizeArg] = process.argv.slice(2);
if (file === undefined || sizeArg === undefined) {
  process.stderr.write('usage: store-sqlite-crash-child.js FILE BATCH_SIZE\n');
  process.exit(2);
}
const size = Number(sizeArg);
// The parent holds our stdin open; it closing means the parent is gone.
process.stdin.on('end', () => process.exit(3));
process.stdin.resume();

const store = SqliteStore.open(file);
let revision = await store.currentRevision();
for (let n = 0; n < MAX_BATCHES; n++) {
  const next = revision + 1;
  const result = await store.apply(crashBatch(next, size), {
    expectedRevision: revision,
    message: `batch ${next}`,
  });
  revision = result.revision;
  // Writes to a pipe are synchronous on Linux: once this returns the parent can read the line.
  process.stdout.write(`ack ${revision}\n`);
  // Let I/O (stdin end) be noticed between batches.
  await new Promise((resolve) => setImmediate(resolve));
}
await store.close();
