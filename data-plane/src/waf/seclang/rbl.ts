/**
 * `@rbl` (a DNS block list lookup per request) is not supported: the engine does no DNS on the
 * request path. CRS 3.3.4 has one such rule, 910140 (Project Honey Pot's HTTP blacklist), and
 * guards it with 910130, which skips it unless crs-setup.conf's rule 900500 sets one of
 * `tx.block_{suspicious,harvester,spammer,search}_ip` (it also needs `SecHttpBlKey`, which the
 * engine refuses). A rule set may therefore load `@rbl` rules only where they can never run;
 * this module proves that per rule and names the ones that could run, which the compiler
 * refuses.
 *
 * Proof, for an `@rbl` rule R (conservative: anything it does not recognise counts as "can run"):
 * - the rule just before R in its phase is a guard G whose every chain link tests only
 *   `&TX:name` and matches when that count is 0, and whose skipAfter marker lies after R;
 * - no rule sets any of those TX names (a setvar whose name is a macro counts when its literal
 *   parts could spell one), so G always matches and skips R;
 * - no `ctl:ruleRemoveById` / `ruleRemoveByTag` can disable G at run time (removing targets
 *   from G only lowers its counts), and no `skip:N` lands on R.
 */
import type { Macro } from './macro.js';
import type { OperatorContext } from './operators.js';
import type { Rule } from './rule.js';

const NO_CONTEXT: OperatorContext = { macroValue: () => '', setCapture: () => undefined };

function links(rule: Rule): Rule[] {
  const out: Rule[] = [];
  for (let l: Rule | undefined = rule; l !== undefined; l = l.chain) out.push(l);
  return out;
}

/** A setvar name as a pattern: its literal parts, anything for each `%{...}`. */
function namePattern(name: Macro): RegExp {
  const parts = name.text.split(/%\{[^}]*\}/);
  const escaped = parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 'i');
}

/** The TX names a guard link needs unset, or undefined if the link is not such a test. */
function unsetTxTest(link: Rule): string | undefined {
  if (link.targets.length !== 1 || link.exclusions.length > 0 || link.multiMatch) return undefined;
  const t = link.targets[0]!;
  if (!t.count || t.variable !== 'TX' || typeof t.selector !== 'string') return undefined;
  let zero = '0';
  for (const transform of link.transforms) zero = transform(zero);
  if (link.operator.test(zero, NO_CONTEXT, false) === link.negated) return undefined;
  return t.selector;
}

/** `file:line: rule N: ...` for each `@rbl` rule of `rules` (in load order) that can run. */
export function runnableRblRules(rules: readonly Rule[]): string[] {
  const setters: RegExp[] = [];
  const removals: Array<{ ids?: ReadonlyArray<readonly [number, number]>; tag?: RegExp }> = [];
  for (const rule of rules) {
    if (rule.marker !== undefined) continue;
    for (const l of links(rule)) {
      for (const sv of l.setvars)
        if (sv.collection === 'TX' && sv.op !== 'delete') setters.push(namePattern(sv.name));
      // Removing targets from the guard only lowers its counts: it still skips.
      for (const c of l.ctls) {
        if (c.kind === 'ruleRemoveById') removals.push({ ids: c.ranges });
        else if (c.kind === 'ruleRemoveByTag') removals.push({ tag: c.tag });
      }
    }
  }
  const removable = (g: Rule): boolean =>
    removals.some(
      (r) =>
        (r.ids !== undefined && r.ids.some(([lo, hi]) => g.id >= lo && g.id <= hi)) ||
        (r.tag !== undefined && g.tags.some((t) => r.tag!.test(t))),
    );

  const errors: string[] = [];
  for (let phase = 1; phase <= 5; phase++) {
    const list = rules.filter((r) => r.marker !== undefined || r.phase === phase);
    list.forEach((rule, idx) => {
      if (rule.marker !== undefined) return;
      const rbl = links(rule).find((l) => l.operator.name === 'rbl');
      if (rbl === undefined) return;
      const why = unguarded(list, idx, setters, removable);
      if (why !== undefined)
        errors.push(
          `${rbl.file}:${rbl.line}: rule ${rule.id}: @rbl is not supported (the engine does no DNS ` +
            `block list lookups), and this rule can run: ${why}; remove it ` +
            `(SecRuleRemoveById ${rule.id}) or the setting that enables it`,
        );
    });
  }
  return errors;
}

/** Why list[idx] can run, or undefined when a guard always skips it. */
function unguarded(
  list: readonly Rule[],
  idx: number,
  setters: readonly RegExp[],
  removable: (g: Rule) => boolean,
): string | undefined {
  const guard = list[idx - 1];
  if (guard === undefined || guard.marker !== undefined || guard.skipAfter === undefined)
    return 'no rule right before it skips it';
  let markerAt = -1;
  list.forEach((r, i) => {
    if (r.marker === guard.skipAfter) markerAt = i;
  });
  if (markerAt <= idx) return `rule ${guard.id} does not skip past it`;
  const names: string[] = [];
  for (const l of links(guard)) {
    const name = unsetTxTest(l);
    if (name === undefined)
      return `rule ${guard.id} does not only test that TX variables are unset`;
    names.push(name);
  }
  for (const name of names) if (setters.some((p) => p.test(name))) return `a rule sets tx.${name}`;
  if (removable(guard)) return `a ctl action can remove rule ${guard.id}`;
  for (let j = 0; j < idx; j++) {
    const r = list[j]!;
    if (r.skip > 0 && j + r.skip + 1 === idx) return `skip:${r.skip} of rule ${r.id} lands on it`;
  }
  return undefined;
}
