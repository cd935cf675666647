/**
 * SecLang source handling: logical lines (comments, blank lines, `\` continuations), directive
 * argument splitting, `Include` with `@crs/` and globs, and the file set a rule set was built
 * from. Files are read through a loader so the same code runs on a real host (the proxy's
 * primary reads them) and on an in-memory bundle (the workers compile from what the primary
 * read, so they never do file I/O).
 */
import path from 'node:path';

/** Where `@crs/...` paths point: the Debian `modsecurity-crs` install. */
export const CRS_PATHS: Readonly<Record<string, string>> = {
  'crs-setup.conf': '/etc/modsecurity/crs/crs-setup.conf',
  'REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf':
    '/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf',
  'RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf':
    '/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf',
};
export const CRS_DIR = '/usr/share/modsecurity-crs';

/** Synchronous file access for the compiler. */
export interface SourceLoader {
  /** The file's text; throws (with a code such as ENOENT) when it cannot be read. */
  readFile(file: string): string;
  /** The files a pattern names, sorted; `*` and `?` only in the last path component. */
  glob(pattern: string): string[];
}

export class SecLangError extends Error {}

/** One directive after continuation lines are joined. */
export interface LogicalLine {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** Resolves `@crs/x` and paths relative to the including file. */
export function resolveInclude(target: string, fromFile: string): string {
  if (target.startsWith('@crs/')) {
    const rest = target.slice('@crs/'.length);
    return CRS_PATHS[rest] ?? path.join(CRS_DIR, rest);
  }
  if (path.isAbsolute(target)) return target;
  return path.join(path.dirname(fromFile), target);
}

export const hasGlob = (p: string): boolean => /[*?[]/.test(p);

/** Matches a file name against a glob of `*` and `?`. */
export function globToRegExp(pattern: string): RegExp {
  let src = '^';
  for (const c of pattern) {
    if (c === '*') src += '[^/]*';
    else if (c === '?') src += '[^/]';
    else src += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(src + '$');
}

/** Splits directive text into logical lines. */
export function logicalLines(text: string, file: string): LogicalLine[] {
  const lines = text.split(/\r?\n/);
  const out: LogicalLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let current = lines[i]!;
    // A trailing backslash continues the directive; the next line's indentation is dropped.
    while (current.endsWith('\\') && !current.endsWith('\\\\') && i + 1 < lines.length) {
      current = current.slice(0, -1) + lines[++i]!.replace(/^[ \t]+/, '');
    }
    const trimmed = current.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    out.push({ file, line: start, text: trimmed });
  }
  return out;
}

/**
 * Splits a directive into its name and arguments: whitespace separates, `"..."` quotes (only
 * `\"` is unescaped inside, other backslashes stay for regexes), `'...'` too.
 */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= n) break;
    const q = text[i];
    if (q === '"' || q === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) throw new SecLangError(`an unterminated ${q} quote`);
        const c = text[i]!;
        if (c === '\\' && text[i + 1] === q) {
          value += q;
          i += 2;
        } else if (c === q) {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      args.push(value);
    } else {
      let value = '';
      while (i < n && text[i] !== ' ' && text[i] !== '\t') value += text[i++];
      args.push(value);
    }
  }
  return args;
}
