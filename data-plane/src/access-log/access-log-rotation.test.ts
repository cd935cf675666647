import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '@ferry/shared';
import { AccessLogRotator } from './access-log-rotation.js';
import { openFileSink } from './access-log-sink.js';

const logger = createLogger('test', 'silent');

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-rot-'));
    try {
      await fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe('file sink reopen', () => {
  test(
    'lines before reopen stay in the renamed file, lines after go to the new one',
    withDir(async (dir) => {
      const file = path.join(dir, 'a.log');
      const sink = openFileSink(file, logger);
      for (let i = 0; i < 100; i++) sink.write(`old-${i}\n`);
      // The stream opens the file on the threadpool: rename it only once it exists, as
      // logrotate renames an open log.
      for (let spins = 0; !fs.existsSync(file); spins++) {
        assert.ok(spins < 1000, 'the sink never created its file');
        await new Promise((r) => setTimeout(r, 5));
      }
      fs.renameSync(file, `${file}.1`);
      for (let i = 100; i < 200; i++) sink.write(`old-${i}\n`); // before the reopen: old file
      sink.reopen();
      for (let i = 0; i < 100; i++) sink.write(`new-${i}\n`);
      await sink.close();
      const old = fs.readFileSync(`${file}.1`, 'utf8').trimEnd().split('\n');
      const fresh = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.deepEqual(
        old,
        Array.from({ length: 200 }, (_, i) => `old-${i}`),
      );
      assert.deepEqual(
        fresh,
        Array.from({ length: 100 }, (_, i) => `new-${i}`),
      );
      assert.equal(sink.dropped, 0);
    }),
  );
});

describe('AccessLogRotator', () => {
  test(
    'rotates by size: PATH → PATH.1 → PATH.2, keeps max_files, then asks for a reopen',
    withDir(async (dir) => {
      const file = path.join(dir, 'a.log');
      let reopens = 0;
      const rotator = new AccessLogRotator({
        policy: { maxBytes: 10, intervalMs: 0, maxFiles: 2 },
        paths: () => [file, file],
        reopen: () => reopens++,
        logger,
      });
      fs.writeFileSync(file, 'short\n');
      await rotator.check();
      assert.equal(reopens, 0, 'under the size limit');
      for (const generation of ['first', 'second', 'third']) {
        fs.writeFileSync(file, `${generation} generation\n`);
        await rotator.check();
      }
      assert.equal(reopens, 3, 'one reopen per check that rotated');
      assert.equal(fs.existsSync(file), false, 'PATH is recreated by the reopening writers');
      assert.equal(fs.readFileSync(`${file}.1`, 'utf8'), 'third generation\n');
      assert.equal(fs.readFileSync(`${file}.2`, 'utf8'), 'second generation\n');
      assert.equal(fs.existsSync(`${file}.3`), false, 'only max_files are kept');
      await rotator.check();
      assert.equal(reopens, 3, 'a missing file is not rotated');
      rotator.close();
      rotator.close();
    }),
  );

  test(
    'rotates by time only non-empty files whose interval has passed',
    withDir(async (dir) => {
      const file = path.join(dir, 'a.log');
      let now = 1_000_000;
      let reopens = 0;
      const rotator = new AccessLogRotator({
        policy: { maxBytes: 0, intervalMs: 60_000, maxFiles: 3 },
        paths: () => [file],
        reopen: () => reopens++,
        logger,
        now: () => now,
      });
      fs.writeFileSync(file, '');
      now += 60_000;
      await rotator.check();
      assert.equal(reopens, 0, 'empty files are not rotated');
      fs.writeFileSync(file, 'x\n');
      now += 59_999;
      await rotator.check();
      assert.equal(reopens, 1, 'the interval counts from the start');
      fs.writeFileSync(file, 'y\n');
      now += 59_999;
      await rotator.check();
      assert.equal(reopens, 1, 'not yet: the interval restarts at each rotation');
      now += 1;
      await rotator.check();
      assert.equal(reopens, 2);
      assert.equal(fs.readFileSync(`${file}.1`, 'utf8'), 'y\n');
      assert.equal(fs.readFileSync(`${file}.2`, 'utf8'), 'x\n');
      assert.equal(AccessLogRotator.enabled({ maxBytes: 0, intervalMs: 0, maxFiles: 5 }), false);
    }),
  );
});
