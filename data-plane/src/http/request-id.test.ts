import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRequestId, resolveRequestId } from './request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('new ids are UUIDv4 and distinct', () => {
  const a = newRequestId();
  assert.match(a, UUID_V4);
  assert.notEqual(a, newRequestId());
});

test('ids stay UUIDv4 and distinct across refills of the entropy pool', () => {
  const seen = new Set<string>();
  // Several refills (256 ids each); every hex digit position must vary, so a byte taken twice
  // or a digit written from a fixed table slot would show.
  const digits = Array.from({ length: 36 }, () => new Set<string>());
  for (let i = 0; i < 2000; i++) {
    const id = newRequestId();
    assert.match(id, UUID_V4);
    seen.add(id);
    for (let c = 0; c < 36; c++) digits[c]!.add(id[c]!);
  }
  assert.equal(seen.size, 2000);
  for (let c = 0; c < 36; c++) {
    const expected = [8, 13, 18, 23].includes(c) ? 1 : c === 14 ? 1 : c === 19 ? 4 : 16;
    assert.equal(digits[c]!.size, expected, `position ${c}: ${[...digits[c]!].join('')}`);
  }
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
