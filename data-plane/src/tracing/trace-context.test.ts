import { HeaderMap } from '../http/header-map.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extractTraceContext,
  formatTraceparent,
  parseB3Single,
  parseTraceparent,
} from './trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent', () => {
  const CASES: Array<[string, string, ReturnType<typeof parseTraceparent>]> = [
    ['sampled', `00-${TRACE}-${SPAN}-01`, { traceId: TRACE, spanId: SPAN, sampled: true }],
    ['not sampled', `00-${TRACE}-${SPAN}-00`, { traceId: TRACE, spanId: SPAN, sampled: false }],
    [
      'other flags, sampled bit set',
      `00-${TRACE}-${SPAN}-03`,
      { traceId: TRACE, spanId: SPAN, sampled: true },
    ],
    [
      'future version with extra fields',
      `01-${TRACE}-${SPAN}-01-what-ever`,
      { traceId: TRACE, spanId: SPAN, sampled: true },
    ],
    [
      'future version, exact length',
      `cc-${TRACE}-${SPAN}-00`,
      { traceId: TRACE, spanId: SPAN, sampled: false },
    ],
    ['version 00 with extra fields', `00-${TRACE}-${SPAN}-01-extra`, undefined],
    ['version ff', `ff-${TRACE}-${SPAN}-01`, undefined],
    ['future version glued suffix', `01-${TRACE}-${SPAN}-01x`, undefined],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`, undefined],
    ['zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`, undefined],
    ['zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`, undefined],
    ['short', `00-${TRACE}-${SPAN}-1`, undefined],
    ['bad separator', `00_${TRACE}-${SPAN}-01`, undefined],
    ['non-hex flags', `00-${TRACE}-${SPAN}-zz`, undefined],
  ];
  for (const [name, value, expected] of CASES)
    test(name, () => assert.deepEqual(parseTraceparent(value), expected));

  test('format', () => {
    assert.equal(formatTraceparent(TRACE, SPAN, true), `00-${TRACE}-${SPAN}-01`);
    assert.equal(formatTraceparent(TRACE, SPAN, false), `00-${TRACE}-${SPAN}-00`);
  });
});

describe('b3 single header', () => {
  const CASES: Array<[string, string, ReturnType<typeof parseB3Single>]> = [
    [
      'ids only (deferred)',
      `${TRACE}-${SPAN}`,
      { traceId: TRACE, spanId: SPAN, sampled: undefined, traceState: '' },
    ],
    [
      'sampled with parent',
      `${TRACE}-${SPAN}-1-${'1'.repeat(16)}`,
      { traceId: TRACE, spanId: SPAN, sampled: true, traceState: '' },
    ],
    [
      'debug',
      `${TRACE}-${SPAN}-d`,
      { traceId: TRACE, spanId: SPAN, sampled: true, traceState: '' },
    ],
    [
      'denied',
      `${TRACE}-${SPAN}-0`,
      { traceId: TRACE, spanId: SPAN, sampled: false, traceState: '' },
    ],
    [
      '64-bit trace id is left-padded',
      `a3ce929d0e0e4736-${SPAN}-1`,
      { traceId: `0000000000000000a3ce929d0e0e4736`, spanId: SPAN, sampled: true, traceState: '' },
    ],
    [
      'upper case is accepted',
      `${TRACE.toUpperCase()}-${SPAN}-1`,
      { traceId: TRACE, spanId: SPAN, sampled: true, traceState: '' },
    ],
    ['decision only: 0', '0', { traceId: '', sampled: false }],
    ['decision only: 1', '1', { traceId: '', sampled: true }],
    ['bad sampling state', `${TRACE}-${SPAN}-x`, undefined],
    ['bad span id', `${TRACE}-123`, undefined],
    ['garbage', 'hello', undefined],
  ];
  for (const [name, value, expected] of CASES)
    test(name, () => assert.deepEqual(parseB3Single(value), expected));
});

/** extractTraceContext over a header map built from a literal. */
function extract(headers: Record<string, string>): ReturnType<typeof extractTraceContext> {
  return extractTraceContext(HeaderMap.fromObject(headers));
}

describe('extractTraceContext', () => {
  test('no trace headers', () => assert.equal(extract({ host: 'a' }), undefined));

  test('traceparent with tracestate', () => {
    assert.deepEqual(extract({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=1,b=2' }), {
      traceId: TRACE,
      spanId: SPAN,
      sampled: true,
      traceState: 'a=1,b=2',
    });
  });

  test('traceparent wins over b3', () => {
    const ctx = extract({
      traceparent: `00-${TRACE}-${SPAN}-00`,
      b3: `${'1'.repeat(32)}-${'2'.repeat(16)}-1`,
    });
    assert.deepEqual(ctx, { traceId: TRACE, spanId: SPAN, sampled: false, traceState: '' });
  });

  test('an invalid traceparent falls back to b3', () => {
    const ctx = extract({ traceparent: 'garbage', b3: `${TRACE}-${SPAN}-1` });
    assert.deepEqual(ctx, { traceId: TRACE, spanId: SPAN, sampled: true, traceState: '' });
  });

  test('b3 multi headers', () => {
    assert.deepEqual(extract({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' }), {
      traceId: TRACE,
      spanId: SPAN,
      sampled: true,
      traceState: '',
    });
    assert.deepEqual(extract({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-flags': '1' }), {
      traceId: TRACE,
      spanId: SPAN,
      sampled: true,
      traceState: '',
    });
    assert.deepEqual(extract({ 'x-b3-sampled': '0' }), { traceId: '', sampled: false });
    assert.deepEqual(extract({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN }), {
      traceId: TRACE,
      spanId: SPAN,
      sampled: undefined,
      traceState: '',
    });
  });
});
