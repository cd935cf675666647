/**
 * SecretWatcher on a real directory: a named file replaced reloads; a watched directory reloads
 * on a Kubernetes-style symlink swap; a missing directory is reported, not thrown.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '@ferry/shared';
import { SecretWatcher } from './secret-watcher.js';
import { until } from '../test-support/until.js';

const logger = createLogger('test', 'silent');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-secret-watch-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('a filename watch reloads when its file is replaced', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'files-'));
  fs.writeFileSync(path.join(dir, 'tls.crt'), 'v1');
  let changes = 0;
  const watcher = new SecretWatcher(() => (changes += 1), logger, 10);
  try {
    watcher.update([{ directory: dir, names: ['tls.crt'] }]);
    fs.writeFileSync(path.join(dir, 'tls.crt.tmp'), 'v2');
    fs.renameSync(path.join(dir, 'tls.crt.tmp'), path.join(dir, 'tls.crt'));
    await until(() => changes >= 1, 'the reload after tls.crt was replaced');
  } finally {
    watcher.close();
  }
});

test('a watched directory reloads on a symlink swap; close() stops watching', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'volume-'));
  fs.mkdirSync(path.join(dir, '..v1'));
  fs.symlinkSync('..v1', path.join(dir, '..data'));
  let changes = 0;
  const watcher = new SecretWatcher(() => (changes += 1), logger, 10);
  watcher.update([{ directory: dir }]);
  assert.deepEqual(watcher.directories, [dir]);
  fs.mkdirSync(path.join(dir, '..v2'));
  fs.symlinkSync('..v2', path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  await until(() => changes >= 1, 'the reload after the swap');
  watcher.update([]);
  assert.deepEqual(watcher.directories, []);
  watcher.close();
});

test('a directory that does not exist is reported, not thrown', () => {
  const watcher = new SecretWatcher(() => undefined, logger, 10);
  watcher.update([{ directory: path.join(root, 'missing') }]);
  assert.deepEqual(watcher.directories, []);
  watcher.close();
});
