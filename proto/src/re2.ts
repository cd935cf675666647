/**
 * RE2 patterns (protoc-gen-validate `string.pattern`, written for Go/C++ RE2) as JavaScript
 * RegExps. Only for the fixed patterns of Envoy's own protos: a regex from config must go through
 * compileLinearRe2 (re2-linear.ts), which runs in linear time. The two dialects share the common core; this rewrites the RE2-only spellings:
 * leading flag groups `(?i)`/`(?s)`/`(?m)`, `\A`, `\z`, `(?P<name>`, `\Q…\E` and POSIX classes
 * `[[:alpha:]]`. Constructs with no JS equivalent are not rewritten and will fail to compile,
 * which the caller reports; RE2 has no backreferences or lookaround, so no RE2 pattern relies
 * on them.
 */

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

function escapeLiteral(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/** Translates an RE2 pattern; throws (as `new RegExp` does) when the result is not valid JS. */
export function compileRe2(pattern: string): RegExp {
  let source = pattern;
  let flags = '';
  const leading = /^\(\?([imsU]+)\)/.exec(source);
  if (leading) {
    for (const f of leading[1]!) if (f !== 'U' && !flags.includes(f)) flags += f;
    source = source.slice(leading[0].length);
  }
  source = source
    .replace(/\\Q([\s\S]*?)(?:\\E|$)/g, (_, literal: string) => escapeLiteral(literal))
    .replace(/\(\?P</g, '(?<')
    .replace(/\[:(\^?)([a-z]+):\]/g, (whole, negated: string, name: string) => {
      const members = POSIX_CLASSES[name];
      if (members === undefined) return whole;
      return negated ? whole : members; // negated POSIX classes inside a class have no JS form
    })
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '(?![\\s\\S])');
  try {
    return new RegExp(source, flags + 'u');
  } catch {
    // Unicode mode rejects identity escapes such as `\-` outside a class, which RE2 allows.
    return new RegExp(source, flags);
  }
}
