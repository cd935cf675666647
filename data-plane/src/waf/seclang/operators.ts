/**
 * ModSecurity operators (`@rx`, `@pm`, ...), compiled once per rule. Inspected values are latin1
 * strings (one char per byte). An operator gets the transaction's macro expander for arguments
 * that hold `%{...}`, and a capture sink for `capture` (TX:0..9).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { compilePcre, RegexSyntaxError } from './regex.js';
import { SecLangError } from './source.js';
import { PhraseSet } from './phrase-set.js';
import type { RegexPrefilterSet } from './regex-prefilter-set.js';
import { compileMacro, type Macro, type MacroScope } from './macro.js';

export interface OperatorContext extends MacroScope {
  /** Receives TX:0..9 when the rule has `capture` (null: no capture). */
  setCapture(index: number, value: string): void;
}

export interface Operator {
  readonly name: string;
  /** true when the operator matches `value`; `capture` asks for TX:0.. to be set. */
  test(value: string, ctx: OperatorContext, capture: boolean): boolean;
  /** true: runs on a linear-time regex engine (or needs no regex). */
  readonly linear: boolean;
  /** true: a regex operator, which sees at most WafLimits.regexInspectionBytes of a value. */
  readonly regex?: boolean;
  /**
   * The operator's slot in the rule set's RegexPrefilterSet: the caller may skip test() (a
   * non-match) for a value whose candidates lack it. Absent or -1: always test.
   */
  readonly prefilterSlot?: number;
  /** The argument when it holds `%{...}` (expanded at each test). */
  readonly argMacro?: Macro;
}

export interface Detectors {
  detectSqli(input: string): { readonly match: boolean; readonly fingerprint: string };
  /** libinjection's XSS verdict (never true for input that mayBeXss() rules out). */
  detectXss(input: string): boolean;
}

/**
 * false when libinjection's XSS check cannot flag `value`, which holds neither `<` nor `=`: it
 * flags only a doctype, a tag or a comment (each opened by `<`) or an attribute value after a
 * flagged attribute name (a value follows a name only after `=`; the value that a quoted start
 * state begins with follows no name). Most argument values hold neither.
 */
export function mayBeXss(value: string): boolean {
  return value.includes('<') || value.includes('=');
}

export interface OperatorCompileContext {
  /** Reads a data file (@pmFromFile, @ipMatchFromFile) relative to the rule's file. */
  readData(file: string): string;
  readonly detectors: Detectors | undefined;
  /** Where @rx registers its prefilter literals (absent: no prefilter). */
  readonly regexPrefilter?: RegexPrefilterSet;
}

const toNumber = (s: string): number => {
  const n = parseInt(s, 10);
  return Number.isNaN(n) ? 0 : n;
};

function phraseList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.toLowerCase());
}

const ASCII = /^[\0-\x7f]*$/;

/**
 * Case-insensitive phrase match; TX:0 is the phrase found. All-ASCII phrases get a prefilter
 * slot (see RegexPrefilterSet.addPhrases): the caller may skip the test of a value whose
 * candidates lack it.
 */
function phraseOperator(
  name: string,
  phrases: readonly string[],
  prefilter: RegexPrefilterSet | undefined,
): Operator {
  const set = new PhraseSet(phrases);
  const prefiltered =
    prefilter !== undefined && phrases.length > 0 && phrases.every((p) => ASCII.test(p));
  return {
    name,
    linear: true,
    prefilterSlot: prefiltered ? prefilter.addPhrases(phrases) : -1,
    test(value, ctx, capture) {
      const lower = value.toLowerCase();
      if (!set.foundIn(lower)) return false;
      if (!capture) return true;
      // The first phrase of the list that the value holds, as before the one-pass search.
      for (const p of phrases) {
        if (lower.includes(p)) {
          if (capture) ctx.setCapture(0, p);
          return true;
        }
      }
      return false;
    },
  };
}

function ipList(entries: readonly string[], where: string): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [addr, bits] = entry.split('/');
    const family = isIPv4(addr!) ? 'ipv4' : isIPv6(addr!) ? 'ipv6' : undefined;
    if (family === undefined) throw new SecLangError(`${where}: ${entry} is not an IP address`);
    if (bits === undefined) list.addAddress(addr!, family);
    else list.addSubnet(addr!, Number(bits), family);
  }
  return list;
}

/** A numeric/string comparison whose argument may be a macro. */
function argOperator(
  name: string,
  arg: string,
  cmp: (value: string, arg: string) => boolean,
): Operator {
  const macro: Macro | undefined = arg.includes('%{') ? compileMacro(arg) : undefined;
  return {
    name,
    linear: true,
    argMacro: macro,
    test(value, ctx) {
      return cmp(value, macro === undefined ? arg : macro.expand(ctx));
    },
  };
}

function byteRanges(arg: string): Uint8Array {
  const allowed = new Uint8Array(256);
  for (const part of arg.split(/[\s,]+/)) {
    if (part === '') continue;
    const [lo, hi] = part.split('-').map((x) => Number(x));
    if (!Number.isInteger(lo) || (hi !== undefined && !Number.isInteger(hi)))
      throw new SecLangError(`@validateByteRange: bad range ${part}`);
    for (let b = lo!; b <= (hi ?? lo!) && b < 256; b++) allowed[b] = 1;
  }
  return allowed;
}

function validUtf8(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const b = s.charCodeAt(i);
    if (b < 0x80) continue;
    let len: number;
    if (b >= 0xc2 && b <= 0xdf) len = 1;
    else if (b >= 0xe0 && b <= 0xef) len = 2;
    else if (b >= 0xf0 && b <= 0xf4) len = 3;
    else return false;
    for (let k = 1; k <= len; k++) {
      if (i + k >= s.length || (s.charCodeAt(i + k) & 0xc0) !== 0x80) return false;
    }
    i += len;
  }
  return true;
}

/** Builds the operator `@name arg`; throws SecLangError for what is not supported. */
export function compileOperator(name: string, arg: string, ctx: OperatorCompileContext): Operator {
  switch (name.toLowerCase()) {
    case 'rx': {
      if (arg.includes('%{')) return macroRegexOperator(arg);
      let compiled;
      try {
        compiled = compilePcre(arg);
      } catch (err) {
        if (err instanceof RegexSyntaxError) throw new SecLangError(`@rx: ${err.message}`);
        throw err;
      }
      const { regex, linear } = compiled;
      return {
        name: 'rx',
        linear,
        regex: true,
        prefilterSlot: ctx.regexPrefilter?.add(arg) ?? -1,
        test(value, octx, capture) {
          if (!capture) return regex.test(value);
          const m = regex.exec(value);
          if (m === null) return false;
          // Only the numbered groups: PCRE has no emulated atomic groups to hide.
          const limit = Math.min(m.length, 10);
          for (let k = 0; k < limit; k++) octx.setCapture(k, m[k] ?? '');
          return true;
        },
      };
    }
    case 'pm':
      return phraseOperator(
        'pm',
        arg
          .split(/\s+/)
          .filter((p) => p !== '')
          .map((p) => p.toLowerCase()),
        ctx.regexPrefilter,
      );
    case 'pmfromfile':
    case 'pmf': {
      const phrases: string[] = [];
      for (const file of arg.split(/\s+/).filter((f) => f !== ''))
        phrases.push(...phraseList(ctx.readData(file)));
      return phraseOperator('pmFromFile', phrases, ctx.regexPrefilter);
    }
    case 'streq':
      return argOperator('streq', arg, (v, a) => v === a);
    case 'beginswith':
      return argOperator('beginsWith', arg, (v, a) => v.startsWith(a));
    case 'endswith':
      return argOperator('endsWith', arg, (v, a) => v.endsWith(a));
    case 'contains':
      return argOperator('contains', arg, (v, a) => v.includes(a));
    case 'containsword':
      return argOperator('containsWord', arg, (v, a) => {
        if (a === '') return true;
        let from = 0;
        for (;;) {
          const at = v.indexOf(a, from);
          if (at < 0) return false;
          const before = at === 0 ? '' : v[at - 1]!;
          const after = v[at + a.length] ?? '';
          if (!/\w/.test(before) && !/\w/.test(after)) return true;
          from = at + 1;
        }
      });
    case 'within':
      return argOperator('within', arg, (v, a) => v === '' || a.includes(v));
    case 'strmatch':
      return argOperator('strmatch', arg, (v, a) => v.includes(a));
    case 'eq':
      return argOperator('eq', arg, (v, a) => toNumber(v) === toNumber(a));
    case 'ge':
      return argOperator('ge', arg, (v, a) => toNumber(v) >= toNumber(a));
    case 'gt':
      return argOperator('gt', arg, (v, a) => toNumber(v) > toNumber(a));
    case 'le':
      return argOperator('le', arg, (v, a) => toNumber(v) <= toNumber(a));
    case 'lt':
      return argOperator('lt', arg, (v, a) => toNumber(v) < toNumber(a));
    case 'validatebyterange': {
      const allowed = byteRanges(arg);
      return {
        name: 'validateByteRange',
        linear: true,
        test(value) {
          for (let i = 0; i < value.length; i++)
            if (allowed[value.charCodeAt(i) & 0xff] !== 1) return true;
          return false;
        },
      };
    }
    case 'validateurlencoding':
      return {
        name: 'validateUrlEncoding',
        linear: true,
        test(value) {
          for (let i = value.indexOf('%'); i >= 0; i = value.indexOf('%', i + 1)) {
            if (!/^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) return true;
          }
          return false;
        },
      };
    case 'validateutf8encoding':
      return { name: 'validateUtf8Encoding', linear: true, test: (value) => !validUtf8(value) };
    case 'ipmatch': {
      const list = ipList(arg.split(','), '@ipMatch');
      return ipOperator('ipMatch', list);
    }
    case 'ipmatchfromfile':
    case 'ipmatchf': {
      const list = ipList(phraseList(ctx.readData(arg.trim())), '@ipMatchFromFile');
      return ipOperator('ipMatchFromFile', list);
    }
    case 'detectsqli': {
      const detectors = ctx.detectors;
      if (detectors === undefined) throw new SecLangError('@detectSQLi is not supported');
      return {
        name: 'detectSQLi',
        linear: true,
        test(value, octx, capture) {
          const r = detectors.detectSqli(value);
          if (r.match && capture) octx.setCapture(0, r.fingerprint);
          return r.match;
        },
      };
    }
    case 'detectxss': {
      const detectors = ctx.detectors;
      if (detectors === undefined) throw new SecLangError('@detectXSS is not supported');
      return {
        name: 'detectXSS',
        linear: true,
        test: (value) => mayBeXss(value) && detectors.detectXss(value),
      };
    }
    case 'unconditionalmatch':
      return { name: 'unconditionalMatch', linear: true, test: () => true };
    case 'nomatch':
      return { name: 'noMatch', linear: true, test: () => false };
    case 'geolookup':
      // ModSecurity without SecGeoLookupDb: the lookup finds nothing, so it never matches and
      // GEO stays empty. No GeoIP database can be configured in ferry-proxy.
      return { name: 'geoLookup', linear: true, test: () => false };
    default:
      throw new SecLangError(`the operator @${name} is not supported`);
  }
}

/** Addresses an @ipMatch operator remembers its answer for (BlockList.check parses each time). */
const IP_MEMO_SIZE = 256;

function ipOperator(name: string, list: BlockList): Operator {
  // The answer depends on the value alone; requests repeat their clients' addresses.
  const memo = new Map<string, boolean>();
  return {
    name,
    linear: true,
    test(value) {
      let hit = memo.get(value);
      if (hit === undefined) {
        const v = value.trim();
        hit = isIPv4(v) ? list.check(v, 'ipv4') : isIPv6(v) ? list.check(v, 'ipv6') : false;
        if (memo.size >= IP_MEMO_SIZE) memo.clear();
        memo.set(value, hit);
      }
      return hit;
    },
  };
}

/**
 * @rx whose pattern holds a macro (CRS 920480: `^%{tx.allowed_request_content_type_charset}$`):
 * the expanded pattern is compiled on first use and cached; the values come from the
 * configuration (crs-setup.conf), so a handful of patterns cover every request. A pattern that
 * does not compile never matches.
 */
function macroRegexOperator(arg: string): Operator {
  const macro = compileMacro(arg);
  const cache = new Map<string, RegExp | null>();
  const MAX_CACHED = 64;
  return {
    name: 'rx',
    linear: false,
    regex: true,
    argMacro: macro,
    test(value, ctx, capture) {
      const source = macro.expand(ctx);
      let regex = cache.get(source);
      if (regex === undefined) {
        try {
          regex = compilePcre(source).regex;
        } catch {
          regex = null;
        }
        if (cache.size >= MAX_CACHED) cache.clear();
        cache.set(source, regex);
      }
      if (regex === null) return false;
      const m = regex.exec(value);
      if (m === null) return false;
      if (capture) for (let k = 0; k < Math.min(m.length, 10); k++) ctx.setCapture(k, m[k] ?? '');
      return true;
    },
  };
}
