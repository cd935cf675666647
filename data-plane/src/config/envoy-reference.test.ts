import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { messageSchema } from '@ferry/proto';
import { envoyReference, renderEnvoyReference } from './envoy-reference.js';

// Compiled to data-plane/dist/config/, so the repository root is three levels up.
const DOC = new URL('../../../docs/envoy-reference.md', import.meta.url);

describe('docs/envoy-reference.md', () => {
  test('matches the translation allow-lists', () => {
    const doc = fs.readFileSync(DOC, 'utf8');
    assert.equal(
      doc,
      renderEnvoyReference(),
      'docs/envoy-reference.md is stale: run `node data-plane/dist/config/print-reference.js > docs/envoy-reference.md`',
    );
  });

  test('every allow-listed field exists in Envoy’s protos (no typos that would reject real fields)', () => {
    const problems: string[] = [];
    for (const section of envoyReference().sections) {
      for (const spec of section.messages) {
        const desc = messageSchema(spec.message);
        if (!desc) {
          problems.push(`${spec.message}: no such message`);
          continue;
        }
        const names = new Set(desc.fields.map((f) => f.name));
        for (const field of Object.keys(spec.fields))
          if (!names.has(field)) problems.push(`${spec.message}.${field}: no such field`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every extension type is a known message', () => {
    for (const e of envoyReference().extensions)
      assert.ok(messageSchema(e.typeUrl.slice(e.typeUrl.lastIndexOf('/') + 1)), e.typeUrl);
  });
});
