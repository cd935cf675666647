/**
 * Checks that a `RegexMatcher.regex` would compile in Envoy, which uses RE2. Node has no RE2, so
 * this approximates: constructs RE2 accepts but JavaScript spells differently are rewritten, the
 * constructs RE2 lacks (lookaround, backreferences) are refused by name, and the rest must compile
 * as a JavaScript RegExp with the 'u' flag (whose syntax is strict, like RE2's).
 */

/** Returns undefined when the pattern is acceptable, else a message saying why not. */
export function checkRe2(pattern: string): string | undefined {
  const unsupported = findUnsupported(pattern);
  if (unsupported) return `regex ${JSON.stringify(pattern)} is not RE2 syntax: ${unsupported}`;
  try {
    new RegExp(toJavaScript(pattern), 'u');
    return undefined;
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/u?: /, '');
    return `regex ${JSON.stringify(pattern)} does not compile: ${reason}`;
  }
}

/** Scans outside character classes for the constructs RE2 refuses (it guarantees linear time). */
function findUnsupported(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next))
        return `backreference \\${next} at offset ${i} (RE2 has no backreferences)`;
      if (!inClass && next === 'k' && pattern[i + 2] === '<')
        return `named backreference at offset ${i} (RE2 has no backreferences)`;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++;
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith('=') || rest.startsWith('!'))
        return `lookahead at offset ${i} (RE2 has no lookaround)`;
      if (rest === '<=' || rest === '<!')
        return `lookbehind at offset ${i} (RE2 has no lookaround)`;
      if (rest.startsWith('>')) return `atomic group at offset ${i} (not in RE2)`;
    }
    if ((c === '+' || c === '*' || c === '?' || c === '}') && pattern[i + 1] === '+') {
      return `possessive quantifier at offset ${i} (not in RE2)`;
    }
  }
  return undefined;
}

/** RE2 spellings JavaScript lacks: (?P<name>, inline flags, \A, \z, one-letter \pL classes. */
function toJavaScript(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && next === 'A') out += '^';
      else if (!inClass && next === 'z') out += '$';
      else if ((next === 'p' || next === 'P') && /[A-Za-z]/.test(pattern[i + 2] ?? '')) {
        out += `\\${next}{${pattern[i + 2]}}`;
        i++;
      } else out += c + next;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (pattern[i + 1] === '^') out += pattern[++i];
      if (pattern[i + 1] === ']') out += '\\' + pattern[++i];
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      const named = /^P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
      if (named) {
        out += `(?<${named[1]}>`;
        i += 1 + named[0].length;
        continue;
      }
      // RE2 flags i, m, s, U: JavaScript (Node 20) has no inline flags; keep the grouping only.
      const flags = /^[imsU-]+(:|\))/.exec(rest);
      if (flags) {
        out += flags[1] === ':' ? '(?:' : '';
        i += 1 + flags[0].length;
        continue;
      }
    }
    out += c;
  }
  return out;
}
