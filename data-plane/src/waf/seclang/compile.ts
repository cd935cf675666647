/**
 * SecLang directives to a CompiledRuleSet. Every directive, variable, operator, transformation
 * and action CRS 3.3 uses is understood; anything else is refused with
 * `file:line: rule N: <what> is not supported`, never skipped. All errors are collected so one
 * pass reports every problem.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { compileMacro, type Macro } from './macro.js';
import { compileOperator, type Detectors, type Operator } from './operators.js';
import { compilePcre } from './regex.js';
import type { Ctl, Disruptive, EngineMode, Exclusion, Rule, SetVar, Target } from './rule.js';
import {
  SecLangError,
  logicalLines,
  resolveInclude,
  splitArgs,
  hasGlob,
  type LogicalLine,
  type SourceLoader,
} from './source.js';
import { TRANSFORMS, type Transform } from './transforms.js';
import { TransformTrie, type TransformStep } from './transform-chain.js';
import { DATA_COLLECTION_INDEX } from './data-collections.js';
import { RegexPrefilterSet } from './regex-prefilter-set.js';
import {
  COLLECTIONS,
  HELD_SCALAR_SLOT,
  PERSISTENT,
  SCALARS,
  xmlSelectorError,
} from './variables.js';
import { runnableRblRules } from './rbl.js';

export interface CompileOptions {
  readonly loader: SourceLoader;
  /** Name of the inline directives in messages (e.g. a config field path). */
  readonly origin?: string;
  /** libinjection for @detectSQLi / @detectXSS; absent: those operators are refused. */
  readonly detectors?: Detectors;
}

export interface PhaseDefaults {
  readonly disruptive: Disruptive;
  readonly log: boolean;
  readonly transforms: readonly Transform[];
  readonly status: number | undefined;
}

export interface CompiledRuleSet {
  /** sha256 of the directives and every file read. */
  readonly hash: string;
  /** Rules (and markers) per phase 1..5, in order; index 0 is unused. */
  readonly phases: readonly (readonly Rule[])[];
  /** Position of each marker in each phase's list. */
  readonly markers: readonly ReadonlyMap<string, number>[];
  /** Rules with an id (chain starters and single rules). */
  readonly ruleCount: number;
  readonly engineMode: EngineMode;
  readonly requestBodyAccess: boolean;
  readonly responseBodyAccess: boolean;
  readonly requestBodyLimit: number;
  readonly requestBodyLimitReject: boolean;
  readonly responseBodyLimit: number;
  readonly responseBodyMimeTypes: readonly string[];
  readonly argumentsLimit: number;
  readonly collectionTimeoutSeconds: number;
  /** SecComponentSignature values (CRS: "OWASP_CRS/3.3.4"). */
  readonly components: readonly string[];
  /** Things that load but cannot act here (e.g. @rbl), `file:line: rule N: ...`. */
  readonly warnings: readonly string[];
  /** Every file read, by path (the bundle a worker compiles from). */
  readonly files: Readonly<Record<string, string>>;
  /** The literals of every @rx, scanned once per value (operators hold their slots). */
  readonly regexPrefilter: RegexPrefilterSet;
  /** The rules' transformation chains (Rule.transformStep ids are below its size). */
  readonly transformTrie: TransformTrie;
  /** The number of distinct rule targets (see Rule.targetSpecs). */
  readonly targetSpecCount: number;
  /** The number of (target, transformation chain) pairs with a prefilter (see Rule.prefilterPairs). */
  readonly prefilterPairCount: number;
  /** The number of lists of prefilter pairs (see Rule.prefilterGroup). */
  readonly prefilterGroupCount: number;
}

export class WafCompileError extends Error {
  constructor(readonly errors: readonly string[]) {
    super(errors.join('\n'));
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface ActionSet {
  id?: number;
  phase?: number;
  disruptive?: Disruptive;
  status?: number;
  log?: boolean;
  msg?: Macro;
  logdata?: Macro;
  severity?: string;
  tags: string[];
  transforms: Transform[];
  resetTransforms: boolean;
  setvars: SetVar[];
  expirevars: Array<{ name: Macro; seconds: Macro }>;
  initcols: Array<{ collection: string; key: Macro }>;
  ctls: Ctl[];
  chain: boolean;
  capture: boolean;
  multiMatch: boolean;
  skip: number;
  skipAfter?: string;
}

const SEVERITIES = [
  'EMERGENCY',
  'ALERT',
  'CRITICAL',
  'ERROR',
  'WARNING',
  'NOTICE',
  'INFO',
  'DEBUG',
];

/** Actions that only describe the rule (kept for logs or ignored by ModSecurity itself). */
const META_ACTIONS = new Set(['ver', 'rev', 'maturity', 'accuracy', 'auditlog', 'noauditlog']);

function splitActions(text: string): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /[\s,]/.test(text[i]!)) i++;
    if (i >= n) break;
    let name = '';
    while (i < n && text[i] !== ':' && text[i] !== ',') name += text[i++];
    name = name.trim();
    if (text[i] !== ':') {
      out.push([name, undefined]);
      continue;
    }
    i++;
    while (i < n && text[i] === ' ') i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      while (i < n && text[i] !== "'") {
        if (text[i] === '\\' && text[i + 1] === "'") {
          value += "'";
          i += 2;
        } else value += text[i++];
      }
      i++;
    } else {
      while (i < n && text[i] !== ',') value += text[i++];
      value = value.trim();
    }
    out.push([name, value]);
  }
  return out;
}

function parseRanges(text: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const part of text.split(/[\s,]+/)) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new SecLangError(`"${part}" is not a rule id or id range`);
    ranges.push([Number(m[1]), Number(m[2] ?? m[1])]);
  }
  return ranges;
}

export const inRanges = (id: number, ranges: ReadonlyArray<readonly [number, number]>): boolean =>
  ranges.some(([lo, hi]) => id >= lo && id <= hi);

function parseSelector(raw: string | undefined): string | RegExp | undefined {
  if (raw === undefined || raw === '') return undefined;
  let s = raw;
  if (s.startsWith("'") && s.endsWith("'") && s.length >= 2) s = s.slice(1, -1);
  if (s.length >= 2 && s.startsWith('/') && s.endsWith('/'))
    return compilePcre(s.slice(1, -1), true).regex;
  return s.toLowerCase();
}

/** Parses `ARGS|!ARGS:foo|&TX:x|REQUEST_COOKIES:/^uid/` into targets and exclusions. */
export function parseTargets(text: string): { targets: Target[]; exclusions: Exclusion[] } {
  const targets: Target[] = [];
  const exclusions: Exclusion[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let item = '';
    // A selector may be a /regex/ that contains '|'.
    while (i < n && text[i] !== '|') {
      // XML's selectors are XPath (`XML:/*`, `XML://@*`), not /regex/.
      if (
        (text[i] === '/' || text[i] === "'") &&
        item.endsWith(':') &&
        !/^[!&]?XML:$/i.test(item)
      ) {
        const quote = text[i] === "'";
        item += text[i++];
        if (quote && text[i] === '/') item += text[i++];
        while (i < n && !(text[i] === '/' && text[i - 1] !== '\\')) item += text[i++];
        if (i < n) item += text[i++];
        if (quote && text[i] === "'") item += text[i++];
        continue;
      }
      item += text[i++];
    }
    i++;
    item = item.trim();
    if (item === '') continue;
    const exclude = item.startsWith('!');
    const count = item.startsWith('&');
    if (exclude || count) item = item.slice(1);
    const colon = item.indexOf(':');
    const variable = (colon < 0 ? item : item.slice(0, colon)).toUpperCase();
    const selectorText = colon < 0 ? undefined : item.slice(colon + 1);
    const isCollection = COLLECTIONS.has(variable);
    if (!isCollection && !SCALARS.has(variable))
      throw new SecLangError(`the variable ${variable} is not supported`);
    if (!isCollection && selectorText !== undefined)
      throw new SecLangError(`${variable} takes no selector`);
    if (variable === 'XML') {
      const error = xmlSelectorError(selectorText);
      if (error !== undefined) throw new SecLangError(error);
    }
    const selector = parseSelector(selectorText);
    if (exclude) exclusions.push({ variable, selector });
    else
      targets.push({
        variable,
        selector,
        count,
        countName:
          selector === undefined
            ? variable
            : `${variable}:${typeof selector === 'string' ? selector : selector.source}`,
        collection: DATA_COLLECTION_INDEX.get(variable) ?? -1,
        scalar: HELD_SCALAR_SLOT.get(variable) ?? -1,
      });
  }
  return { targets, exclusions };
}

function parseCtl(value: string): Ctl {
  const eq = value.indexOf('=');
  if (eq < 0) throw new SecLangError(`ctl:${value} has no value`);
  const name = value.slice(0, eq).trim();
  const arg = value.slice(eq + 1).trim();
  const onOff = (): boolean => {
    if (/^on$/i.test(arg)) return true;
    if (/^off$/i.test(arg)) return false;
    throw new SecLangError(`ctl:${name} takes On or Off, not ${arg}`);
  };
  const targetOf = (spec: string): Exclusion => {
    const { targets } = parseTargets(spec);
    if (targets.length !== 1) throw new SecLangError(`ctl:${name} needs one target`);
    return { variable: targets[0]!.variable, selector: targets[0]!.selector };
  };
  switch (name) {
    case 'ruleRemoveById':
      return { kind: 'ruleRemoveById', ranges: parseRanges(arg) };
    case 'ruleRemoveByTag':
      return { kind: 'ruleRemoveByTag', tag: compilePcre(arg, true).regex };
    case 'ruleRemoveTargetById': {
      const [ids, spec] = arg.split(';');
      if (spec === undefined) throw new SecLangError(`ctl:${name} needs id;TARGET`);
      return { kind: 'ruleRemoveTargetById', ranges: parseRanges(ids!), exclusion: targetOf(spec) };
    }
    case 'ruleRemoveTargetByTag': {
      const [tag, spec] = arg.split(';');
      if (spec === undefined) throw new SecLangError(`ctl:${name} needs tag;TARGET`);
      return {
        kind: 'ruleRemoveTargetByTag',
        tag: compilePcre(tag!, true).regex,
        exclusion: targetOf(spec),
      };
    }
    case 'ruleEngine':
      return { kind: 'ruleEngine', mode: engineMode(arg) };
    case 'requestBodyProcessor': {
      const p = arg.toUpperCase();
      if (!['URLENCODED', 'MULTIPART', 'JSON', 'XML'].includes(p))
        throw new SecLangError(`ctl:requestBodyProcessor=${arg} is not supported`);
      return { kind: 'requestBodyProcessor', processor: p };
    }
    case 'requestBodyAccess':
      return { kind: 'requestBodyAccess', on: onOff() };
    case 'forceRequestBodyVariable':
      return { kind: 'forceRequestBodyVariable', on: onOff() };
    case 'auditEngine':
      return { kind: 'auditEngine', on: !/^off$/i.test(arg) };
    case 'auditLogParts':
      return { kind: 'auditLogParts' };
    default:
      throw new SecLangError(`ctl:${name} is not supported`);
  }
}

function engineMode(arg: string): EngineMode {
  if (/^on$/i.test(arg)) return 'On';
  if (/^off$/i.test(arg)) return 'Off';
  if (/^detectiononly$/i.test(arg)) return 'DetectionOnly';
  throw new SecLangError(`rule engine mode ${arg} is not On, Off or DetectionOnly`);
}

function parseSetVar(value: string): SetVar {
  let text = value.trim();
  if (text.startsWith('!')) {
    text = text.slice(1);
    const dot = text.indexOf('.');
    if (dot < 0) throw new SecLangError(`setvar:${value} names no collection`);
    const name = compileMacro(text.slice(dot + 1));
    return {
      collection: text.slice(0, dot).toUpperCase(),
      name,
      lowerName: constantLower(name),
      op: 'delete',
      value: compileMacro(''),
    };
  }
  const eq = text.indexOf('=');
  const lhs = eq < 0 ? text : text.slice(0, eq);
  let rhs = eq < 0 ? '1' : text.slice(eq + 1);
  const dot = lhs.indexOf('.');
  if (dot < 0) throw new SecLangError(`setvar:${value} names no collection`);
  const collection = lhs.slice(0, dot).toUpperCase();
  if (collection !== 'TX' && !PERSISTENT.has(collection))
    throw new SecLangError(`setvar on the collection ${collection} is not supported`);
  let op: SetVar['op'] = 'set';
  if (rhs.startsWith('+')) {
    op = 'add';
    rhs = rhs.slice(1);
  } else if (rhs.startsWith('-')) {
    op = 'sub';
    rhs = rhs.slice(1);
  }
  const name = compileMacro(lhs.slice(dot + 1));
  return { collection, name, lowerName: constantLower(name), op, value: compileMacro(rhs) };
}

function constantLower(macro: Macro): string | undefined {
  return macro.refs.length === 0 ? macro.text.toLowerCase() : undefined;
}

function phaseOf(value: string): number {
  const v = value.toLowerCase();
  if (v === 'request') return 2;
  if (v === 'response') return 4;
  if (v === 'logging') return 5;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 5) throw new SecLangError(`phase:${value} is not 1-5`);
  return n;
}

function parseActions(text: string, warnings: string[], where: () => string): ActionSet {
  const set: ActionSet = {
    tags: [],
    transforms: [],
    resetTransforms: false,
    setvars: [],
    expirevars: [],
    initcols: [],
    ctls: [],
    chain: false,
    capture: false,
    multiMatch: false,
    skip: 0,
  };
  for (const [rawName, value] of splitActions(text)) {
    const name = rawName.toLowerCase();
    const need = (): string => {
      if (value === undefined) throw new SecLangError(`the action ${rawName} needs a value`);
      return value;
    };
    switch (name) {
      case 'id': {
        const id = Number(need());
        if (!Number.isInteger(id) || id <= 0)
          throw new SecLangError(`id:${value} is not a positive integer`);
        set.id = id;
        break;
      }
      case 'phase':
        set.phase = phaseOf(need());
        break;
      case 'pass':
      case 'deny':
      case 'block':
      case 'allow':
      case 'drop':
        if (name === 'allow' && value !== undefined)
          throw new SecLangError(`allow:${value} is not supported`);
        set.disruptive = name;
        break;
      case 'status': {
        const status = Number(need());
        if (!Number.isInteger(status) || status < 100 || status > 599)
          throw new SecLangError(`status:${value} is not an HTTP status`);
        set.status = status;
        break;
      }
      case 'log':
        set.log = true;
        break;
      case 'nolog':
        set.log = false;
        break;
      case 'msg':
        set.msg = compileMacro(need());
        break;
      case 'logdata':
        set.logdata = compileMacro(need());
        break;
      case 'severity': {
        const v = need();
        const n = Number(v);
        const sev = Number.isInteger(n)
          ? SEVERITIES[n]
          : SEVERITIES.find((s) => s === v.toUpperCase());
        if (sev === undefined) throw new SecLangError(`severity:${v} is not a severity`);
        set.severity = sev;
        break;
      }
      case 'tag':
        set.tags.push(need());
        break;
      case 't': {
        const t = need();
        if (t.toLowerCase() === 'none') {
          set.transforms = [];
          set.resetTransforms = true;
          break;
        }
        const fn = TRANSFORMS[t.toLowerCase()];
        if (fn === undefined) throw new SecLangError(`the transformation t:${t} is not supported`);
        set.transforms.push(fn);
        break;
      }
      case 'setvar':
        set.setvars.push(parseSetVar(need()));
        break;
      case 'expirevar': {
        const v = need();
        const eq = v.lastIndexOf('=');
        if (eq < 0) throw new SecLangError(`expirevar:${v} needs =seconds`);
        set.expirevars.push({
          name: compileMacro(v.slice(0, eq)),
          seconds: compileMacro(v.slice(eq + 1)),
        });
        break;
      }
      case 'initcol': {
        const v = need();
        const eq = v.indexOf('=');
        const collection = v.slice(0, eq).toUpperCase();
        if (eq < 0 || !PERSISTENT.has(collection))
          throw new SecLangError(`initcol:${v} is not supported`);
        set.initcols.push({ collection, key: compileMacro(v.slice(eq + 1)) });
        break;
      }
      case 'ctl':
        set.ctls.push(parseCtl(need()));
        break;
      case 'chain':
        set.chain = true;
        break;
      case 'capture':
        set.capture = true;
        break;
      case 'multimatch':
        set.multiMatch = true;
        break;
      case 'skip': {
        const n = Number(need());
        if (!Number.isInteger(n) || n < 1) throw new SecLangError(`skip:${value} is not a count`);
        set.skip = n;
        break;
      }
      case 'skipafter':
        set.skipAfter = need();
        break;
      default:
        if (META_ACTIONS.has(rawName) || META_ACTIONS.has(name)) break;
        throw new SecLangError(`the action ${rawName} is not supported`);
    }
  }
  void warnings;
  void where;
  return set;
}

interface State {
  rules: Array<Mutable<Rule>>;
  defaults: Array<PhaseDefaults | undefined>;
  engineMode: EngineMode;
  requestBodyAccess: boolean;
  responseBodyAccess: boolean;
  requestBodyLimit: number;
  requestBodyLimitReject: boolean;
  responseBodyLimit: number;
  responseBodyMimeTypes: string[];
  argumentsLimit: number;
  collectionTimeoutSeconds: number;
  components: string[];
  errors: string[];
  warnings: string[];
  files: Record<string, string>;
  hash: ReturnType<typeof createHash>;
  /** The rule a `chain` action is waiting to attach the next SecRule to. */
  chainParent: Mutable<Rule> | undefined;
  ids: Set<number>;
  includeDepth: number;
  regexPrefilter: RegexPrefilterSet;
}

const DEFAULT_PHASE_DEFAULTS: PhaseDefaults = {
  disruptive: 'pass',
  log: true,
  transforms: [],
  status: undefined,
};

/** Compiles directives; throws WafCompileError listing every problem. */
export function compileRuleSet(directives: string, options: CompileOptions): CompiledRuleSet {
  const state: State = {
    rules: [],
    defaults: [],
    engineMode: 'On',
    requestBodyAccess: true,
    responseBodyAccess: false,
    requestBodyLimit: 13107200,
    requestBodyLimitReject: true,
    responseBodyLimit: 524288,
    responseBodyMimeTypes: ['text/plain', 'text/html'],
    argumentsLimit: 1000,
    collectionTimeoutSeconds: 3600,
    components: [],
    errors: [],
    warnings: [],
    files: {},
    hash: createHash('sha256'),
    chainParent: undefined,
    ids: new Set(),
    includeDepth: 0,
    regexPrefilter: new RegexPrefilterSet(),
  };
  const origin = options.origin ?? '<directives>';
  state.hash.update(directives);
  runLines(logicalLines(directives, origin), state, options);
  if (state.chainParent !== undefined)
    state.errors.push(
      `${state.chainParent.file}:${state.chainParent.line}: rule ${state.chainParent.id}: chain with no rule after it`,
    );
  state.errors.push(...runnableRblRules(state.rules));
  if (state.errors.length > 0) throw new WafCompileError(state.errors);

  const phases: Rule[][] = [[], [], [], [], [], []];
  const markers = phases.map(() => new Map<string, number>());
  let ruleCount = 0;
  const transformTrie = new TransformTrie();
  const targetSpecs = new Map<string, number>();
  const prefilterPairs = new Map<string, number>();
  const prefilterGroups = new Map<string, number>();
  for (const rule of state.rules)
    for (let link: Rule | undefined = rule; link !== undefined; link = link.chain) {
      const mutable = link as Mutable<Rule>;
      mutable.transformStep = transformTrie.intern(link.transforms);
      const prefixes: TransformStep[] = [];
      for (let step = link.transformStep; step !== undefined; step = step.parent)
        prefixes.unshift(step);
      mutable.transformPrefixes = prefixes;
      mutable.targetSpecs = link.targets.map((t) => {
        const key = [
          t.variable,
          t.count ? '&' : '',
          selectorKey(t.selector),
          ...link.exclusions
            .filter((e) => e.variable === t.variable)
            .map((e) => selectorKey(e.selector)),
        ].join('\0');
        let id = targetSpecs.get(key);
        if (id === undefined) targetSpecs.set(key, (id = targetSpecs.size));
        return id;
      });
      const prefiltered =
        (link.operator.prefilterSlot ?? -1) >= 0 && !link.negated && !link.multiMatch;
      mutable.prefilterPairs = link.targets.map((t, i) => {
        if (!prefiltered || t.collection < 0) return -1;
        const key = `${link.targetSpecs[i]!}:${link.transformStep?.id ?? 0}`;
        let id = prefilterPairs.get(key);
        if (id === undefined) prefilterPairs.set(key, (id = prefilterPairs.size));
        return id;
      });
      mutable.prefilterGroup = -1;
      if (link.prefilterPairs.length > 0 && link.prefilterPairs.every((p) => p >= 0)) {
        const key = link.prefilterPairs.join(',');
        let id = prefilterGroups.get(key);
        if (id === undefined) prefilterGroups.set(key, (id = prefilterGroups.size));
        mutable.prefilterGroup = id;
      }
    }
  state.regexPrefilter.build();
  for (const rule of state.rules) {
    if (rule.marker !== undefined) {
      for (let p = 1; p <= 5; p++) {
        markers[p]!.set(rule.marker, phases[p]!.length);
        phases[p]!.push(rule);
      }
      continue;
    }
    ruleCount++;
    phases[rule.phase]!.push(rule);
  }
  return {
    hash: state.hash.digest('hex'),
    phases,
    markers,
    ruleCount,
    engineMode: state.engineMode,
    requestBodyAccess: state.requestBodyAccess,
    responseBodyAccess: state.responseBodyAccess,
    requestBodyLimit: state.requestBodyLimit,
    requestBodyLimitReject: state.requestBodyLimitReject,
    responseBodyLimit: state.responseBodyLimit,
    responseBodyMimeTypes: state.responseBodyMimeTypes,
    argumentsLimit: state.argumentsLimit,
    collectionTimeoutSeconds: state.collectionTimeoutSeconds,
    components: state.components,
    warnings: state.warnings,
    files: state.files,
    regexPrefilter: state.regexPrefilter,
    transformTrie,
    targetSpecCount: targetSpecs.size,
    prefilterPairCount: prefilterPairs.size,
    prefilterGroupCount: prefilterGroups.size,
  };
}

function selectorKey(selector: string | RegExp | undefined): string {
  if (selector === undefined) return '*';
  return typeof selector === 'string' ? `=${selector}` : `/${selector.source}/${selector.flags}`;
}

function runLines(lines: readonly LogicalLine[], state: State, options: CompileOptions): void {
  for (const line of lines) {
    try {
      directive(line, state, options);
    } catch (err) {
      if (!(err instanceof SecLangError)) throw err;
      state.errors.push(`${line.file}:${line.line}: ${err.message}`);
    }
  }
}

function readFile(file: string, state: State, options: CompileOptions): string {
  const cached = state.files[file];
  if (cached !== undefined) return cached;
  let text: string;
  try {
    text = options.loader.readFile(file);
  } catch (err) {
    throw new SecLangError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  state.files[file] = text;
  state.hash.update(`\0${file}\0${text}`);
  return text;
}

const onOff = (name: string, args: readonly string[]): boolean => {
  const v = args[0] ?? '';
  if (/^on$/i.test(v)) return true;
  if (/^off$/i.test(v)) return false;
  throw new SecLangError(`${name} takes On or Off, not "${v}"`);
};

const positive = (name: string, args: readonly string[]): number => {
  const n = Number(args[0]);
  if (!Number.isInteger(n) || n <= 0) throw new SecLangError(`${name} needs a positive integer`);
  return n;
};

function directive(line: LogicalLine, state: State, options: CompileOptions): void {
  const args = splitArgs(line.text);
  const name = args.shift()!;
  switch (name.toLowerCase()) {
    case 'include': {
      if (args.length !== 1) throw new SecLangError('Include takes one path');
      if (state.includeDepth > 16) throw new SecLangError('Include nests too deep');
      const target = resolveInclude(args[0]!, line.file);
      const files = hasGlob(target) ? options.loader.glob(target) : [target];
      if (files.length === 0) throw new SecLangError(`Include ${args[0]} matches no file`);
      state.includeDepth++;
      try {
        for (const file of files)
          runLines(logicalLines(readFile(file, state, options), file), state, options);
      } finally {
        state.includeDepth--;
      }
      return;
    }
    case 'secrule':
      if (args.length < 2 || args.length > 3)
        throw new SecLangError('SecRule takes VARIABLES "OPERATOR" ["ACTIONS"]');
      addRule(line, state, options, args[0], args[1], args[2] ?? '');
      return;
    case 'secaction':
      if (args.length !== 1) throw new SecLangError('SecAction takes "ACTIONS"');
      addRule(line, state, options, undefined, undefined, args[0]!);
      return;
    case 'secmarker': {
      if (args.length !== 1) throw new SecLangError('SecMarker takes a name');
      state.rules.push(markerRule(line, args[0]!));
      return;
    }
    case 'secdefaultaction': {
      const set = parseActions(args[0] ?? '', state.warnings, () => '');
      if (set.phase === undefined) throw new SecLangError('SecDefaultAction needs a phase');
      if (
        set.id !== undefined ||
        set.chain ||
        set.skipAfter !== undefined ||
        set.setvars.length > 0
      )
        throw new SecLangError('SecDefaultAction takes only disruptive, log and t: actions');
      state.defaults[set.phase] = {
        disruptive: set.disruptive ?? 'pass',
        log: set.log ?? true,
        transforms: set.transforms,
        status: set.status,
      };
      return;
    }
    case 'secruleengine':
      state.engineMode = engineMode(args[0] ?? '');
      return;
    case 'secrequestbodyaccess':
      state.requestBodyAccess = onOff(name, args);
      return;
    case 'secresponsebodyaccess':
      state.responseBodyAccess = onOff(name, args);
      return;
    case 'secrequestbodylimit':
      state.requestBodyLimit = positive(name, args);
      return;
    case 'secrequestbodynofileslimit':
      positive(name, args);
      return;
    case 'secrequestbodylimitaction':
      if (!/^(reject|processpartial)$/i.test(args[0] ?? ''))
        throw new SecLangError('SecRequestBodyLimitAction takes Reject or ProcessPartial');
      state.requestBodyLimitReject = /^reject$/i.test(args[0]!);
      return;
    case 'secresponsebodylimit':
      state.responseBodyLimit = positive(name, args);
      return;
    case 'secresponsebodymimetype':
      state.responseBodyMimeTypes = args
        .join(' ')
        .split(/\s+/)
        .filter((s) => s !== '')
        .map((s) => s.toLowerCase());
      return;
    case 'secargumentslimit':
      state.argumentsLimit = positive(name, args);
      return;
    case 'seccollectiontimeout':
      state.collectionTimeoutSeconds = positive(name, args);
      return;
    case 'seccomponentsignature':
      state.components.push(args.join(' '));
      return;
    case 'secruleremovebyid': {
      const ranges = parseRanges(args.join(' '));
      removeRules(state, (r) => inRanges(r.id, ranges));
      return;
    }
    case 'secruleremovebytag': {
      const tag = compilePcre(args[0] ?? '', true).regex;
      removeRules(state, (r) => r.tags.some((t) => tag.test(t)));
      return;
    }
    case 'secruleremovebymsg': {
      const msg = compilePcre(args[0] ?? '', true).regex;
      removeRules(state, (r) => r.msg !== undefined && msg.test(r.msg.text));
      return;
    }
    case 'secruleupdatetargetbyid':
    case 'secruleupdatetargetbytag': {
      if (args.length !== 2)
        throw new SecLangError(`${name} with a replacement target is not supported`);
      const byId = name.toLowerCase() === 'secruleupdatetargetbyid';
      const ranges = byId ? parseRanges(args[0]!) : [];
      const tag = byId ? undefined : compilePcre(args[0]!, true).regex;
      const { targets, exclusions } = parseTargets(args[1]!);
      for (const rule of state.rules) {
        if (rule.marker !== undefined) continue;
        const hit = byId ? inRanges(rule.id, ranges) : rule.tags.some((t) => tag!.test(t));
        if (!hit) continue;
        rule.targets = [...rule.targets, ...targets];
        rule.exclusions = [...rule.exclusions, ...exclusions];
      }
      return;
    }
    default:
      throw new SecLangError(`the directive ${name} is not supported`);
  }
}

function removeRules(state: State, pred: (r: Rule) => boolean): void {
  state.rules = state.rules.filter((r) => r.marker !== undefined || !pred(r));
}

const NO_OP: Operator = { name: 'unconditionalMatch', linear: true, test: () => true };

function markerRule(line: LogicalLine, name: string): Mutable<Rule> {
  return {
    id: 0,
    file: line.file,
    line: line.line,
    phase: 0,
    marker: name,
    targets: [],
    exclusions: [],
    operator: NO_OP,
    negated: false,
    transforms: [],
    transformStep: undefined,
    transformPrefixes: [],
    targetSpecs: [],
    prefilterPairs: [],
    prefilterGroup: -1,
    multiMatch: false,
    capture: false,
    disruptive: undefined,
    status: undefined,
    log: false,
    msg: undefined,
    logdata: undefined,
    severity: undefined,
    tags: [],
    setvars: [],
    expirevars: [],
    initcols: [],
    ctls: [],
    skip: 0,
    skipAfter: undefined,
    chain: undefined,
    unconditional: true,
  };
}

function addRule(
  line: LogicalLine,
  state: State,
  options: CompileOptions,
  variables: string | undefined,
  operatorText: string | undefined,
  actionsText: string,
): void {
  const parent = state.chainParent;
  let idText = '';
  const idMatch = /(?:^|,)\s*id\s*:\s*'?(\d+)/.exec(actionsText);
  if (idMatch !== null) idText = `rule ${idMatch[1]}: `;
  else if (parent !== undefined) idText = `rule ${parent.id} (chained): `;
  try {
    const set = parseActions(actionsText, state.warnings, () => idText);
    if (parent === undefined) {
      if (set.id === undefined) throw new SecLangError('a rule needs an id');
      if (state.ids.has(set.id)) throw new SecLangError(`the id ${set.id} is used twice`);
      state.ids.add(set.id);
    } else if (set.id !== undefined || set.phase !== undefined || set.disruptive !== undefined) {
      throw new SecLangError('a chained rule cannot have id, phase or a disruptive action');
    }
    const phase = parent?.phase ?? set.phase ?? 2;
    const defaults = state.defaults[phase] ?? DEFAULT_PHASE_DEFAULTS;
    let targets: Target[] = [];
    let exclusions: Exclusion[] = [];
    let operator: Operator = NO_OP;
    let negated = false;
    if (variables !== undefined && operatorText !== undefined) {
      ({ targets, exclusions } = parseTargets(variables));
      let op = operatorText.trim();
      if (op.startsWith('!')) {
        negated = true;
        op = op.slice(1).trim();
      }
      let opName = 'rx';
      let opArg = op;
      if (op.startsWith('@')) {
        const space = op.search(/\s/);
        opName = space < 0 ? op.slice(1) : op.slice(1, space);
        opArg = space < 0 ? '' : op.slice(space + 1).trim();
      }
      if (opName.toLowerCase() === 'rbl') {
        // Loads only where it can never run (refused after loading otherwise, see rbl.ts).
        operator = { name: 'rbl', linear: true, test: () => false };
      } else {
        operator = compileOperator(opName, opArg, {
          detectors: options.detectors,
          regexPrefilter: state.regexPrefilter,
          readData: (file) => readFile(path.resolve(path.dirname(line.file), file), state, options),
        });
      }
    }
    const rule: Mutable<Rule> = {
      id: parent === undefined ? set.id! : 0,
      file: line.file,
      line: line.line,
      phase,
      marker: undefined,
      targets,
      exclusions,
      operator,
      negated,
      transforms: set.resetTransforms
        ? set.transforms
        : [...defaults.transforms, ...set.transforms],
      transformStep: undefined,
      transformPrefixes: [],
      targetSpecs: [],
      prefilterPairs: [],
      prefilterGroup: -1,
      multiMatch: set.multiMatch,
      capture: set.capture,
      disruptive: set.disruptive,
      status: set.status ?? defaults.status,
      log: set.log ?? defaults.log,
      msg: set.msg,
      logdata: set.logdata,
      severity: set.severity,
      tags: set.tags,
      setvars: set.setvars,
      expirevars: set.expirevars,
      initcols: set.initcols,
      ctls: set.ctls,
      skip: set.skip,
      skipAfter: set.skipAfter,
      chain: undefined,
      unconditional: variables === undefined,
    };
    if (parent === undefined) {
      if (rule.disruptive === 'block' || rule.disruptive === undefined)
        rule.disruptive = rule.disruptive === 'block' ? defaults.disruptive : undefined;
      state.rules.push(rule);
    } else {
      parent.chain = rule;
    }
    state.chainParent = set.chain ? rule : undefined;
    // A chain's links keep the starter's id for messages.
    if (set.chain && parent !== undefined) rule.id = 0;
  } catch (err) {
    if (err instanceof SecLangError) {
      state.chainParent = undefined;
      throw new SecLangError(`${idText}${err.message}`);
    }
    throw err;
  }
}
