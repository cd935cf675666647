// libinjection's own unit tests (tests/test-*.txt) run as a table against our implementation:
// SQL tokens, folded tokens, SQLi fingerprints and HTML5 tokens, printed the way libinjection's
// test driver prints them, so the expectations are used verbatim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectSqli } from './index.js';
import { LIBINJECTION_TEST_CASES } from './fixtures/libinjection-test-cases.js';
import { Html5Tokenizer, START_DATA } from './html5-tokenizer.js';
import { SqliFolder } from './sqli-fold.js';
import type { SqliToken } from './sqli-token.js';
import { FLAG_QUOTE_NONE, FLAG_SQL_ANSI, SqliTokenizer } from './sqli-tokenizer.js';

const HTML5_TYPE_NAMES = [
  'DATA_TEXT',
  'TAG_NAME_OPEN',
  'TAG_NAME_CLOSE',
  'TAG_NAME_SELFCLOSE',
  'TAG_DATA',
  'TAG_CLOSE',
  'ATTR_NAME',
  'ATTR_VALUE',
  'TAG_COMMENT',
  'DOCTYPE',
];

/** A C string's text: the bytes up to the first NUL. */
function cString(bytes: ArrayLike<number>, length: number): string {
  let out = '';
  for (let i = 0; i < length && bytes[i] !== 0; i++) out += String.fromCharCode(bytes[i] ?? 0);
  return out;
}

function printToken(token: SqliToken): string {
  const value = cString(token.val, token.len);
  const type = String.fromCharCode(token.type);
  const quoted = (text: string): string =>
    (token.strOpen !== 0 ? String.fromCharCode(token.strOpen) : '') +
    text +
    (token.strClose !== 0 ? String.fromCharCode(token.strClose) : '');
  if (type === 's') return `s ${quoted(value)}`;
  if (type === 'v') return `v ${'@'.repeat(Math.min(token.count, 2))}${quoted(value)}`;
  return `${type} ${value}`;
}

function tokens(input: string): string[] {
  const tokenizer = new SqliTokenizer();
  tokenizer.reset(input, FLAG_QUOTE_NONE | FLAG_SQL_ANSI);
  const lines: string[] = [];
  while (tokenizer.tokenize()) lines.push(printToken(tokenizer.current));
  return lines;
}

function folded(input: string): string[] {
  const tokenizer = new SqliTokenizer();
  tokenizer.reset(input, FLAG_QUOTE_NONE | FLAG_SQL_ANSI);
  const count = new SqliFolder().fold(tokenizer);
  return tokenizer.tokens.slice(0, count).map(printToken);
}

function html5(input: string): string[] {
  const html = new Html5Tokenizer();
  html.reset(input, START_DATA);
  const lines: string[] = [];
  while (html.next()) {
    const bytes = Array.from({ length: html.tokenLen }, (_, i) =>
      input.charCodeAt(html.tokenStart + i),
    );
    const name = HTML5_TYPE_NAMES[html.tokenType] ?? '?';
    lines.push(`${name},${html.tokenLen},${cString(bytes, bytes.length)}`);
  }
  return lines;
}

function actual(kind: string, input: string): string {
  let lines: string[];
  if (kind === 'tokens') lines = tokens(input);
  else if (kind === 'folding') lines = folded(input);
  else if (kind === 'html5') lines = html5(input);
  else lines = [detectSqli(input).fingerprint];
  return lines.join('\n').replace(/[ \n\t\r]+$/, '');
}

test("libinjection's unit tests agree (tokens, folding, fingerprints, HTML5 tokens)", () => {
  const failures: string[] = [];
  const byKind = new Map<string, { total: number; agree: number }>();
  for (const [kind, name, input, expected] of LIBINJECTION_TEST_CASES) {
    const got = actual(kind, input);
    const counts = byKind.get(kind) ?? { total: 0, agree: 0 };
    counts.total += 1;
    if (got === expected) counts.agree += 1;
    else
      failures.push(
        `${name}: input ${JSON.stringify(input)}\n  expected ${JSON.stringify(expected)}\n  got      ${JSON.stringify(got)}`,
      );
    byKind.set(kind, counts);
  }
  for (const [kind, { total, agree }] of byKind) {
    console.log(`libinjection ${kind} tests: ${agree}/${total} agree`);
  }
  assert.ok(LIBINJECTION_TEST_CASES.length >= 400, 'the whole test suite is in the fixture');
  assert.deepEqual(failures, []);
});
