/**
 * Compiled rule sets by source hash, per process: every listener, route and config version with
 * the same directives and files shares one compiled rule set, compiled once.
 */
import { createHash } from 'node:crypto';
import { detectSqli, detectXss } from '../../../waf/libinjection/index.js';
import {
  compileSources,
  type CompiledRuleSet,
  type Detectors,
  type WafSources,
} from '../../../waf/seclang/index.js';

export const DETECTORS: Detectors = { detectSqli, detectXss };

/** Rule sets kept; older ones are dropped (a config with more recompiles, it does not fail). */
const MAX_CACHED = 16;
const cache = new Map<string, CompiledRuleSet>();

/** The compiled rule set of `sources` (throws WafCompileError). */
export function ruleSetFor(sources: WafSources, origin = 'directives'): CompiledRuleSet {
  const key = `${sources.hash}\0${origin}`;
  let rs = cache.get(key);
  if (rs !== undefined) {
    // Most recently used last.
    cache.delete(key);
    cache.set(key, rs);
    return rs;
  }
  rs = compileSources(sources, { origin, detectors: DETECTORS });
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, rs);
  return rs;
}

/** The filter's directives followed by a route's. */
export function combineSources(base: WafSources, extra: WafSources): WafSources {
  return {
    directives: `${base.directives}\n${extra.directives}`,
    files: { ...base.files, ...extra.files },
    globs: { ...base.globs, ...extra.globs },
    hash: createHash('sha256').update(base.hash).update(extra.hash).digest('hex'),
  };
}
