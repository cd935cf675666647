/**
 * The SecLang engine: compile directives once (compileWaf / compileWafSync), then run one
 * WafTransaction per request. Files (Include, @pmFromFile) are read through a loader: the real
 * file system where config is translated, or the bundle of files a compiled rule set carries.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { compileRuleSet, type CompiledRuleSet, type CompileOptions } from './compile.js';
import type { Detectors } from './operators.js';
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
  return compileRuleSet(directives, opts);
}

/**
 * Reads every file the directives need with async I/O, then compiles. Files that cannot be read
 * are reported by the compiler at the directive that names them.
 */
export async function compileWaf(
  directives: string,
  options: {
    readFile: AsyncSourceLoader['readFile'];
    glob: AsyncSourceLoader['glob'];
    origin?: string;
    detectors?: Detectors;
  },
): Promise<CompiledRuleSet> {
  const files: Record<string, string> = {};
  const globs: Record<string, string[]> = {};
  const visit = async (text: string, file: string, depth: number): Promise<void> => {
    if (depth > 16) return;
    for (const line of logicalLines(text, file)) {
      let args: string[];
      try {
        args = splitArgs(line.text);
      } catch {
        continue;
      }
      const name = args[0]?.toLowerCase();
      const wanted: string[] = [];
      if (name === 'include' && args[1] !== undefined) {
        const target = resolveInclude(args[1], file);
        if (hasGlob(target)) {
          globs[target] = await options.glob(target);
          wanted.push(...globs[target]);
        } else wanted.push(target);
      } else if (name === 'secrule' && args[2] !== undefined) {
        const m = /^!?\s*@(pmFromFile|pmf|ipMatchFromFile|ipMatchF)\s+(.+)$/i.exec(args[2].trim());
        if (m !== null)
          for (const f of m[2]!.split(/\s+/))
            if (f !== '')
              files[path.resolve(path.dirname(file), f)] ??= await options
                .readFile(path.resolve(path.dirname(file), f))
                .catch(() => undefined as unknown as string);
        continue;
      }
      for (const f of wanted) {
        if (files[f] !== undefined) continue;
        const content = await options.readFile(f).catch(() => undefined);
        if (content === undefined) continue;
        files[f] = content;
        if (name === 'include') await visit(content, f, depth + 1);
      }
    }
  };
  await visit(directives, options.origin ?? '<directives>', 0);
  for (const k of Object.keys(files)) if (files[k] === undefined) delete files[k];
  const loader = bundleLoader(files);
  return compileRuleSet(directives, {
    loader: { readFile: loader.readFile, glob: (p) => globs[p] ?? loader.glob(p) },
    origin: options.origin,
    detectors: options.detectors,
  });
}
