import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { prefilterLiterals } from './regex-prefilter.js';
import { RegexPrefilterSet, mayMatch } from './regex-prefilter-set.js';
import { compilePcre } from './regex.js';
import { seededRandom } from '../../test-support/seeded-random.js';

const lits = (p: string): string[] | undefined => prefilterLiterals(p)?.sort();

test('alternations give one literal per branch, concatenations their most selective part', () => {
  assert.deepEqual(lits('abc|def'), ['abc', 'def']);
  assert.deepEqual(lits('(?:abc|def)x'), ['abcx', 'defx']);
  assert.deepEqual(lits('union.*?select'), ['select']);
  assert.deepEqual(lits('(?i)<SCRIPT[^>]*>'), ['<script']);
  assert.deepEqual(lits('https?://'), ['http://', 'https://']);
  assert.deepEqual(lits('a[bB]c'), ['abc']);
  assert.deepEqual(lits('(?:foo|ba[rz])+\\d'), ['bar', 'baz', 'foo']);
  assert.deepEqual(lits('\\Qa.b\\E'), ['a.b']);
  assert.deepEqual(lits('\\x41\\x42'), ['ab']);
  assert.deepEqual(lits('^5\\d{2}$'), ['5']);
});

test('what can match without a literal gives no prefilter', () => {
  assert.equal(lits('a|.'), undefined);
  assert.equal(lits('(?:abc)?'), undefined);
  assert.equal(lits('(?:abc)*'), undefined);
  assert.equal(lits('x{0,}'), undefined);
  assert.equal(lits('[a-z]+'), undefined);
  assert.equal(lits('[^abc]'), undefined);
  assert.deepEqual(lits('(a)\\1'), ['a']);
  assert.equal(lits('(?=abc)'), undefined);
  assert.equal(lits('\\b'), undefined);
  assert.equal(lits(''), undefined);
  assert.equal(lits('(?x) a b'), undefined);
  assert.equal(lits('(?(1)a|b)'), undefined);
  assert.equal(lits('abc|'), undefined);
});

test('quantifiers, lookarounds and back references only narrow by what they must match', () => {
  assert.deepEqual(lits('ab(?:cd)?ef'), ['abcdef', 'abef']);
  assert.deepEqual(lits('ab(?:cd)?'), ['ab']);
  assert.deepEqual(lits('(?:ab){2,}x'), ['ab']);
  assert.deepEqual(lits('(?:ab){1}x'), ['abx']);
  assert.deepEqual(lits('x(?!abcdef)y'), ['xy']);
  assert.deepEqual(lits('(?<=abcdef)xy'), ['xy']);
  assert.deepEqual(lits('(\\w+)=\\1;'), ['=']);
  assert.deepEqual(lits('(?i:ab)C'), ['abc']);
  assert.deepEqual(lits('a{2}'), ['a']);
  assert.deepEqual(lits('a{x'), ['a{x']);
});

/**
 * Strings likely to match `pattern`: fragments of the pattern itself (its literals, in any
 * case), its literals, corpus text and random bytes, glued together.
 */
function samples(pattern: string, extra: readonly string[], count: number, seed: number): string[] {
  const next = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const pieces = [
    ...pattern.split(/[\\()[\]|?*+{}^$.]+/).filter((p) => p !== ''),
    ...(prefilterLiterals(pattern) ?? []),
    ...extra,
    ' ',
    '\n',
    "'",
    '"',
    '<',
    '>',
    '=',
    '(',
    ')',
    ';',
    '/',
  ];
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    let s = '';
    const parts = 1 + Math.floor(next() * 6);
    for (let k = 0; k < parts; k++) {
      const r = next();
      if (r < 0.6) {
        let piece = pick(pieces);
        if (next() < 0.3) piece = piece.toUpperCase();
        if (next() < 0.3) piece = piece.slice(Math.floor(next() * piece.length));
        s += piece;
      } else if (r < 0.8) s += String.fromCharCode(Math.floor(next() * 256));
      else s += pick(['a', 'b', 'ab', 'abc', '0', '1', '\\', '%', '&#', '--']);
    }
    out.push(s);
  }
  return out;
}

/** The check of the property: when the regex matches, the prefilter must say "maybe". */
function assertNoFalseNegative(set: RegexPrefilterSet, slot: number, regex: RegExp, s: string) {
  if (regex.test(s))
    assert.ok(
      mayMatch(set.candidates(s), slot),
      `${regex.source.slice(0, 120)} matches ${JSON.stringify(s)} but the prefilter said no`,
    );
}

const TRICKY = [
  'abc|def',
  '(?:abc)?x',
  '(?i)SeLeCt\\s+\\w+\\s+FROM',
  'a{0,}bc',
  'a*b+c?d',
  '(a|b)\\1c',
  '(?=ab)abc',
  '(?<!x)ab(?!c)',
  '^ab$|^cd',
  '\\bon\\w+\\s*=',
  '[aA][bB]c|[^x]y',
  '(?i:ab(?-i:C))d',
  '\\x61\\142c|\\Q(a)\\E',
  'a.{2,4}b',
  '(?:ab|cd)+(?:ef)?gh',
  '\\\\x[0-9a-f]{2}',
  '[[:alpha:]]+=',
  '<!--|-->',
  '(?>ab|a)c',
  'x++y',
  '(?:a|b|c|d|e){2}z',
];

test('no false negatives on tricky patterns with random strings', () => {
  const set = new RegexPrefilterSet();
  const slots = TRICKY.map((p) => set.add(p));
  set.build();
  TRICKY.forEach((p, i) => {
    const regex = compilePcre(p).regex;
    for (const s of samples(p, [], 2000, i + 1)) assertNoFalseNegative(set, slots[i]!, regex, s);
  });
});

const CRS_RULES = '/usr/share/modsecurity-crs/rules';
const CORPUS = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '../../../../e2e/waf-corpus',
);

/** The @rx patterns of the CRS rule files (empty when CRS is not installed). */
function crsPatterns(): string[] {
  if (!fs.existsSync(CRS_RULES)) return [];
  const out: string[] = [];
  for (const f of fs.readdirSync(CRS_RULES).filter((n) => n.endsWith('.conf'))) {
    const text = fs.readFileSync(path.join(CRS_RULES, f), 'latin1').replace(/\\\n/g, '');
    for (const m of text.matchAll(/^\s*SecRule\s+\S+\s+"((?:[^"\\]|\\.)*)"/gm)) {
      let op = m[1]!.replace(/\\"/g, '"');
      if (op.startsWith('!')) op = op.slice(1);
      if (op.startsWith('@rx ')) out.push(op.slice(4));
      else if (!op.startsWith('@')) out.push(op);
    }
  }
  return out.filter((p) => !p.includes('%{'));
}

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
};

/**
 * The texts of e2e/waf-corpus's attack and benign requests: paths, bodies, header values,
 * their arguments, raw and URL-decoded.
 */
function corpusText(): string[] {
  const out: string[] = [];
  if (!fs.existsSync(CORPUS)) return out;
  for (const f of fs.readdirSync(CORPUS).filter((n) => n.endsWith('.jsonl')))
    for (const line of fs.readFileSync(path.join(CORPUS, f), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const c = JSON.parse(line) as {
        path?: string;
        body?: string;
        headers?: Record<string, string>;
      };
      const texts = [c.path ?? '', c.body ?? '', ...Object.values(c.headers ?? {})];
      for (const t of texts) {
        if (t === '') continue;
        out.push(t, decode(t));
        for (const arg of t.slice(t.indexOf('?') + 1).split('&'))
          for (const part of arg.split('=')) if (part !== '') out.push(decode(part));
      }
    }
  return out;
}

test('no false negatives on the CRS patterns (random strings and the attack corpora)', (t) => {
  const patterns = crsPatterns();
  if (patterns.length === 0) {
    t.skip('CRS is not installed');
    return;
  }
  const corpus = corpusText();
  const set = new RegexPrefilterSet();
  const slots = patterns.map((p) => set.add(p));
  set.build();
  let matches = 0;
  let filtered = 0;
  patterns.forEach((p, i) => {
    const regex = compilePcre(p).regex;
    if (slots[i]! >= 0) filtered++;
    const inputs = [...corpus, ...samples(p, corpus.slice(0, 200), 300, 1000 + i)];
    for (const s of inputs) {
      if (regex.test(s)) matches++;
      assertNoFalseNegative(set, slots[i]!, regex, s);
    }
  });
  // The property is only worth something if the inputs do match and most patterns filter.
  assert.ok(matches > 1000, `only ${matches} matches`);
  assert.ok(filtered > patterns.length * 0.8, `${filtered} of ${patterns.length} filtered`);
});

test('phrase slots: a value holding a phrase in any ASCII case, every phrase slot above latin1', () => {
  const set = new RegexPrefilterSet();
  const regex = set.add('union\\s+select');
  const phrases = set.addPhrases(['wget', 'nikto']);
  const other = set.addPhrases(['curl']);
  set.build();
  const slots = (value: string): number[] =>
    [regex, phrases, other].filter((s) => mayMatch(set.candidates(value), s));
  assert.deepEqual(slots('GET /x WGet/1.2'), [phrases]);
  assert.deepEqual(slots('mozilla niKTO curl'), [phrases, other]);
  assert.deepEqual(slots('UNION  SELECT'), [regex]);
  assert.deepEqual(slots('n\xefkto w-get'), []);
  // U+212A KELVIN SIGN lower-cases to 'k': "ni\u212Ato" holds "nikto" once lower-cased.
  assert.deepEqual(slots('ni\u212Ato'), [phrases, other]);
  assert.deepEqual(slots('\u0100 union select'), [regex, phrases, other]);
});
