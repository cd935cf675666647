/**
 * One request through a CompiledRuleSet: the variables, the phase runs and their outcome.
 * Phases follow ModSecurity: 1 request headers, 2 request body, 3 response headers, 4 response
 * body, 5 logging. Rules run in order; skip/skipAfter move within the phase; `deny`/`drop`
 * end the transaction with an intervention unless the engine is DetectionOnly; `allow` stops
 * rule processing. Actions of a rule link (setvar, ctl, ...) run once per matched value, as
 * libmodsecurity v3 runs them, so CRS's anomaly scores add up the same way; logging and the
 * disruptive action wait for the whole chain.
 */
import { inRanges, type CompiledRuleSet } from './compile.js';
import type { Macro } from './macro.js';
import type { Operator, OperatorContext } from './operators.js';
import type { Ctl, EngineMode, Exclusion, Rule, Target } from './rule.js';
import type { TransformStep } from './transform-chain.js';
import { mayMatch } from './regex-prefilter-set.js';
import { TextMemo } from './text-memo.js';
import {
  multipartBoundary,
  parseJson,
  parseMultipart,
  parseUrlEncoded,
  uriDecode,
  type Arg,
} from './body.js';
import { PersistentCollections } from './persistent.js';
import {
  buildPrograms,
  EVALUATE,
  JUMP,
  SEED,
  type Probe,
  type Programs,
  type Step,
} from './rule-program.js';
import { parseXmlBody } from './xml-body.js';
import { DATA_COLLECTIONS, DATA_COLLECTION_INDEX } from './data-collections.js';
import { HELD_SCALARS, HELD_SCALAR_SLOT, PERSISTENT } from './variables.js';
import { TxCollection, type TxPicker } from './tx-collection.js';

export interface Intervention {
  readonly status: number;
  /** The rule that disrupted (0: none, e.g. a body limit). */
  readonly ruleId: number;
  readonly msg: string;
  /** `drop`: the connection is to be closed instead of answered. */
  readonly drop: boolean;
}

/**
 * Bounds on what one transaction may cost on hostile input (ModSecurity has none). CRS's
 * backtracking regexes take time superlinear in the value's length, so a few KiB of crafted
 * text could hold a worker for seconds.
 */
export interface WafLimits {
  /**
   * Regex operators (@rx) see at most this many bytes of each value (after its
   * transformations); the rest of a longer value is not inspected by them. Other operators
   * (@detectSQLi, @pm, ...) see the whole value. 0: no limit.
   */
  readonly regexInspectionBytes: number;
  /**
   * Milliseconds (wall clock, so a loaded host spends it sooner) the rules of one transaction may
   * take, summed over its phases and checked between rules (see WORK_PER_CLOCK_READ). Once
   * spent, rule evaluation stops: with the engine On the request is refused (status 403, rule
   * id 0), in DetectionOnly it passes and `budgetExceeded` is set for the log. 0: no budget.
   */
  readonly timeBudgetMs: number;
}

export const DEFAULT_WAF_LIMITS: WafLimits = { regexInspectionBytes: 4096, timeBudgetMs: 1000 };

/**
 * The time budget is checked before a phase's first rule, then before a rule once the rules
 * since the last check have done this much work (see #work): reading the clock costs more than
 * most rules do. A spent budget is noticed at most this much work, and one rule, late.
 */
const WORK_PER_CLOCK_READ = 2048;
/** Work units a rule link, and an operator test on top of its value's length, count. */
const WORK_PER_TEST = 32;

export interface MatchedRule {
  readonly id: number;
  readonly phase: number;
  readonly msg: string;
  readonly data: string;
  readonly severity: string | undefined;
  readonly disruptive: boolean;
}

export interface RequestLine {
  readonly method: string;
  /** The request target as received (path and query). */
  readonly uri: string;
  /** e.g. "HTTP/1.1". */
  readonly protocol: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly remoteAddr: string;
  readonly remotePort: number;
  readonly uniqueId: string;
}

interface Value {
  /** ModSecurity's name: `ARGS:id`, `REQUEST_URI`, ... */
  readonly name: string;
  /** The key within the collection (`id` for `ARGS:id`; '' for a scalar). */
  readonly key: string;
  /** `key` lower-cased (selectors and exclusions compare keys case-insensitively). */
  readonly lowerKey: string;
  readonly value: string;
  /** What the transaction computed from `value` (set on first use). */
  cache?: ValueCache;
}

const EMPTY: readonly Value[] = [];
/** #pairCandidates' start (never its result: a target without values is skipped before). */
const NO_VALUES = new Uint32Array(0);

/**
 * The DATA_COLLECTIONS a phase's data can change (the transaction keeps the values of the others
 * from phase to phase). Phase 1 starts with none resolved; phase 2 without a body to parse and
 * phases 4 and 5 change none.
 */
const NO_CHANGE: readonly string[] = [];
const EMPTY_VALUE: Value = { name: '', key: '', lowerKey: '', value: '' };
const REQUEST_BODY_COLLECTIONS: readonly string[] = [
  'ARGS',
  'ARGS_POST',
  'ARGS_NAMES',
  'ARGS_POST_NAMES',
  'ARGS_COMBINED_SIZE',
  'FILES',
  'FILES_NAMES',
  'FILES_SIZES',
  'MULTIPART_PART_HEADERS',
  'XML',
];
const RESPONSE_HEADER_COLLECTIONS: readonly string[] = [
  'RESPONSE_HEADERS',
  'RESPONSE_HEADERS_NAMES',
];

/**
 * What a transaction knows of one value (by its text): its transformed forms and @rx prefilter
 * candidates, indexed by TransformStep id (0: the untransformed value).
 */
interface ValueCache {
  readonly out: Array<string | undefined>;
  readonly candidates: Array<Uint32Array | undefined>;
}

type Entry = { key: string; value: string };
/** What setvar reads and writes: TX or one of the persistent collections. */
interface EntryCollection {
  get(name: string): Entry | undefined;
  set(name: string, entry: Entry): void;
  delete(name: string): void;
}
/** A TX variable; `view` is its value list as a `TX:name` target yields it (made on first use). */
type TxEntry = Entry & { view?: readonly Value[] };

/** The programs of each rule set (built when it is compiled through index.ts, else on first use). */
const PROGRAMS = new WeakMap<CompiledRuleSet, Programs<Value, TxEntry>>();

/**
 * Per program (a phase's steps), SCREEN_STRIDE numbers per step i, from SCREEN_STRIDE * i: the
 * prefilter group of the rule it evaluates (Rule.prefilterGroup; -1 for a step without one, JUMP
 * and SEED), the rule's operator slot, then where its targets' values come from as two bitmasks:
 * the DATA_COLLECTIONS it reads whole (bit Target.collection) and the request headers it reads
 * by name (REQUEST_HEADERS:name, bit from headerBitsOf). Both are 0 unless every target is a
 * value target (not `&`) of one of those. A transaction skips a rule that its group's united
 * candidates rule out, or all of whose targets are empty for this request (the collections empty,
 * the headers not sent), by these numbers alone, without reading the rule: most of CRS's rules
 * end there on an ordinary request, and the rules are objects spread over the heap, which the
 * rest of the proxy's work pushes out of the CPU's caches between requests.
 */
const SCREENS = new WeakMap<ReadonlyArray<Step<Value, TxEntry>>, Int32Array>();
const SCREEN_STRIDE = 4;
const REQUEST_HEADERS_COLLECTION = DATA_COLLECTION_INDEX.get('REQUEST_HEADERS')!;

function screenOf(
  steps: ReadonlyArray<Step<Value, TxEntry>>,
  headerBits: ReadonlyMap<string, number>,
): Int32Array {
  let screen = SCREENS.get(steps);
  if (screen === undefined) {
    screen = new Int32Array(steps.length * SCREEN_STRIDE);
    for (let i = 0; i < steps.length; i++) {
      const at = SCREEN_STRIDE * i;
      screen[at] = -1;
      const step = steps[i]!;
      if (step.kind !== EVALUATE) continue;
      const rule = step.rule;
      if (rule.prefilterGroup >= 0) {
        screen[at] = rule.prefilterGroup;
        screen[at + 1] = rule.operator.prefilterSlot!;
      }
      let collections = 0;
      let headers = 0;
      for (const t of rule.targets) {
        if (t.collection < 0 || t.count) {
          collections = headers = 0;
          break;
        }
        const bit =
          t.collection === REQUEST_HEADERS_COLLECTION && typeof t.selector === 'string'
            ? headerBits.get(t.selector)
            : undefined;
        if (bit === undefined) collections |= 1 << t.collection;
        else headers |= 1 << bit;
      }
      screen[at + 2] = collections;
      screen[at + 3] = headers;
    }
    SCREENS.set(steps, screen);
  }
  return screen;
}

/**
 * The header names a rule set's REQUEST_HEADERS:name targets select (lower-case), the first 32
 * with a bit of the screen's header mask each; a target naming another reads as the whole
 * collection there.
 */
function headerBitsOf(ruleSet: CompiledRuleSet): Map<string, number> {
  const bits = new Map<string, number>();
  for (const phase of ruleSet.phases)
    for (const rule of phase)
      for (let link: Rule | undefined = rule; link !== undefined; link = link.chain)
        for (const t of link.targets)
          if (
            t.variable === 'REQUEST_HEADERS' &&
            typeof t.selector === 'string' &&
            !bits.has(t.selector) &&
            bits.size < 32
          )
            bits.set(t.selector, bits.size);
  return bits;
}

/**
 * Texts up to this length share their ValueCache and prefilter candidates with the other
 * transactions of the rule set (see text-memo.ts); longer ones (bodies, large arguments) are
 * cached for their transaction only. Header values, paths and argument names fit.
 */
const SHARED_TEXT_MAX_LENGTH = 256;
/**
 * Entries per generation of each shared memo: at most twice this many texts of at most
 * SHARED_TEXT_MAX_LENGTH chars, with their forms (one per transformation chain node) and bitsets.
 */
const SHARED_TEXT_ENTRIES = 1024;
/**
 * New texts one transaction may add to the shared memos; the rest are its own. A request with
 * many unique values (a form's fields) would otherwise turn the memos over every few requests
 * and push out what other requests repeat. The request's headers and path come first (phase 1).
 */
const SHARED_NEW_PER_TRANSACTION = 64;
/** Counts above this get a value list of their own (see WafTransaction's #countView). */
const MAX_SHARED_COUNT = 64;
/** Slots of each memo's table of texts seen before (see SeenTexts). */
const SEEN_TEXT_SLOTS = 4096;

interface SharedTextCaches {
  /** headerBitsOf(the rule set). */
  readonly headerBits: ReadonlyMap<string, number>;
  readonly values: TextMemo<ValueCache>;
  readonly candidates: TextMemo<Uint32Array>;
  /** Count targets' value lists by Target.countName and count (see #countView). */
  readonly countViews: Map<string, Array<readonly Value[] | undefined>>;
  /** Per `TX:/regex/` selector: which TX variable names it picks. */
  readonly selectors: Map<RegExp, SelectorPicker>;
  /** The Scratch of ended transactions, for the next ones (at most MAX_POOLED_SCRATCH). */
  readonly scratch: Scratch[];
}

/** Scratch kept for reuse per rule set: what a worker's requests in flight at once need. */
const MAX_POOLED_SCRATCH = 256;

/**
 * A transaction's per-target and per-prefilter caches, one slot per id of the rule set (see
 * WafTransaction), reused by a later transaction of the rule set once one ends: a transaction
 * would otherwise allocate and fill several hundred slots, and hold them while its request is in
 * flight. A slot is valid while its stamp is a generation of the transaction using the scratch:
 * each starts its generations above every stamp written before (`generation`).
 */
class Scratch {
  readonly targetValues: Array<readonly Value[] | undefined>;
  // Plain arrays: typed ones this size would get a slow off-heap buffer each.
  readonly targetStamp: number[];
  readonly pairUnion: Array<Uint32Array | undefined>;
  readonly pairStamp: number[];
  readonly groupUnion: Array<Uint32Array | undefined>;
  readonly groupStamp: number[];
  /** The bitset each pair and group unites its candidates into when they differ (made once). */
  readonly pairBuffer: Array<Uint32Array | undefined>;
  readonly groupBuffer: Array<Uint32Array | undefined>;
  /** MATCHED_VARS' list: a transaction uses the start of it (keeping its capacity). */
  readonly matchedVars: Value[] = [];
  /** Above every stamp written so far. */
  generation = 1;

  constructor(ruleSet: CompiledRuleSet) {
    this.targetValues = new Array<readonly Value[] | undefined>(ruleSet.targetSpecCount);
    this.targetStamp = new Array<number>(ruleSet.targetSpecCount).fill(0);
    this.pairUnion = new Array<Uint32Array | undefined>(ruleSet.prefilterPairCount);
    this.pairStamp = new Array<number>(ruleSet.prefilterPairCount).fill(0);
    this.groupUnion = new Array<Uint32Array | undefined>(ruleSet.prefilterGroupCount);
    this.groupStamp = new Array<number>(ruleSet.prefilterGroupCount).fill(0);
    this.pairBuffer = new Array<Uint32Array | undefined>(ruleSet.prefilterPairCount);
    this.groupBuffer = new Array<Uint32Array | undefined>(ruleSet.prefilterGroupCount);
  }

  /** Ready for another transaction whose generations start at `generation`. */
  release(lastGeneration: number, matchedCount: number): void {
    this.generation = lastGeneration + 1;
    // No stale value keeps a request's data alive while pooled.
    this.matchedVars.fill(EMPTY_VALUE, 0, matchedCount);
    this.targetValues.fill(undefined);
    this.pairUnion.fill(undefined);
    this.groupUnion.fill(undefined);
  }
}
/**
 * A `TX:/regex/` selector's answers: per TX variable name (remembered for names up to
 * SHARED_TEXT_MAX_LENGTH), and the variables of the rule set's seed it picks.
 */
class SelectorPicker implements TxPicker<TxEntry> {
  readonly #selector: RegExp;
  readonly #names = new TextMemo<boolean>(SHARED_TEXT_ENTRIES);
  #seed: ReadonlyMap<string, TxEntry> | undefined;
  #seedPicks: readonly TxEntry[] = [];

  constructor(selector: RegExp) {
    this.#selector = selector;
  }

  picks(entry: TxEntry): boolean {
    const key = entry.key;
    let pick = this.#names.get(key);
    if (pick === undefined) {
      pick = this.#selector.test(key);
      if (key.length <= SHARED_TEXT_MAX_LENGTH) this.#names.set(key, pick);
    }
    return pick;
  }

  ofSeed(seed: ReadonlyMap<string, TxEntry>): readonly TxEntry[] {
    if (this.#seed !== seed) {
      const picks: TxEntry[] = [];
      for (const e of seed.values()) if (this.#selector.test(e.key)) picks.push(e);
      this.#seed = seed;
      this.#seedPicks = picks;
    }
    return this.#seedPicks;
  }
}

/** The shared text caches of each rule set (its TransformStep ids index a ValueCache). */
const SHARED = new WeakMap<CompiledRuleSet, SharedTextCaches>();

function sharedCachesOf(ruleSet: CompiledRuleSet): SharedTextCaches {
  let shared = SHARED.get(ruleSet);
  if (shared === undefined) {
    shared = {
      headerBits: headerBitsOf(ruleSet),
      values: new TextMemo<ValueCache>(SHARED_TEXT_ENTRIES, SEEN_TEXT_SLOTS),
      candidates: new TextMemo<Uint32Array>(SHARED_TEXT_ENTRIES, SEEN_TEXT_SLOTS),
      selectors: new Map<RegExp, SelectorPicker>(),
      countViews: new Map(),
      scratch: [],
    };
    SHARED.set(ruleSet, shared);
  }
  return shared;
}
/** The probe's limits: it runs single rules outside any phase. */
const NO_LIMITS: WafLimits = { regexInspectionBytes: 0, timeBudgetMs: 0 };

/**
 * The single-valued variables a transaction holds (HELD_SCALARS), by slot, with the value list
 * each yields kept until it is set again.
 */
class Scalars {
  readonly #values = new Array<string | undefined>(HELD_SCALARS.length);
  readonly #views = new Array<readonly Value[] | undefined>(HELD_SCALARS.length);
  /** `name` is one of HELD_SCALARS. */
  set(name: string, value: string): void {
    const slot = HELD_SCALAR_SLOT.get(name)!;
    this.#values[slot] = value;
    this.#views[slot] = undefined;
  }
  /** The value list of the variable at `slot`. */
  view(slot: number): readonly Value[] {
    let view = this.#views[slot];
    if (view === undefined) {
      const value = this.#values[slot];
      view =
        value === undefined ? EMPTY : [{ name: HELD_SCALARS[slot]!, key: '', lowerKey: '', value }];
      this.#views[slot] = view;
    }
    return view;
  }
  /** The value list of a variable by name (empty for one the transaction does not hold). */
  viewOf(name: string): readonly Value[] {
    const slot = HELD_SCALAR_SLOT.get(name);
    return slot === undefined ? EMPTY : this.view(slot);
  }
}

/** The ValueCaches of an argument list's values and names, by index (see WafTransaction). */
class ArgCaches {
  readonly values: Array<ValueCache | undefined> = [];
  readonly names: Array<ValueCache | undefined> = [];
}

/** A collection of key/value pairs with case-insensitive keys (several values per key). */
class Multi {
  readonly entries: Entry[] = [];
  add(key: string, value: string): void {
    this.entries.push({ key, value });
  }
}

/** The value list of a TX variable (made on first use, kept with the entry). */
function txValues(entry: TxEntry): readonly Value[] {
  return (entry.view ??= [
    {
      name: `TX:${entry.key}`,
      key: entry.key,
      lowerKey: entry.key.toLowerCase(),
      value: entry.value,
    },
  ]);
}

/** `a | b` (same length) written into `out` (neither of them). */
function unite(a: Uint32Array, b: Uint32Array, out: Uint32Array): Uint32Array {
  for (let k = 0; k < a.length; k++) out[k] = a[k]! | b[k]!;
  return out;
}

function exclusionHits(e: Exclusion, variable: string, v: Value): boolean {
  if (e.variable !== variable) return false;
  const sel = e.selector;
  return sel === undefined || (typeof sel === 'string' ? sel === v.lowerKey : sel.test(v.key));
}

/** `PREFIX:key` values of an argument list: their values, or their names (`*_NAMES`). */
function named(prefix: string, list: readonly Arg[], ofNames = false): Value[] {
  const out: Value[] = new Array<Value>(list.length);
  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    out[i] = {
      name: `${prefix}:${a.name}`,
      key: a.name,
      lowerKey: a.name.toLowerCase(),
      value: ofNames ? a.name : a.value,
    };
  }
  return out;
}

function names(prefix: string, list: readonly Arg[]): Value[] {
  return named(prefix, list, true);
}

function entries(prefix: string, list: readonly Entry[], ofNames: boolean): Value[] {
  const out: Value[] = new Array<Value>(list.length);
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    out[i] = {
      name: `${prefix}:${e.key}`,
      key: e.key,
      lowerKey: e.key.toLowerCase(),
      value: ofNames ? e.key : e.value,
    };
  }
  return out;
}

export class WafTransaction implements OperatorContext {
  readonly matched: MatchedRule[] = [];
  #mode: EngineMode;
  #allowed = false;
  #intervention: Intervention | undefined;
  #auditEnabled = true;

  // Request data.
  readonly #argsGet: Arg[] = [];
  readonly #argsPost: Arg[] = [];
  /** Arguments of a JSON body: in ARGS and ARGS_NAMES, not ARGS_POST (as ModSecurity v3). */
  readonly #argsJson: Arg[] = [];
  /**
   * The ValueCache of each argument's value and name, by index in its list: ARGS, ARGS_GET,
   * ARGS_POST and the name lists make their own values of one argument, which share one cache
   * object instead of each looking its text up (#cacheOf).
   */
  readonly #argsGetCaches = new ArgCaches();
  readonly #argsPostCaches = new ArgCaches();
  readonly #argsJsonCaches = new ArgCaches();
  readonly #headers = new Multi();
  readonly #cookies = new Multi();
  readonly #responseHeaders = new Multi();
  readonly #files: Arg[] = [];
  readonly #fileSizes: Arg[] = [];
  readonly #partHeaders: Arg[] = [];
  /** XML:/* (the root's text) and XML://@* (attribute values) of an XML body. */
  #xml: readonly Value[] = EMPTY;
  readonly #scalars = new Scalars();
  readonly #tx = new TxCollection<TxEntry>();
  readonly #collections = new Map<string, Map<string, Entry>>();
  /** MATCHED_VARS: the first #matchedCount of the scratch's list. */
  readonly #matchedVars: Value[];
  #matchedCount = 0;
  #matchedVar: Value = EMPTY_VALUE;
  /**
   * Resolved DATA_COLLECTIONS, by index (Target.collection); each dropped when a phase's data
   * changes it.
   */
  readonly #resolved = new Array<readonly Value[] | undefined>(DATA_COLLECTIONS.size);
  /**
   * Transformed values and prefilter candidates per input value: shared with the rule set's
   * other transactions for short texts, this transaction's own for longer ones (and for new
   * texts beyond SHARED_NEW_PER_TRANSACTION).
   */
  readonly #shared: SharedTextCaches;
  readonly #valueCache = new Map<string, ValueCache>();
  /** The arrays below, this transaction's until processLogging() hands them on. */
  readonly #scratch: Scratch;
  #ended = false;
  /**
   * The values of rule targets over DATA_COLLECTIONS, by Rule.targetSpecs id: valid while
   * #targetStamp[id] equals the generation of the target's collection, which moves on whenever
   * the collection changes. Not used for a variable that a ctl target removal names (its values
   * depend on the rule).
   */
  readonly #targetValuesCache: Array<readonly Value[] | undefined>;
  readonly #targetStamp: number[];
  /** Rule.prefilterPairs' united candidates, valid as #targetValuesCache is. */
  readonly #pairUnion: Array<Uint32Array | undefined>;
  readonly #pairStamp: number[];
  /** Rule.prefilterGroup's united candidates, valid while #groupStamp[id] is #lastGeneration. */
  readonly #groupUnion: Array<Uint32Array | undefined>;
  readonly #groupStamp: number[];
  /**
   * The generation of each of DATA_COLLECTIONS (by Target.collection); every stamp in the
   * scratch starts below.
   */
  readonly #collectionGeneration: number[];
  #lastGeneration: number;
  /** The bits (SharedTextCaches.headerBits) of the request headers sent. */
  #headersSent = 0;
  /** #nonEmptyCollections()'s answer, valid while #nonEmptyStamp is #lastGeneration. */
  #nonEmpty = 0;
  #nonEmptyStamp = -1;
  /** New texts this transaction added to the shared memos (see SHARED_NEW_PER_TRANSACTION). */
  #sharedNew = 0;
  /**
   * @rx prefilter candidates per (transformed) text that is not in the shared memo (longer than
   * SHARED_TEXT_MAX_LENGTH, or over SHARED_NEW_PER_TRANSACTION).
   */
  readonly #candidatesByText = new Map<string, Uint32Array>();
  #currentRule: Rule | undefined;
  /** TX holds the state of the rule set's SEED step (see rule-program.ts). */
  #seeded = false;
  /** Counts TX changes (for the program builder's probe). */
  #txChanges = 0;
  #bodyProcessor: string | undefined;
  #requestBodyAccess: boolean;
  // Per-transaction exclusions from ctl actions.
  readonly #removedRanges: Array<readonly [number, number]> = [];
  readonly #removedTags: RegExp[] = [];
  readonly #targetRemovals: Array<{
    ranges?: ReadonlyArray<readonly [number, number]>;
    tag?: RegExp;
    exclusion: Exclusion;
  }> = [];

  /** Rule evaluation stopped because the time budget was spent (see WafLimits). */
  #budgetExceeded = false;
  /** Milliseconds of rule evaluation so far. */
  #spentMs = 0;
  /**
   * Work since the clock was last read: characters transformed, scanned or tested, plus
   * WORK_PER_TEST per operator test (a regex falls back to its linear engine before
   * backtracking far, so a test's time is about linear in its value's length).
   */
  #work = 0;
  readonly #regexLimit: number;
  readonly #budgetMs: number;

  constructor(
    readonly ruleSet: CompiledRuleSet,
    private readonly persistent: PersistentCollections,
    mode: EngineMode,
    limits: WafLimits = DEFAULT_WAF_LIMITS,
  ) {
    this.#mode = mode;
    this.#regexLimit = limits.regexInspectionBytes > 0 ? limits.regexInspectionBytes : Infinity;
    this.#budgetMs = limits.timeBudgetMs > 0 ? limits.timeBudgetMs : Infinity;
    this.#requestBodyAccess = ruleSet.requestBodyAccess;
    this.#shared = sharedCachesOf(ruleSet);
    const scratch = this.#shared.scratch.pop() ?? new Scratch(ruleSet);
    this.#scratch = scratch;
    this.#targetValuesCache = scratch.targetValues;
    this.#targetStamp = scratch.targetStamp;
    this.#pairUnion = scratch.pairUnion;
    this.#pairStamp = scratch.pairStamp;
    this.#groupUnion = scratch.groupUnion;
    this.#groupStamp = scratch.groupStamp;
    this.#lastGeneration = scratch.generation;
    this.#matchedVars = scratch.matchedVars;
    this.#collectionGeneration = new Array<number>(DATA_COLLECTIONS.size).fill(scratch.generation);
  }

  get mode(): EngineMode {
    return this.#mode;
  }

  /** true: the time budget ran out and the remaining rules were not evaluated. */
  get budgetExceeded(): boolean {
    return this.#budgetExceeded;
  }

  /** Milliseconds spent evaluating rules so far. */
  get spentMs(): number {
    return this.#spentMs;
  }

  get intervention(): Intervention | undefined {
    return this.#intervention;
  }

  /** false after ctl:auditEngine=Off. */
  get auditEnabled(): boolean {
    return this.#auditEnabled;
  }

  /** false after ctl:requestBodyAccess=Off (the body need not be read). */
  get requestBodyAccess(): boolean {
    return this.#requestBodyAccess && this.#mode !== 'Off';
  }

  /** TX:ANOMALY_SCORE (CRS's inbound score, or the blocking score once evaluated). */
  get anomalyScore(): number {
    const v = this.#tx.get('anomaly_score')?.value ?? this.#tx.get('inbound_anomaly_score')?.value;
    return v === undefined ? 0 : Number(v) || 0;
  }

  get outboundAnomalyScore(): number {
    return Number(this.#tx.get('outbound_anomaly_score')?.value ?? 0) || 0;
  }

  // ---- Phase 1 ----

  processRequestHeaders(req: RequestLine): Intervention | undefined {
    const s = this.#scalars;
    const q = req.uri.indexOf('?');
    const rawPath = q < 0 ? req.uri : req.uri.slice(0, q);
    const query = q < 0 ? '' : req.uri.slice(q + 1);
    const decodedPath = uriDecode(rawPath);
    s.set('REQUEST_METHOD', req.method);
    s.set('REQUEST_PROTOCOL', req.protocol);
    s.set('REQUEST_URI_RAW', req.uri);
    s.set('REQUEST_URI', uriDecode(req.uri));
    s.set('REQUEST_FILENAME', decodedPath);
    s.set('REQUEST_BASENAME', decodedPath.slice(decodedPath.lastIndexOf('/') + 1));
    s.set('QUERY_STRING', query);
    s.set('REQUEST_LINE', `${req.method} ${req.uri} ${req.protocol}`);
    s.set('REMOTE_ADDR', req.remoteAddr);
    s.set('REMOTE_HOST', req.remoteAddr);
    s.set('REMOTE_PORT', String(req.remotePort));
    s.set('UNIQUE_ID', req.uniqueId);
    s.set('REQBODY_ERROR', '0');
    s.set('TIME_EPOCH', String(Math.floor(Date.now() / 1000)));
    if (!parseUrlEncoded(query, this.#argsGet, this.ruleSet.argumentsLimit))
      this.#bodyError('too many arguments');
    let contentType = '';
    const headerBits = this.#shared.headerBits;
    let sent = 0;
    for (const [name, value] of req.headers) {
      this.#headers.add(name, value);
      const lower = name.toLowerCase();
      const bit = headerBits.get(lower);
      if (bit !== undefined) sent |= 1 << bit;
      if (lower === 'cookie') {
        for (const c of value.split(';')) {
          const t = c.trim();
          if (t === '') continue;
          const eq = t.indexOf('=');
          this.#cookies.add(eq < 0 ? t : t.slice(0, eq), eq < 0 ? '' : t.slice(eq + 1));
        }
      } else if (lower === 'content-type') contentType = value.toLowerCase();
      else if (lower === 'host') s.set('SERVER_NAME', value.replace(/:\d+$/, ''));
    }
    // The processors ModSecurity v3 picks from Content-Type alone; XML and JSON run only when a
    // rule selects them (ctl:requestBodyProcessor), other bodies are only REQUEST_BODY.
    if (contentType.startsWith('application/x-www-form-urlencoded'))
      this.#bodyProcessor = 'URLENCODED';
    else if (contentType.startsWith('multipart/form-data')) this.#bodyProcessor = 'MULTIPART';
    if (this.#bodyProcessor !== undefined) s.set('REQBODY_PROCESSOR', this.#bodyProcessor);
    this.#headersSent = sent;
    this.#runPhase(1, NO_CHANGE);
    return this.#intervention;
  }

  // ---- Phase 2 ----

  /**
   * The request body, possibly empty (a request without one has an empty body: its processor
   * still runs, as ModSecurity's does, and an XML one fails on it); undefined: the body is not
   * inspected. A body above the limit comes as its inspected prefix.
   */
  processRequestBody(body: Buffer | undefined): Intervention | undefined {
    if (this.#intervention !== undefined) return this.#intervention;
    const parsed = body !== undefined && this.#requestBodyAccess;
    if (parsed) {
      const text = body.toString('latin1');
      const limit = this.ruleSet.argumentsLimit;
      const processor = this.#bodyProcessor;
      if (processor === 'URLENCODED') {
        if (!parseUrlEncoded(text, this.#argsPost, limit - this.#argsGet.length))
          this.#bodyError('too many arguments');
      } else if (processor === 'JSON') {
        const err = parseJson(text, this.#argsJson, limit - this.#argsGet.length);
        if (err !== undefined) this.#bodyError(err);
      } else if (processor === 'MULTIPART') {
        const ct = this.#headerValue('content-type');
        const boundary = multipartBoundary(ct);
        if (boundary === undefined) {
          this.#bodyError('multipart: no boundary in Content-Type');
          this.#scalars.set('MULTIPART_STRICT_ERROR', '1');
        } else {
          const r = parseMultipart(text, boundary, limit - this.#argsGet.length);
          this.#argsPost.push(...r.args);
          this.#files.push(...r.files);
          this.#fileSizes.push(...r.fileSizes);
          this.#partHeaders.push(...r.partHeaders);
          let combined = 0;
          for (const f of r.fileSizes) combined += Number(f.value);
          this.#scalars.set('FILES_COMBINED_SIZE', String(combined));
          if (r.error !== undefined) {
            this.#bodyError(r.error);
            this.#scalars.set('MULTIPART_STRICT_ERROR', '1');
          } else this.#scalars.set('MULTIPART_STRICT_ERROR', '0');
        }
      } else if (processor === 'XML') {
        const xml = parseXmlBody(body);
        const values: Value[] = [];
        if (xml.text !== undefined)
          values.push({ name: 'XML:/*', key: '/*', lowerKey: '/*', value: xml.text });
        for (const value of xml.attributes)
          values.push({ name: 'XML://@*', key: '//@*', lowerKey: '//@*', value });
        this.#xml = values;
        if (xml.error !== undefined) this.#bodyError(`XML parsing error: ${xml.error}`);
      }
      // ModSecurity v3 keeps every non-empty body in REQUEST_BODY, whatever parsed it.
      if (body.length > 0) {
        this.#scalars.set('REQUEST_BODY', text);
        this.#scalars.set('REQUEST_BODY_LENGTH', String(body.length));
      }
    }
    // An empty body adds nothing to ARGS, FILES or XML (its processor may only set errors).
    this.#runPhase(2, parsed && body.length > 0 ? REQUEST_BODY_COLLECTIONS : NO_CHANGE);
    return this.#intervention;
  }

  // ---- Phases 3 to 5 ----

  processResponseHeaders(
    status: number,
    protocol: string,
    headers: ReadonlyArray<readonly [string, string]>,
  ): Intervention | undefined {
    if (this.#intervention !== undefined) return this.#intervention;
    this.#scalars.set('RESPONSE_STATUS', String(status));
    this.#scalars.set('RESPONSE_PROTOCOL', protocol);
    this.#scalars.set('STATUS_LINE', `${protocol} ${status}`);
    for (const [name, value] of headers) {
      this.#responseHeaders.add(name, value);
      const lower = name.toLowerCase();
      if (lower === 'content-type') this.#scalars.set('RESPONSE_CONTENT_TYPE', value);
      else if (lower === 'content-length') this.#scalars.set('RESPONSE_CONTENT_LENGTH', value);
    }
    this.#runPhase(3, RESPONSE_HEADER_COLLECTIONS);
    return this.#intervention;
  }

  processResponseBody(body: Buffer | undefined): Intervention | undefined {
    if (this.#intervention !== undefined) return this.#intervention;
    if (body !== undefined) this.#scalars.set('RESPONSE_BODY', body.toString('latin1'));
    this.#runPhase(4, NO_CHANGE);
    return this.#intervention;
  }

  /** Phase 5, the transaction's last step: no phase runs after it. */
  processLogging(): void {
    if (this.#ended) return;
    const saved = this.#allowed;
    this.#allowed = false;
    this.#runPhase(5, NO_CHANGE);
    this.#allowed = saved;
    this.#ended = true;
    const pool = this.#shared.scratch;
    if (pool.length < MAX_POOLED_SCRATCH) {
      this.#scratch.release(this.#lastGeneration, this.#matchedCount);
      pool.push(this.#scratch);
    }
  }

  /** The request failed a limit before the rules ran (e.g. a body above the limit). */
  interveneOnLimit(status: number, msg: string): Intervention | undefined {
    if (this.#mode !== 'On') return undefined;
    this.#intervention = { status, ruleId: 0, msg, drop: false };
    return this.#intervention;
  }

  #bodyError(msg: string): void {
    this.#scalars.set('REQBODY_ERROR', '1');
    this.#scalars.set('REQBODY_ERROR_MSG', msg);
    this.#scalars.set('REQBODY_PROCESSOR_ERROR', '1');
  }

  #headerValue(lowerName: string): string {
    for (const e of this.#headers.entries) if (e.key.toLowerCase() === lowerName) return e.value;
    return '';
  }

  // ---- Rule evaluation ----

  #runPhase(phase: number, changed: readonly string[]): void {
    // Each phase method sets new data first; rules never change DATA_COLLECTIONS.
    for (const variable of changed) {
      const c = DATA_COLLECTION_INDEX.get(variable)!;
      this.#resolved[c] = undefined;
      this.#collectionGeneration[c] = ++this.#lastGeneration;
    }
    if (this.#mode === 'Off' || this.#allowed || this.#intervention !== undefined) return;
    // An ended transaction's scratch may be another's now.
    if (this.#budgetExceeded || this.#ended) return;
    const start = performance.now();
    this.#runRules(phase, start);
    this.#spentMs += performance.now() - start;
  }

  #runRules(phase: number, start: number): void {
    const deadline = start + (this.#budgetMs - this.#spentMs);
    const programs = WafTransaction.programsOf(this.ruleSet);
    const steps = (phase === 1 || this.#seeded ? programs.folded : programs.plain)[phase]!;
    const screen = screenOf(steps, this.#shared.headerBits);
    const groupStamp = this.#groupStamp;
    const groupUnion = this.#groupUnion;
    let i = 0;
    this.#work = WORK_PER_CLOCK_READ;
    while (i < steps.length) {
      // What #evaluateLink would find first: a rule whose regex or phrases none of its targets'
      // values can hold (once the group's union is known), or whose targets have no value.
      const at = SCREEN_STRIDE * i;
      const group = screen[at]!;
      const collections = screen[at + 2]!;
      const headers = screen[at + 3]!;
      if (
        (group >= 0 &&
          groupStamp[group] === this.#lastGeneration &&
          this.#targetRemovals.length === 0 &&
          !mayMatch(groupUnion[group]!, screen[at + 1]!)) ||
        ((collections | headers) !== 0 &&
          (headers & this.#headersSent) === 0 &&
          (collections === 0 || (collections & this.#nonEmptyCollections()) === 0))
      ) {
        this.#work += WORK_PER_TEST;
        i++;
        continue;
      }
      const step = steps[i]!;
      if (step.kind === JUMP) {
        this.#addMatched(step.matched);
        i = step.next;
        continue;
      }
      if (step.kind === SEED) {
        // TX is empty here (no rule before the seed writes it). Its entries are shared: an
        // entry is never changed, setvar replaces it.
        this.#tx.seed(step.tx);
        this.#addMatched(step.matched);
        this.#seeded = true;
        i = step.next;
        continue;
      }
      const rule = step.rule;
      if (this.#work >= WORK_PER_CLOCK_READ) {
        this.#work = 0;
        if (performance.now() >= deadline) {
          this.#budgetExceeded = true;
          if (this.#mode === 'On')
            this.#intervention = {
              status: 403,
              ruleId: 0,
              msg: `the WAF time budget of ${this.#budgetMs} ms was spent (phase ${phase})`,
              drop: false,
            };
          return;
        }
      }
      if (this.#isRemoved(rule) || !this.#evaluateChain(rule)) {
        i++;
        continue;
      }
      const disruptive = rule.disruptive;
      if (disruptive === 'deny' || disruptive === 'drop') {
        if (this.#mode === 'On') {
          this.#intervention = {
            status: rule.status ?? 403,
            ruleId: rule.id,
            msg: rule.msg === undefined ? '' : this.#expand(rule.msg, rule),
            drop: disruptive === 'drop',
          };
          return;
        }
      } else if (disruptive === 'allow') {
        if (this.#mode === 'On') {
          this.#allowed = true;
          return;
        }
      }
      i = step.next;
    }
  }

  #addMatched(values: readonly Value[]): void {
    for (const v of values) {
      this.#matchedVar = v;
      this.#matchedVars[this.#matchedCount++] = v;
    }
  }

  /**
   * The steps each phase of `ruleSet` runs (see rule-program.ts), built on first use and kept
   * with the rule set.
   */
  static programsOf(ruleSet: CompiledRuleSet): Programs<Value, TxEntry> {
    let programs = PROGRAMS.get(ruleSet);
    if (programs === undefined) {
      programs = buildPrograms(
        ruleSet,
        new WafTransaction(ruleSet, new PersistentCollections(), 'On', NO_LIMITS).#probe(),
      );
      PROGRAMS.set(ruleSet, programs);
    }
    return programs;
  }

  /** This transaction as the program builder's probe (see rule-program.ts). */
  #probe(): Probe<Value, TxEntry> {
    return {
      evaluateLink: (link, starter) => {
        this.#currentRule = starter;
        return this.#evaluateLink(link, starter);
      },
      evaluateChain: (rule) => this.#evaluateChain(rule),
      matchedCount: () => this.#matchedCount,
      matchedFrom: (from) => this.#matchedVars.slice(from, this.#matchedCount),
      tx: () => this.#tx.toMap(),
      txChanges: () => this.#txChanges,
      save: () => {
        const tx = this.#tx.toMap();
        const count = this.#matchedCount;
        const last = this.#matchedVar;
        return () => {
          this.#tx.restore(tx);
          this.#matchedCount = count;
          this.#matchedVar = last;
        };
      },
    };
  }

  #isRemoved(rule: Rule): boolean {
    if (this.#removedRanges.length > 0 && inRanges(rule.id, this.#removedRanges)) return true;
    if (this.#removedTags.length > 0)
      for (const tag of this.#removedTags) if (rule.tags.some((t) => tag.test(t))) return true;
    return false;
  }

  /** Runs a rule and its chain; true when every link matched. */
  #evaluateChain(starter: Rule): boolean {
    this.#currentRule = starter;
    let link: Rule | undefined = starter;
    while (link !== undefined) {
      if (!this.#evaluateLink(link, starter)) return false;
      link = link.chain;
    }
    const disruptive = starter.disruptive === 'deny' || starter.disruptive === 'drop';
    if (starter.log || disruptive) {
      let data = '';
      let msg = '';
      for (let l: Rule | undefined = starter; l !== undefined; l = l.chain) {
        if (l.logdata !== undefined) data = this.#expand(l.logdata, starter);
        if (l.msg !== undefined) msg = this.#expand(l.msg, starter);
      }
      this.matched.push({
        id: starter.id,
        phase: starter.phase,
        msg,
        data,
        severity: starter.severity,
        disruptive: disruptive && this.#mode === 'On',
      });
    }
    return true;
  }

  #evaluateLink(link: Rule, starter: Rule): boolean {
    this.#work += WORK_PER_TEST;
    if (link.unconditional) {
      this.#linkActions(link);
      return true;
    }
    // None of the values of any target can match when their candidates together lack the regex.
    const group = link.prefilterGroup;
    if (
      group >= 0 &&
      this.#targetRemovals.length === 0 &&
      !mayMatch(this.#groupCandidates(group, link, starter), link.operator.prefilterSlot!)
    )
      return false;
    let matched = false;
    const targets = link.targets;
    for (let t = 0; t < targets.length; t++) {
      const target = targets[t]!;
      let values: readonly Value[];
      if (target.collection >= 0 && !this.#removalNames(target.variable)) {
        const generation = this.#collectionGeneration[target.collection]!;
        values = this.#collectionTargetValues(link, t, starter, generation);
        if (values.length === 0) continue;
        // None of the values can match when their candidates together lack the regex.
        const pair = link.prefilterPairs[t]!;
        if (
          pair >= 0 &&
          !mayMatch(
            this.#pairCandidates(pair, generation, values, link.transformStep),
            link.operator.prefilterSlot!,
          )
        )
          continue;
      } else if (target.scalar >= 0 && !target.count && !this.#mayExclude(link, target.variable))
        // A held single value (REQUEST_FILENAME, REQUEST_LINE, ...): its list, by slot.
        values = this.#scalars.view(target.scalar);
      else values = this.#targetValues(target, link, starter);
      for (const v of values) {
        if (this.#testValue(link, v)) {
          matched = true;
          this.#matchedVar = v;
          this.#matchedVars[this.#matchedCount++] = v;
          this.#linkActions(link);
        }
      }
    }
    return matched;
  }

  /** The values of link.targets[t], over a DATA_COLLECTION at `generation`, shared by spec. */
  #collectionTargetValues(
    link: Rule,
    t: number,
    starter: Rule,
    generation: number,
  ): readonly Value[] {
    const slot = link.targetSpecs[t]!;
    if (this.#targetStamp[slot] === generation) return this.#targetValuesCache[slot]!;
    const values = this.#targetValues(link.targets[t]!, link, starter);
    this.#targetValuesCache[slot] = values;
    this.#targetStamp[slot] = generation;
    return values;
  }

  /**
   * The prefilter candidates of every value of every target of `link` united (see
   * Rule.prefilterGroup), once per generation of the collections. Only without ctl target
   * removals, which make a target's values depend on the rule.
   */
  #groupCandidates(group: number, link: Rule, starter: Rule): Uint32Array {
    if (this.#groupStamp[group] === this.#lastGeneration) return this.#groupUnion[group]!;
    let union: Uint32Array = NO_VALUES;
    let owned = false;
    const targets = link.targets;
    for (let t = 0; t < targets.length; t++) {
      const generation = this.#collectionGeneration[targets[t]!.collection]!;
      const values = this.#collectionTargetValues(link, t, starter, generation);
      if (values.length === 0) continue;
      const found = this.#pairCandidates(
        link.prefilterPairs[t]!,
        generation,
        values,
        link.transformStep,
      );
      if (union === NO_VALUES || union === found) union = found;
      else if (owned) for (let k = 0; k < union.length; k++) union[k]! |= found[k]!;
      else {
        union = unite(
          union,
          found,
          (this.#scratch.groupBuffer[group] ??= new Uint32Array(union.length)),
        );
        owned = true;
      }
    }
    this.#groupUnion[group] = union;
    this.#groupStamp[group] = this.#lastGeneration;
    return union;
  }

  #testValue(link: Rule, v: Value): boolean {
    let value = v.value;
    const capture = link.capture;
    const op = link.operator;
    const slot = op.prefilterSlot ?? -1;
    if (link.multiMatch) {
      // The value, then each form a prefix of the chain changes it into: the forms come from
      // the transaction's transform cache, and a regex whose literals a form lacks is not run
      // on it (unless negated: a non-match is then a hit).
      const filtered = slot >= 0 && !link.negated;
      const cache = (v.cache ??= this.#cacheOf(value));
      if (
        (!filtered || mayMatch(this.#candidates(cache, undefined, value), slot)) &&
        this.#test(op, value, capture) !== link.negated
      )
        return true;
      for (const step of link.transformPrefixes) {
        const next = this.#transformed(cache, v.value, step);
        if (next === value) continue;
        value = next;
        if (
          (!filtered || mayMatch(this.#candidates(cache, step, value), slot)) &&
          this.#test(op, value, capture) !== link.negated
        )
          return true;
      }
      return false;
    }
    const step = link.transformStep;
    let hit: boolean;
    if (slot < 0 && step === undefined) hit = this.#test(op, value, capture);
    else {
      const cache = (v.cache ??= this.#cacheOf(value));
      if (step !== undefined) value = this.#transformed(cache, v.value, step);
      // A regex whose literals the value lacks cannot match it.
      hit =
        (slot < 0 || mayMatch(this.#candidates(cache, step, value), slot)) &&
        this.#test(op, value, capture);
    }
    hit = hit !== link.negated;
    if (hit)
      this.#matchedVar =
        value === v.value ? v : { name: v.name, key: v.key, lowerKey: v.lowerKey, value };
    return hit;
  }

  /**
   * The operator on what it sees of a (transformed) value: regex operators the first
   * regexInspectionBytes; transformations still run on the whole value (they are linear).
   */
  #test(op: Operator, value: string, capture: boolean): boolean {
    const seen =
      op.regex === true && value.length > this.#regexLimit
        ? value.slice(0, this.#regexLimit)
        : value;
    this.#work += WORK_PER_TEST + seen.length;
    return op.test(seen, this, capture);
  }

  /**
   * The prefilter candidates of a prefilter pair's values (see Rule.prefilterPairs) united, once
   * per phase: the values' own candidates when they agree, else a fresh bitset.
   */
  #pairCandidates(
    pair: number,
    generation: number,
    values: readonly Value[],
    step: TransformStep | undefined,
  ): Uint32Array {
    if (this.#pairStamp[pair] === generation) return this.#pairUnion[pair]!;
    let union: Uint32Array = NO_VALUES;
    let owned = false;
    for (const v of values) {
      const cache = (v.cache ??= this.#cacheOf(v.value));
      const value = step === undefined ? v.value : this.#transformed(cache, v.value, step);
      const found = this.#candidates(cache, step, value);
      if (union === NO_VALUES || union === found) union = found;
      else if (owned) for (let k = 0; k < union.length; k++) union[k]! |= found[k]!;
      else {
        union = unite(
          union,
          found,
          (this.#scratch.pairBuffer[pair] ??= new Uint32Array(union.length)),
        );
        owned = true;
      }
    }
    this.#pairUnion[pair] = union;
    this.#pairStamp[pair] = generation;
    return union;
  }

  #cacheOf(raw: string): ValueCache {
    let cache = this.#recall(this.#shared.values, this.#valueCache, raw);
    if (cache === undefined) {
      cache = { out: [raw], candidates: [] };
      this.#keep(this.#shared.values, this.#valueCache, raw, cache);
    }
    return cache;
  }

  /** What `shared` (for a short text) or this transaction's `own` map holds for `text`. */
  #recall<T>(shared: TextMemo<T>, own: Map<string, T>, text: string): T | undefined {
    return (text.length <= SHARED_TEXT_MAX_LENGTH ? shared.get(text) : undefined) ?? own.get(text);
  }

  /**
   * Keeps `value` for `text` in `shared` when it is short, this transaction may still add to
   * the memos (SHARED_NEW_PER_TRANSACTION) and the memo admits it; else in `own`.
   */
  #keep<T>(shared: TextMemo<T>, own: Map<string, T>, text: string, value: T): void {
    if (
      text.length <= SHARED_TEXT_MAX_LENGTH &&
      this.#sharedNew < SHARED_NEW_PER_TRANSACTION &&
      shared.admit(text, value)
    )
      this.#sharedNew++;
    else own.set(text, value);
  }

  /**
   * `raw` through the chain ending at `step`, each prefix computed once per transaction, and each
   * function once per input text (the cache of `raw` at the function's one-function chain when
   * the prefix left `raw` as it was, else the cache of the prefix's output).
   */
  #transformed(cache: ValueCache, raw: string, step: TransformStep): string {
    let out = cache.out[step.id];
    if (out === undefined) {
      const parent = step.parent;
      if (parent === undefined) {
        out = step.fn(raw);
        this.#work += raw.length;
      } else {
        const input = this.#transformed(cache, raw, parent);
        out =
          input === raw
            ? this.#transformed(cache, raw, step.single)
            : this.#transformed(this.#cacheOf(input), input, step.single);
      }
      cache.out[step.id] = out;
    }
    return out;
  }

  /**
   * The prefilter candidates of `value`, the form of the cached value after `step`. The
   * literals are looked for in the whole value, a superset of what a regex inspects.
   */
  #candidates(cache: ValueCache, step: TransformStep | undefined, value: string): Uint32Array {
    const id = step === undefined ? 0 : step.id;
    let found = cache.candidates[id];
    if (found === undefined) {
      // Chains often leave a value as it was or agree on its form: one scan per text.
      found = this.#recall(this.#shared.candidates, this.#candidatesByText, value);
      if (found === undefined) {
        found = this.ruleSet.regexPrefilter.candidates(value);
        this.#work += value.length;
        this.#keep(this.#shared.candidates, this.#candidatesByText, value, found);
      }
      cache.candidates[id] = found;
    }
    return found;
  }

  #linkActions(link: Rule): void {
    for (const init of link.initcols) {
      const key = this.#expand(init.key, link);
      this.#collections.set(
        init.collection,
        this.persistent.open(init.collection, key, this.ruleSet.collectionTimeoutSeconds),
      );
    }
    for (const sv of link.setvars) {
      const name = sv.lowerName ?? this.#expand(sv.name, link).toLowerCase();
      const col = this.#collection(sv.collection);
      if (col === undefined) continue;
      if (col === this.#tx) this.#txChanges++;
      if (sv.op === 'delete') {
        col.delete(name);
        continue;
      }
      const value = this.#expand(sv.value, link);
      if (sv.op === 'set') col.set(name, { key: name, value });
      else {
        const current = Number(col.get(name)?.value ?? 0) || 0;
        const delta = Number(value) || 0;
        col.set(name, {
          key: name,
          value: String(sv.op === 'add' ? current + delta : current - delta),
        });
      }
    }
    for (const ev of link.expirevars) {
      const full = this.#expand(ev.name, link);
      const dot = full.indexOf('.');
      if (dot < 0) continue;
      this.persistent.expire(
        this.#collections.get(full.slice(0, dot).toUpperCase()),
        full.slice(dot + 1).toLowerCase(),
        Number(this.#expand(ev.seconds, link)) || 0,
      );
    }
    for (const ctl of link.ctls) this.#applyCtl(ctl);
  }

  #applyCtl(ctl: Ctl): void {
    switch (ctl.kind) {
      case 'ruleRemoveById':
        this.#removedRanges.push(...ctl.ranges);
        break;
      case 'ruleRemoveByTag':
        this.#removedTags.push(ctl.tag);
        break;
      case 'ruleRemoveTargetById':
        this.#targetRemovals.push({ ranges: ctl.ranges, exclusion: ctl.exclusion });
        break;
      case 'ruleRemoveTargetByTag':
        this.#targetRemovals.push({ tag: ctl.tag, exclusion: ctl.exclusion });
        break;
      case 'ruleEngine':
        this.#mode = ctl.mode;
        break;
      case 'requestBodyProcessor':
        this.#bodyProcessor = ctl.processor;
        this.#scalars.set('REQBODY_PROCESSOR', ctl.processor);
        break;
      case 'requestBodyAccess':
        this.#requestBodyAccess = ctl.on;
        break;
      case 'forceRequestBodyVariable':
        // REQUEST_BODY holds every body already (ModSecurity v3): nothing to force.
        break;
      case 'auditEngine':
        this.#auditEnabled = ctl.on;
        break;
      case 'auditLogParts':
        // The audit record has fixed fields (docs/waf.md); there are no parts to choose.
        break;
    }
  }

  #collection(name: string): EntryCollection | undefined {
    if (name === 'TX') return this.#tx;
    return this.#collections.get(name);
  }

  /** true when a ctl target removal names `variable`. */
  #removalNames(variable: string): boolean {
    for (const r of this.#targetRemovals) if (r.exclusion.variable === variable) return true;
    return false;
  }

  /** true when some exclusion of the rule, or a ctl target removal, names `variable`. */
  #mayExclude(rule: Rule, variable: string): boolean {
    for (const e of rule.exclusions) if (e.variable === variable) return true;
    for (const r of this.#targetRemovals) if (r.exclusion.variable === variable) return true;
    return false;
  }

  #excluded(rule: Rule, starter: Rule, variable: string, v: Value): boolean {
    for (const e of rule.exclusions) if (exclusionHits(e, variable, v)) return true;
    for (const r of this.#targetRemovals) {
      if (!exclusionHits(r.exclusion, variable, v)) continue;
      if (r.ranges !== undefined && inRanges(starter.id, r.ranges)) return true;
      if (r.tag !== undefined && starter.tags.some((t) => r.tag!.test(t))) return true;
    }
    return false;
  }

  /** The values a target names, minus exclusions; `&VAR` yields the count. */
  #targetValues(target: Target, rule: Rule, starter: Rule): readonly Value[] {
    const sel = target.selector;
    // TX with a selector, CRS's most common target: `TX:name` is one look-up, `TX:/regex/` one
    // pass over TX that makes value lists only for the names it picks, instead of listing every
    // TX variable first. `IP:name` (and the other persistent collections) is one look-up too.
    // `selected`: `all` holds only what the selector picks.
    const tx = target.variable === 'TX';
    const selected =
      sel !== undefined && (tx || (typeof sel === 'string' && PERSISTENT.has(target.variable)));
    const all = selected
      ? tx
        ? typeof sel === 'string'
          ? this.#txView(sel)
          : this.#txMatching(sel)
        : this.#persistentView(target.variable, sel as string)
      : target.collection >= 0
        ? this.#resolveCollection(target.collection, target.variable)
        : this.#resolveNow(target.variable);
    if (all.length === 0 && !target.count) return EMPTY;
    const exclude = this.#mayExclude(rule, target.variable);
    if ((sel === undefined || selected) && !exclude && !target.count) return all;
    let out: Value[] | undefined;
    for (const v of all) {
      if (sel !== undefined && !selected) {
        if (typeof sel === 'string' ? v.lowerKey !== sel : !sel.test(v.key)) continue;
      }
      if (exclude && this.#excluded(rule, starter, target.variable, v)) continue;
      (out ??= []).push(v);
    }
    return target.count ? this.#countView(target, out?.length ?? 0) : (out ?? EMPTY);
  }

  /**
   * `&VAR`'s value list for `count`: the same few for every request, so made once per rule set
   * and worker (per rule set: a value carries its ValueCache, indexed by the rule set's
   * TransformStep ids) up to MAX_SHARED_COUNT.
   */
  #countView(target: Target, count: number): readonly Value[] {
    const name = target.countName;
    if (count > MAX_SHARED_COUNT) return [{ name, key: '', lowerKey: '', value: String(count) }];
    const byName = this.#shared.countViews;
    let views = byName.get(name);
    if (views === undefined) byName.set(name, (views = []));
    return (views[count] ??= [{ name, key: '', lowerKey: '', value: String(count) }]);
  }

  #txView(lowerName: string): readonly Value[] {
    const entry = this.#tx.get(lowerName);
    return entry === undefined ? EMPTY : txValues(entry);
  }

  /**
   * `collection:lowerName` of a persistent collection: its entry, unless expired (then dropped,
   * as listing the record drops it). setvar stores names lower-cased, so a look-up finds what
   * comparing lower-cased keys would.
   */
  #persistentView(collection: string, lowerName: string): readonly Value[] {
    const col = this.#collections.get(collection);
    const entry: (Entry & { expiresAt?: number }) | undefined = col?.get(lowerName);
    if (entry === undefined) return EMPTY;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      col!.delete(lowerName);
      return EMPTY;
    }
    return [
      {
        name: `${collection}:${entry.key}`,
        key: entry.key,
        lowerKey: entry.key.toLowerCase(),
        value: entry.value,
      },
    ];
  }

  /** The values of the TX variables whose names `selector` matches, in TX's order. */
  #txMatching(selector: RegExp): readonly Value[] {
    // TX's names are mostly the same from request to request (the rule set's own variables):
    // whether the selector picks one is remembered per rule set instead of tested each time,
    // and which of the seed's it picks is kept with the seed.
    const pickers = this.#shared.selectors;
    let picker = pickers.get(selector);
    if (picker === undefined) pickers.set(selector, (picker = new SelectorPicker(selector)));
    const entries = this.#tx.select(picker);
    if (entries === undefined) return EMPTY;
    const out: Value[] = [];
    for (const e of entries) out.push(txValues(e)[0]!);
    return out;
  }

  /** DATA_COLLECTIONS holding a value now, as a bitmask (bit: index), once per generation. */
  #nonEmptyCollections(): number {
    if (this.#nonEmptyStamp !== this.#lastGeneration) {
      let mask = 0;
      let c = 0;
      for (const variable of DATA_COLLECTIONS) {
        if (this.#resolveCollection(c, variable).length > 0) mask |= 1 << c;
        c++;
      }
      this.#nonEmpty = mask;
      this.#nonEmptyStamp = this.#lastGeneration;
    }
    return this.#nonEmpty;
  }

  /**
   * Every value of a variable, named as ModSecurity names them (ARGS:id, TX:0, ...). The lists
   * of DATA_COLLECTIONS are built once per phase and shared by every rule that reads them.
   */
  #resolve(variable: string): readonly Value[] {
    const c = DATA_COLLECTION_INDEX.get(variable);
    return c === undefined ? this.#resolveNow(variable) : this.#resolveCollection(c, variable);
  }

  /** `variable`, DATA_COLLECTIONS' `collection`th, built once per phase that changes it. */
  #resolveCollection(collection: number, variable: string): readonly Value[] {
    let values = this.#resolved[collection];
    if (values === undefined) {
      values = this.#resolveNow(variable);
      this.#resolved[collection] = values;
    }
    return values;
  }

  #resolveNow(variable: string): readonly Value[] {
    switch (variable) {
      case 'ARGS':
        return this.#args('ARGS', false);
      case 'ARGS_GET':
        return this.#argValues('ARGS_GET', this.#argsGet, this.#argsGetCaches.values, false, []);
      case 'ARGS_POST':
        return this.#argValues('ARGS_POST', this.#argsPost, this.#argsPostCaches.values, false, []);
      case 'ARGS_NAMES':
        return this.#args('ARGS_NAMES', true);
      case 'ARGS_GET_NAMES':
        return this.#argValues(
          'ARGS_GET_NAMES',
          this.#argsGet,
          this.#argsGetCaches.names,
          true,
          [],
        );
      case 'ARGS_POST_NAMES':
        return this.#argValues(
          'ARGS_POST_NAMES',
          this.#argsPost,
          this.#argsPostCaches.names,
          true,
          [],
        );
      case 'ARGS_COMBINED_SIZE': {
        let n = 0;
        for (const a of this.#argsGet) n += a.name.length + a.value.length;
        for (const a of this.#argsPost) n += a.name.length + a.value.length;
        for (const a of this.#argsJson) n += a.name.length + a.value.length;
        return [{ name: variable, key: '', lowerKey: '', value: String(n) }];
      }
      case 'REQUEST_HEADERS':
        return entries('REQUEST_HEADERS', this.#headers.entries, false);
      case 'REQUEST_HEADERS_NAMES':
        return entries('REQUEST_HEADERS_NAMES', this.#headers.entries, true);
      case 'REQUEST_COOKIES':
        return entries('REQUEST_COOKIES', this.#cookies.entries, false);
      case 'REQUEST_COOKIES_NAMES':
        return entries('REQUEST_COOKIES_NAMES', this.#cookies.entries, true);
      case 'RESPONSE_HEADERS':
        return entries('RESPONSE_HEADERS', this.#responseHeaders.entries, false);
      case 'RESPONSE_HEADERS_NAMES':
        return entries('RESPONSE_HEADERS_NAMES', this.#responseHeaders.entries, true);
      case 'FILES':
        return named('FILES', this.#files);
      case 'FILES_NAMES':
        return names('FILES_NAMES', this.#files);
      case 'FILES_SIZES':
        return named('FILES_SIZES', this.#fileSizes);
      case 'MULTIPART_PART_HEADERS':
        return named('MULTIPART_PART_HEADERS', this.#partHeaders);
      case 'MATCHED_VARS':
        return this.#matchedVars.slice(0, this.#matchedCount).map((v) => ({
          name: `MATCHED_VARS:${v.name}`,
          key: v.name,
          lowerKey: v.name.toLowerCase(),
          value: v.value,
        }));
      case 'MATCHED_VARS_NAMES':
        return this.#matchedVars.slice(0, this.#matchedCount).map((v) => ({
          name: `MATCHED_VARS_NAMES:${v.name}`,
          key: v.name,
          lowerKey: v.name.toLowerCase(),
          value: v.name,
        }));
      case 'MATCHED_VAR':
        return this.#matchedVar.name === ''
          ? EMPTY
          : [{ name: variable, key: '', lowerKey: '', value: this.#matchedVar.value }];
      case 'MATCHED_VAR_NAME':
        return this.#matchedVar.name === ''
          ? EMPTY
          : [{ name: variable, key: '', lowerKey: '', value: this.#matchedVar.name }];
      case 'TX': {
        const out: Value[] = [];
        this.#tx.forEach((entry) => out.push(txValues(entry)[0]!));
        return out;
      }
      case 'IP':
      case 'GLOBAL':
      case 'SESSION':
      case 'USER':
      case 'RESOURCE': {
        const col = this.#collections.get(variable);
        if (col === undefined) return EMPTY;
        return entries(variable, this.persistent.live(col), false);
      }
      case 'XML':
        return this.#xml;
      case 'GEO':
      case 'ENV':
      case 'RULE':
        // GEO: no GeoIP database (docs/waf.md).
        return EMPTY;
      case 'DURATION':
        return [{ name: variable, key: '', lowerKey: '', value: '0' }];
      case 'HIGHEST_SEVERITY':
        return [{ name: variable, key: '', lowerKey: '', value: '255' }];
      default:
        return this.#scalars.viewOf(variable);
    }
  }

  /** ARGS or ARGS_NAMES: the query's arguments, then the body's (urlencoded or multipart, JSON). */
  #args(prefix: string, ofNames: boolean): Value[] {
    const out: Value[] = [];
    const get = this.#argsGetCaches;
    const post = this.#argsPostCaches;
    const json = this.#argsJsonCaches;
    this.#argValues(prefix, this.#argsGet, ofNames ? get.names : get.values, ofNames, out);
    this.#argValues(prefix, this.#argsPost, ofNames ? post.names : post.values, ofNames, out);
    this.#argValues(prefix, this.#argsJson, ofNames ? json.names : json.values, ofNames, out);
    return out;
  }

  /**
   * Appends to `out` the `PREFIX:name` values of an argument list (their values, or their names),
   * each with the argument's ValueCache from `caches` (looked up once per argument).
   */
  #argValues(
    prefix: string,
    list: readonly Arg[],
    caches: Array<ValueCache | undefined>,
    ofNames: boolean,
    out: Value[],
  ): Value[] {
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      const text = ofNames ? a.name : a.value;
      const v: Value = {
        name: `${prefix}:${a.name}`,
        key: a.name,
        lowerKey: a.name.toLowerCase(),
        value: text,
      };
      // Assigned after creation, as everywhere else: one object shape for every Value.
      v.cache = caches[i] ??= this.#cacheOf(text);
      out.push(v);
    }
    return out;
  }

  // ---- OperatorContext / MacroScope ----

  setCapture(index: number, value: string): void {
    this.#txChanges++;
    this.#tx.set(String(index), { key: String(index), value });
  }

  macroValue(variable: string, key: string | undefined): string {
    const rule = this.#currentRule;
    if (variable === 'RULE') {
      if (rule === undefined) return '';
      if (key === 'id') return String(rule.id);
      if (key === 'msg') return rule.msg === undefined ? '' : this.#expand(rule.msg, rule);
      if (key === 'severity') return rule.severity ?? '';
      return '';
    }
    if (variable === 'TX' || this.#collections.has(variable)) {
      if (key === undefined) return '';
      const entry = this.#collection(variable)?.get(key) as
        { value: string; expiresAt?: number } | undefined;
      if (entry === undefined || (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()))
        return '';
      return entry.value;
    }
    for (const v of this.#resolve(variable)) {
      if (key === undefined) return v.value;
      const colon = v.name.indexOf(':');
      if (colon >= 0 && v.name.slice(colon + 1).toLowerCase() === key) return v.value;
    }
    return '';
  }

  #expand(macro: Macro, rule: Rule): string {
    const saved = this.#currentRule;
    if (rule.id !== 0) this.#currentRule = rule;
    const out = macro.expand(this);
    this.#currentRule = saved;
    return out;
  }
}
