import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, FerryError, type ErrorCode } from './errors.js';

/** shared/dist/errors.test.js → docs/errors.md at the repository root. */
const DOC = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'docs',
  'errors.md',
);

/** The table rows of docs/errors.md: code → its cells (backticks removed). */
function documentedRows(): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of fs.readFileSync(DOC, 'utf8').split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim().replace(/`/g, ''));
    const code = cells[0] ?? '';
    if (code.startsWith('FERRY_')) rows.set(code, cells);
  }
  return rows;
}

void describe('error codes', () => {
  void test('every code is documented in docs/errors.md with its HTTP and gRPC status, meaning and remedy', () => {
    const rows = documentedRows();
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const cells = rows.get(code);
      assert.ok(cells, `${code} is missing from docs/errors.md`);
      assert.equal(cells.length, 5, `${code}: expected 5 columns in docs/errors.md`);
      assert.equal(cells[1], String(info.status), `${code}: HTTP status in docs/errors.md`);
      assert.equal(cells[2], info.grpcStatus, `${code}: gRPC status in docs/errors.md`);
      assert.ok((cells[3] ?? '').length > 0, `${code}: meaning missing in docs/errors.md`);
      assert.ok((cells[4] ?? '').length > 0, `${code}: what to do missing in docs/errors.md`);
    }
  });

  void test('docs/errors.md lists no code that does not exist', () => {
    for (const code of documentedRows().keys()) {
      assert.ok(code in ERROR_CODES, `docs/errors.md lists unknown code ${code}`);
    }
  });

  void test('FerryError takes its status from the code', () => {
    const err = new FerryError('FERRY_REFERENCED' satisfies ErrorCode, 'still used', ['a: b']);
    assert.equal(err.status, 409);
    assert.deepEqual(err.toJSON(), {
      code: 'FERRY_REFERENCED',
      message: 'still used',
      details: ['a: b'],
    });
  });
});
