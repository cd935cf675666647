import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRequestId, resolveRequestId } from './request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('new ids are UUIDv4 and distinct', () => {
  const a = newRequestId();
  assert.match(a, UUID_V4);
  assert.notEqual(a, newRequestId());
});

const cases: [
  name: string,
  generate: boolean,
  preserve: boolean,
  current: string | undefined,
  edge: boolean,
  expect: 'kept' | 'new' | 'none',
][] = [
  ['absent → generated', true, false, undefined, false, 'new'],
  ['empty → generated', true, false, '', false, 'new'],
  ['internal request keeps its id', true, false, 'abc', false, 'kept'],
  ['edge request id is replaced', true, false, 'abc', true, 'new'],
  ['edge request id kept with preserve_external_request_id', true, true, 'abc', true, 'kept'],
  ['generate_request_id off: kept as is', false, false, 'abc', true, 'kept'],
  ['generate_request_id off: none stays none', false, false, undefined, true, 'none'],
];
for (const [name, generate, preserve, current, edge, expect] of cases) {
  test(name, () => {
    const id = resolveRequestId(
      { generateRequestId: generate, preserveExternalRequestId: preserve },
      current,
      edge,
    );
    if (expect === 'kept') assert.equal(id, current);
    else if (expect === 'none') assert.equal(id, undefined);
    else assert.match(id ?? '', UUID_V4);
  });
}
