/**
 * The SecLang engine: compile directives once (compileWaf / compileWafSync), then run one
 * WafTransaction per request. Files (Include, @pmFromFile) are read through a loader: the real
 * file system where config is translated, or the bundle of files a compiled rule set carries.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { compileRuleSet, type CompiledRuleSet, type CompileOptions } from './compile.js';
import type { Detectors } from './operators.js';
import { WafTransaction } from './transaction.js';
import {
  globToRegExp,
  hasGlob,
  logicalLines,
  resolveInclude,
  splitArgs,
  type SourceLoader,
} from './source.js';

export { WafCompileError, type CompiledRuleSet } from './compile.js';
export {
  WafTransaction,
  DEFAULT_WAF_LIMITS,
  type WafLimits,
  type Intervention,
  type MatchedRule,
  type RequestLine,
} from './transaction.js';
export { PersistentCollections } from './persistent.js';
export type { Detectors } from './operators.js';
export type { EngineMode } from './rule.js';
export { enableLinearRegex } from './regex.js';

/** Reads files from this host, synchronously (config translation, never the request path). */
export const hostLoader: SourceLoader = {
  readFile: (file) => fs.readFileSync(file, 'latin1'),
  glob(pattern) {
    const dir = path.dirname(pattern);
    if (hasGlob(dir)) throw new Error(`a glob in a directory name (${pattern}) is not supported`);
    const re = globToRegExp(path.basename(pattern));
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch {
      return [];
    }
    return entries
      .filter((e) => re.test(e))
      .sort()
      .map((e) => path.join(dir, e));
  },
};

/** Files already read (a compiled rule set's bundle); anything else is ENOENT. */
export function bundleLoader(files: Readonly<Record<string, string>>): SourceLoader {
  return {
    readFile(file) {
      const text = files[file];
      if (text === undefined)
        throw Object.assign(new Error(`${file} is not in the bundle`), { code: 'ENOENT' });
      return text;
    },
    glob(pattern) {
      const dir = path.dirname(pattern);
      const re = globToRegExp(path.basename(pattern));
      return Object.keys(files)
        .filter((f) => path.dirname(f) === dir && re.test(path.basename(f)))
        .sort();
    },
  };
}

export interface AsyncSourceLoader {
  readFile(file: string): Promise<string>;
  glob(pattern: string): Promise<string[]>;
}

export const asyncHostLoader: AsyncSourceLoader = {
  readFile: (file) => fsp.readFile(file, 'latin1'),
  async glob(pattern) {
    const dir = path.dirname(pattern);
    const re = globToRegExp(path.basename(pattern));
    const entries = await fsp.readdir(dir).catch(() => [] as string[]);
    return entries
      .filter((e) => re.test(e))
      .sort()
      .map((e) => path.join(dir, e));
  },
};

export function compileWafSync(
  directives: string,
  options: { loader: SourceLoader; origin?: string; detectors?: Detectors },
): CompiledRuleSet {
  const opts: CompileOptions = options;
  return withPrograms(compileRuleSet(directives, opts));
}

type Need =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'glob'; readonly pattern: string };

/**
 * The files the directives read (Includes, recursively, and @pmFromFile / @ipMatchFromFile data),
 * as requests to a driver: it answers each with the file's text or the glob's matches
 * (undefined: unreadable, which the compiler reports at the directive).
 */
function* needs(
  text: string,
  file: string,
  depth: number,
): Generator<Need, void, string | string[] | undefined> {
  if (depth > 16) return;
  for (const line of logicalLines(text, file)) {
    let args: string[];
    try {
      args = splitArgs(line.text);
    } catch {
      continue;
    }
    const name = args[0]?.toLowerCase();
    if (name === 'include' && args[1] !== undefined) {
      const target = resolveInclude(args[1], file);
      const list = hasGlob(target)
        ? (((yield { kind: 'glob', pattern: target }) as string[] | undefined) ?? [])
        : [target];
      for (const f of list) {
        const content = (yield { kind: 'file', path: f }) as string | undefined;
        if (content !== undefined) yield* needs(content, f, depth + 1);
      }
    } else if (name === 'secrule' && args[2] !== undefined) {
      const m = /^!?\s*@(pmFromFile|pmf|ipMatchFromFile|ipMatchF)\s+(.+)$/i.exec(args[2].trim());
      if (m !== null)
        for (const f of m[2]!.split(/\s+/))
          if (f !== '') yield { kind: 'file', path: path.resolve(path.dirname(file), f) };
    }
  }
}

/** What a rule set is built from: the directives and every file they read, with their hash. */
export interface WafSources {
  readonly directives: string;
  readonly files: Readonly<Record<string, string>>;
  readonly globs: Readonly<Record<string, string[]>>;
  /** sha256 over the directives and the files: equal sources compile to equal rule sets. */
  readonly hash: string;
}

function finish(
  directives: string,
  files: Record<string, string>,
  globs: Record<string, string[]>,
): WafSources {
  const h = createHash('sha256').update(directives);
  for (const f of Object.keys(files).sort()) h.update(`\0${f}\0${files[f]}`);
  return { directives, files, globs, hash: h.digest('hex') };
}

/** Reads the sources synchronously (config translation). */
export function collectSourcesSync(
  directives: string,
  loader: SourceLoader,
  origin = ORIGIN,
): WafSources {
  const files: Record<string, string> = {};
  const globs: Record<string, string[]> = {};
  const it = needs(directives, origin, 0);
  let answer: string | string[] | undefined;
  for (let step = it.next(); !step.done; step = it.next(answer)) {
    const need = step.value;
    if (need.kind === 'glob') {
      try {
        answer = globs[need.pattern] = loader.glob(need.pattern);
      } catch {
        answer = undefined;
      }
    } else if (files[need.path] !== undefined) {
      answer = files[need.path];
    } else {
      try {
        answer = files[need.path] = loader.readFile(need.path);
      } catch {
        answer = undefined;
      }
    }
  }
  return finish(directives, files, globs);
}

/** Reads the sources with async I/O. */
export async function collectSources(
  directives: string,
  loader: AsyncSourceLoader,
  origin = ORIGIN,
): Promise<WafSources> {
  const files: Record<string, string> = {};
  const globs: Record<string, string[]> = {};
  const it = needs(directives, origin, 0);
  let answer: string | string[] | undefined;
  for (let step = it.next(); !step.done; step = it.next(answer)) {
    const need = step.value;
    if (need.kind === 'glob') {
      answer = globs[need.pattern] = await loader.glob(need.pattern).catch(() => []);
    } else if (files[need.path] !== undefined) {
      answer = files[need.path];
    } else {
      answer = await loader.readFile(need.path).catch(() => undefined);
      if (answer !== undefined) files[need.path] = answer;
    }
  }
  return finish(directives, files, globs);
}

const ORIGIN = '<directives>';

/** Compiles collected sources (no I/O). */
export function compileSources(
  sources: WafSources,
  options: { origin?: string; detectors?: Detectors } = {},
): CompiledRuleSet {
  const bundle = bundleLoader(sources.files);
  return withPrograms(
    compileRuleSet(sources.directives, {
      loader: {
        readFile: (f) => bundle.readFile(f),
        glob: (p) => sources.globs[p] ?? bundle.glob(p),
      },
      origin: options.origin ?? ORIGIN,
      detectors: options.detectors,
    }),
  );
}

/** Builds the rule set's phase programs now, at configuration time, not on a first request. */
function withPrograms(ruleSet: CompiledRuleSet): CompiledRuleSet {
  WafTransaction.programsOf(ruleSet);
  return ruleSet;
}

/** The engine's entry point: reads what the directives need with async I/O, then compiles. */
export async function compileWaf(
  directives: string,
  options: {
    readFile: AsyncSourceLoader['readFile'];
    glob: AsyncSourceLoader['glob'];
    origin?: string;
    detectors?: Detectors;
  },
): Promise<CompiledRuleSet> {
  const sources = await collectSources(directives, options, options.origin);
  return compileSources(sources, options);
}
