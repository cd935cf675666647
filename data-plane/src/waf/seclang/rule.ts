/** The compiled form of SecRule / SecAction / SecMarker. */
import type { Macro } from './macro.js';
import type { Operator } from './operators.js';
import type { TransformStep } from './transform-chain.js';
import type { Transform } from './transforms.js';

/** One `VARIABLE[:selector]` of a rule's target list. */
export interface Target {
  /** Upper-case variable name (ARGS, REQUEST_HEADERS, TX, ...). */
  readonly variable: string;
  /** Lower-cased key, a /regex/ over keys, or undefined: the whole collection. */
  readonly selector: string | RegExp | undefined;
  /** `&VAR`: the number of values instead of the values. */
  readonly count: boolean;
  /** The name a count's value carries: `VAR` or `VAR:selector` (the selector as written). */
  readonly countName: string;
  /**
   * The variable's index in DATA_COLLECTIONS (its values change only between phases), or -1
   * when it is not one of them.
   */
  readonly collection: number;
  /**
   * The variable's slot in HELD_SCALARS (a single value the transaction holds, read by index),
   * or -1 when it is not one of them.
   */
  readonly scalar: number;
}

/** `!VAR:selector`: values left out of a rule's targets. */
export interface Exclusion {
  readonly variable: string;
  readonly selector: string | RegExp | undefined;
}

export interface SetVar {
  readonly collection: string;
  readonly name: Macro;
  /** `name` lower-cased when it holds no macro (undefined: expanded at each match). */
  readonly lowerName: string | undefined;
  readonly op: 'set' | 'add' | 'sub' | 'delete';
  readonly value: Macro;
}

export type Ctl =
  | { readonly kind: 'ruleRemoveById'; readonly ranges: ReadonlyArray<readonly [number, number]> }
  | { readonly kind: 'ruleRemoveByTag'; readonly tag: RegExp }
  | {
      readonly kind: 'ruleRemoveTargetById';
      readonly ranges: ReadonlyArray<readonly [number, number]>;
      readonly exclusion: Exclusion;
    }
  | { readonly kind: 'ruleRemoveTargetByTag'; readonly tag: RegExp; readonly exclusion: Exclusion }
  | { readonly kind: 'ruleEngine'; readonly mode: EngineMode }
  | { readonly kind: 'requestBodyProcessor'; readonly processor: string }
  | { readonly kind: 'requestBodyAccess'; readonly on: boolean }
  | { readonly kind: 'forceRequestBodyVariable'; readonly on: boolean }
  | { readonly kind: 'auditEngine'; readonly on: boolean }
  | { readonly kind: 'auditLogParts' };

export type EngineMode = 'On' | 'Off' | 'DetectionOnly';

export type Disruptive = 'pass' | 'deny' | 'block' | 'allow' | 'drop';

export interface Rule {
  /** 0 for chained links and SecMarker. */
  readonly id: number;
  readonly file: string;
  readonly line: number;
  readonly phase: number;
  /** SecMarker name (the rule does nothing else). */
  readonly marker: string | undefined;
  targets: Target[];
  exclusions: Exclusion[];
  readonly operator: Operator;
  readonly negated: boolean;
  readonly transforms: readonly Transform[];
  /** `transforms` as a node of the rule set's TransformTrie (undefined: none); set by compile. */
  readonly transformStep: TransformStep | undefined;
  /**
   * The nodes of every prefix of `transforms`, shortest first (the last is transformStep): the
   * forms a multiMatch rule tests. Set by compile.
   */
  readonly transformPrefixes: readonly TransformStep[];
  /**
   * targets[i]'s values are the same as those of every other rule target with the same id
   * here (same variable, selector and `&`, and the same exclusions of that variable), so a
   * transaction shares them (set by compile; below CompiledRuleSet.targetSpecCount).
   */
  readonly targetSpecs: readonly number[];
  /**
   * For targets[i] whose values hold for a whole phase (Target.collection), when the operator has
   * a prefilter slot and neither `!` nor multiMatch: the id of the pair (targetSpecs[i],
   * transformStep), whose values' prefilter candidates a transaction unites once per phase, so
   * every rule of the pair whose regex the united candidates rule out skips the target whole.
   * -1: none. Set by compile; below CompiledRuleSet.prefilterPairCount.
   */
  readonly prefilterPairs: readonly number[];
  /**
   * When every target has a prefilter pair: the id of that list of pairs, whose candidates a
   * transaction unites once per phase, so that a rule they rule out costs one look-up. -1: none.
   * Set by compile; below CompiledRuleSet.prefilterGroupCount.
   */
  readonly prefilterGroup: number;
  readonly multiMatch: boolean;
  readonly capture: boolean;
  readonly disruptive: Disruptive | undefined;
  readonly status: number | undefined;
  readonly log: boolean;
  readonly msg: Macro | undefined;
  readonly logdata: Macro | undefined;
  readonly severity: string | undefined;
  readonly tags: readonly string[];
  readonly setvars: readonly SetVar[];
  readonly expirevars: ReadonlyArray<{ readonly name: Macro; readonly seconds: Macro }>;
  readonly initcols: ReadonlyArray<{ readonly collection: string; readonly key: Macro }>;
  readonly ctls: readonly Ctl[];
  readonly skip: number;
  readonly skipAfter: string | undefined;
  /** The next link of a chain. */
  readonly chain: Rule | undefined;
  /** SecAction: no targets, always matches. */
  readonly unconditional: boolean;
}
