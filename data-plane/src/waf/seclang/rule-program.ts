/**
 * A phase's rules as a flat program of steps, built once per rule set: markers left out, every
 * skip and skipAfter resolved to a step index, and rules whose outcome is the same for every
 * transaction folded away.
 *
 * Folding rests on TX values that no transaction can change. CRS starts phase 1 with rules that
 * read and write only TX with constants (crs-setup.conf's SecActions, REQUEST-901's defaults):
 * they leave TX in the same state for every request, so the program holds one SEED step that
 * puts that state in place instead of running them. Later rules that read only TX names nothing
 * else writes (the paranoia-level gates `TX:EXECUTING_PARANOIA_LEVEL "@lt 2" ...skipAfter`, the
 * application exclusion switches, `&TX:ARG_LENGTH "@eq 1"`) then have a fixed outcome: a rule
 * that cannot match is dropped; one that matches and does nothing but move on becomes a JUMP.
 * Both keep what those rules add to MATCHED_VARS, so every later rule sees what it saw before.
 * Anything the analysis cannot prove (a ctl that could remove a rule or one of its TX targets, a
 * setvar whose name could be the one read, a backward skipAfter) leaves the rule as it is.
 */
import { inRanges, type CompiledRuleSet } from './compile.js';
import type { Macro } from './macro.js';
import type { Rule } from './rule.js';

/** Evaluate the rule (EVALUATE), take the folded outcome (JUMP), or put the seeded TX in place. */
export const EVALUATE = 0;
export const JUMP = 1;
export const SEED = 2;

export interface Step<V, E> {
  /** EVALUATE: the rule; JUMP: the folded rule; SEED: the first folded rule. */
  readonly rule: Rule;
  readonly kind: number;
  /** The step after a match (EVALUATE) or after this step (JUMP, SEED); steps.length: the end. */
  readonly next: number;
  /** JUMP, SEED: what the folded rules added to MATCHED_VARS, in order (the last: MATCHED_VAR). */
  readonly matched: readonly V[];
  /** SEED: TX as the folded rules leave it, in insertion order (an empty map otherwise). */
  readonly tx: ReadonlyMap<string, E>;
}

/** Per phase (index 1..5): `folded` once the SEED step has run, `plain` otherwise. */
export interface Programs<V, E> {
  readonly folded: ReadonlyArray<ReadonlyArray<Step<V, E>>>;
  readonly plain: ReadonlyArray<ReadonlyArray<Step<V, E>>>;
}

/** A transaction used at build time, its TX starting empty; every method reads or changes it. */
export interface Probe<V, E> {
  /** Evaluates one link (of `starter`'s chain); true when it matched. */
  evaluateLink(link: Rule, starter: Rule): boolean;
  /** Evaluates a whole rule as a phase would (its actions included). */
  evaluateChain(rule: Rule): boolean;
  /** The number of values matched so far (MATCHED_VARS), and those from `from` on. */
  matchedCount(): number;
  matchedFrom(from: number): readonly V[];
  /** TX, and a count of its changes. */
  tx(): ReadonlyMap<string, E>;
  txChanges(): number;
  /** Puts TX and MATCHED_VARS back as they were when `save` was called. */
  save(): () => void;
}

const NO_TX: ReadonlyMap<string, never> = new Map<string, never>();

/** TX names rules may write: exact names, name prefixes (a setvar name with a macro), captures. */
class TxWriters {
  readonly #names = new Set<string>();
  readonly #prefixes: string[] = [];
  #captures = false;

  add(link: Rule): void {
    for (const sv of link.setvars) {
      if (sv.collection !== 'TX') continue;
      if (sv.name.refs.length === 0) this.#names.add(sv.name.text.toLowerCase());
      else this.#prefixes.push(sv.name.prefix.toLowerCase());
    }
    if (link.capture) this.#captures = true;
  }

  writes(name: string): boolean {
    if (this.#names.has(name)) return true;
    for (const p of this.#prefixes) if (name.startsWith(p)) return true;
    // Captures set TX:0 to TX:9.
    return this.#captures && /^[0-9]$/.test(name);
  }
}

/** ctl actions of the rule set that may drop rules, or rule targets, for one transaction. */
class Removals {
  readonly #ranges: Array<ReadonlyArray<readonly [number, number]>> = [];
  readonly #tags: RegExp[] = [];
  /** Some ctl:ruleRemoveTarget* names TX. */
  txTargets = false;

  add(link: Rule): void {
    for (const ctl of link.ctls) {
      if (ctl.kind === 'ruleRemoveById') this.#ranges.push(ctl.ranges);
      else if (ctl.kind === 'ruleRemoveByTag') this.#tags.push(ctl.tag);
      else if (
        (ctl.kind === 'ruleRemoveTargetById' || ctl.kind === 'ruleRemoveTargetByTag') &&
        ctl.exclusion.variable === 'TX'
      )
        this.txTargets = true;
    }
  }

  mayRemove(rule: Rule): boolean {
    for (const r of this.#ranges) if (inRanges(rule.id, r)) return true;
    for (const tag of this.#tags) if (rule.tags.some((t) => tag.test(t))) return true;
    return false;
  }
}

/** true when the macro reads only TX names for which `ok` holds, or the rule's id or severity. */
function macroReadsOnly(macro: Macro | undefined, ok: (name: string) => boolean): boolean {
  if (macro === undefined) return true;
  for (const ref of macro.refs) {
    // %{RULE.msg} expands the message, which may read anything.
    if (ref.variable === 'RULE' && ref.key !== 'msg') continue;
    if (ref.variable !== 'TX' || ref.key === undefined || !ok(ref.key)) return false;
  }
  return true;
}

/**
 * true when the link reads nothing but `TX:name` / `&TX:name` (or nothing: SecAction) for which
 * `ok(name)` holds, in its targets and operator argument, with an operator that sees whole values.
 */
function readsOnlyTx(link: Rule, ok: (name: string) => boolean): boolean {
  // A regex operator sees a transaction's inspection limit of a value (WafLimits), which the
  // rule set does not know.
  if (link.exclusions.length > 0 || link.operator.regex === true) return false;
  for (const t of link.targets)
    if (t.variable !== 'TX' || typeof t.selector !== 'string' || !ok(t.selector)) return false;
  return macroReadsOnly(link.operator.argMacro, ok);
}

/** true when every link reads only TX and acts only on TX (a seed rule once probed). */
function seedable(rule: Rule): boolean {
  if (rule.marker !== undefined) return false;
  const any = (): boolean => true;
  for (let link: Rule | undefined = rule; link !== undefined; link = link.chain) {
    if (!readsOnlyTx(link, any)) return false;
    if (link.ctls.length > 0 || link.initcols.length > 0 || link.expirevars.length > 0)
      return false;
    for (const sv of link.setvars)
      if (sv.collection !== 'TX' || !macroReadsOnly(sv.name, any) || !macroReadsOnly(sv.value, any))
        return false;
  }
  return true;
}

/** true when a link that matches does nothing: no action of its own changes anything. */
function quietLink(link: Rule): boolean {
  return (
    !link.capture &&
    link.setvars.length === 0 &&
    link.ctls.length === 0 &&
    link.initcols.length === 0 &&
    link.expirevars.length === 0
  );
}

/** true when a match of the rule does nothing but its links' actions. */
function quietMatch(rule: Rule): boolean {
  return (
    !rule.log &&
    (rule.disruptive === undefined || rule.disruptive === 'pass') &&
    rule.skip === 0 &&
    rule.skipAfter === undefined
  );
}

/**
 * true when a rule before the seed cannot keep phase 1 from reaching it, change what the seed
 * rules see, or remove them.
 */
function harmlessBeforeSeed(rule: Rule): boolean {
  if (rule.marker !== undefined) return true;
  if (rule.skip > 0 || rule.skipAfter !== undefined || rule.disruptive === 'allow') return false;
  for (let link: Rule | undefined = rule; link !== undefined; link = link.chain) {
    if (link.capture || link.setvars.some((sv) => sv.collection === 'TX')) return false;
    if (link.ctls.some((c) => c.kind.startsWith('ruleRemove'))) return false;
  }
  return true;
}

/** Original list position after a match of `rules[j]` (rules.length: the phase ends). */
function afterMatch(
  rules: readonly Rule[],
  markers: ReadonlyMap<string, number>,
  j: number,
): number {
  const rule = rules[j]!;
  if (rule.skipAfter !== undefined) {
    const at = markers.get(rule.skipAfter);
    return at === undefined ? rules.length : at + 1;
  }
  return Math.min(j + rule.skip + 1, rules.length);
}

interface Fold<V, E> {
  kind: number;
  matched: readonly V[];
  tx: ReadonlyMap<string, E>;
}

function assemble<V, E>(
  rules: readonly Rule[],
  markers: ReadonlyMap<string, number>,
  /** Per position: undefined: evaluate; null: drop (with markers); a fold. */
  folds: ReadonlyArray<Fold<V, E> | null | undefined>,
  seedEnd: number,
): Array<Step<V, E>> {
  // stepAt[j]: the first step at position j or after.
  const stepAt = new Array<number>(rules.length + 1);
  let count = 0;
  for (let j = 0; j < rules.length; j++) if (folds[j] !== null) count++;
  stepAt[rules.length] = count;
  for (let j = rules.length - 1; j >= 0; j--)
    stepAt[j] = folds[j] === null ? stepAt[j + 1]! : stepAt[j + 1]! - 1;
  const steps: Array<Step<V, E>> = [];
  for (let j = 0; j < rules.length; j++) {
    const fold = folds[j];
    if (fold === null) continue;
    const rule = rules[j]!;
    if (fold === undefined)
      steps.push({
        rule,
        kind: EVALUATE,
        next: stepAt[afterMatch(rules, markers, j)]!,
        matched: [],
        tx: NO_TX,
      });
    else
      steps.push({
        rule,
        kind: fold.kind,
        next: stepAt[fold.kind === SEED ? seedEnd : afterMatch(rules, markers, j)]!,
        matched: fold.matched,
        tx: fold.tx,
      });
  }
  return steps;
}

/**
 * `steps` with each JUMP or SEED step that leads to a JUMP taking that JUMP's way at once: its
 * `matched` followed by the JUMP's, its `next` the JUMP's `next` (CRS's paranoia-level gates
 * come in runs). A transaction does nothing between the two steps but add their `matched`, so it
 * ends at the same step with the same MATCHED_VARS. The JUMP steps stay: other steps may lead to
 * them. Folded programs only: their jumps go forward.
 */
function chainJumps<V, E>(steps: Array<Step<V, E>>): Array<Step<V, E>> {
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i]!;
    const to = steps[step.next];
    if (step.kind === EVALUATE || to?.kind !== JUMP) continue;
    steps[i] = { ...step, next: to.next, matched: [...step.matched, ...to.matched] };
  }
  return steps;
}

/**
 * The plain and folded programs of a rule set. Folding walks the rules in the order a transaction
 * can run them (phase by phase, forward: a phase with a backward skipAfter folds nothing), and
 * counts only the ctl and setvar actions of rules the folded program can reach before the rule at
 * hand: a ctl removes rules for the rest of the transaction, and a rule runs at most once.
 */
export function buildPrograms<V, E>(ruleSet: CompiledRuleSet, probe: Probe<V, E>): Programs<V, E> {
  const plain: Array<Array<Step<V, E>>> = [[]];
  const folded: Array<Array<Step<V, E>>> = [[]];
  const backward = ruleSet.phases.map((rules, p) =>
    rules.some(
      (r, j) => r.skipAfter !== undefined && (ruleSet.markers[p]!.get(r.skipAfter) ?? Infinity) < j,
    ),
  );
  // Phase 1's seed: rules [seedStart, seedEnd) probed in order.
  const first = ruleSet.phases[1]!;
  let seedStart = backward[1] ? first.length : 0;
  while (seedStart < first.length && !seedable(first[seedStart]!)) {
    if (!harmlessBeforeSeed(first[seedStart]!)) {
      seedStart = first.length;
      break;
    }
    seedStart++;
  }
  let seedEnd = seedStart;
  while (seedEnd < first.length && seedable(first[seedEnd]!)) {
    const rule = first[seedEnd]!;
    const undo = probe.save();
    if (probe.evaluateChain(rule) && !quietMatch(rule)) {
      undo();
      break;
    }
    seedEnd++;
  }
  const seeded = seedEnd > seedStart;
  const seedTx = new Map(probe.tx());
  const seedMatched = probe.matchedFrom(0);

  const removals = new Removals();
  const writers = new TxWriters();
  const invariant = (name: string): boolean => !writers.writes(name);
  for (let p = 1; p <= 5; p++) {
    const rules = ruleSet.phases[p]!;
    const markers = ruleSet.markers[p]!;
    const none = rules.map((r): null | undefined => (r.marker === undefined ? undefined : null));
    plain.push(assemble(rules, markers, none, 0));
    if (!seeded) {
      folded.push(plain[p]!);
      continue;
    }
    const folds: Array<Fold<V, E> | null | undefined> = none.slice();
    // reach[j]: the folded program can get to position j.
    const reach = new Uint8Array(rules.length + 1);
    reach[0] = 1;
    for (let j = 0; j < rules.length; j++) {
      if (reach[j] === 0) {
        // No transaction gets here: the step would only take room.
        folds[j] = null;
        continue;
      }
      const rule = rules[j]!;
      if (p === 1 && j === seedStart) {
        folds[j] = { kind: SEED, matched: seedMatched, tx: seedTx };
        for (let k = seedStart + 1; k < seedEnd; k++) folds[k] = null;
        reach[seedEnd] = 1;
        continue;
      }
      if (rule.marker !== undefined) {
        reach[j + 1] = 1;
        continue;
      }
      const fold = backward[p] || (p === 1 && j < seedStart) ? undefined : foldOf(rule);
      if (fold !== null) reach[afterMatch(rules, markers, j)] = 1;
      if (fold?.kind !== JUMP) reach[j + 1] = 1;
      if (fold === undefined)
        for (let link: Rule | undefined = rule; link !== undefined; link = link.chain) {
          removals.add(link);
          writers.add(link);
        }
      folds[j] = fold;
    }
    folded.push(chainJumps(assemble(rules, markers, folds, seedEnd)));
  }
  return { folded, plain };

  /**
   * The rule's fixed outcome (null: it never matches) on the seeded TX, or undefined: none. A
   * chain has one when its links, in order, read only invariant TX until one misses (null) or
   * all match, and no link that matches acts (its actions run as it matches, whatever the links
   * after it do).
   */
  function foldOf(rule: Rule): Fold<V, E> | null | undefined {
    if (removals.txTargets || removals.mayRemove(rule)) return undefined;
    const undo = probe.save();
    const changes = probe.txChanges();
    const before = probe.matchedCount();
    let outcome: 'hit' | 'miss' | 'unknown' = 'hit';
    for (let link: Rule | undefined = rule; link !== undefined; link = link.chain) {
      if (link.unconditional || link.targets.length === 0 || !readsOnlyTx(link, invariant)) {
        outcome = 'unknown';
        break;
      }
      const hit = probe.evaluateLink(link, rule);
      if (probe.txChanges() !== changes) {
        outcome = 'unknown';
        break;
      }
      if (!hit) {
        outcome = 'miss';
        break;
      }
      if (!quietLink(link)) {
        outcome = 'unknown';
        break;
      }
    }
    const matched = probe.matchedFrom(before);
    undo();
    if (outcome === 'miss') return null;
    if (
      outcome === 'unknown' ||
      rule.log ||
      !(rule.disruptive === undefined || rule.disruptive === 'pass')
    )
      return undefined;
    return { kind: JUMP, matched, tx: NO_TX };
  }
}
