/**
 * Compares two WAFs' verdicts on the corpora case by case and writes the report: a JSON file
 * with every case (status and verdict on each side, the rules ModSecurity matched, agreement)
 * and a short text summary of the numbers and the cases where the two disagree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { blocked, type CaseResult, type CorpusCase } from './waf-corpus.js';
import { ROOT } from './harness.js';

/** One side's answer to one case: status, verdict, and the rules it matched when known. */
export interface SideVerdict {
  readonly status: number;
  readonly blocked: boolean;
  readonly error?: string;
  readonly rules?: readonly string[];
}

export interface CaseComparison {
  readonly corpus: string;
  readonly id: string;
  readonly category: string;
  readonly where: string;
  readonly note: string;
  readonly reference: SideVerdict;
  readonly ferry: SideVerdict;
  readonly agree: boolean;
}

export interface CorpusTotals {
  readonly cases: number;
  readonly referenceBlocked: number;
  readonly ferryBlocked: number;
  readonly agree: number;
  /** Shares in [0, 1]. */
  readonly referenceBlockRate: number;
  readonly ferryBlockRate: number;
  readonly agreement: number;
}

export function sideVerdict(
  result: CaseResult | undefined,
  rules?: readonly string[],
): SideVerdict {
  if (result === undefined) return { status: 0, blocked: false, error: 'not sent' };
  return {
    status: result.status,
    blocked: blocked(result),
    ...(result.error !== undefined ? { error: result.error } : {}),
    ...(rules !== undefined ? { rules } : {}),
  };
}

export function compareCase(
  corpus: string,
  c: CorpusCase,
  reference: SideVerdict,
  ferry: SideVerdict,
): CaseComparison {
  return {
    corpus,
    id: c.id,
    category: c.category,
    where: c.where,
    note: c.note,
    reference,
    ferry,
    // A body refused as malformed (400, rule 200002) is a verdict too.
    agree:
      reference.blocked === ferry.blocked && (reference.status === 400) === (ferry.status === 400),
  };
}

export function totals(cases: readonly CaseComparison[]): CorpusTotals {
  const n = cases.length;
  const referenceBlocked = cases.filter((c) => c.reference.blocked).length;
  const ferryBlocked = cases.filter((c) => c.ferry.blocked).length;
  const agree = cases.filter((c) => c.agree).length;
  return {
    cases: n,
    referenceBlocked,
    ferryBlocked,
    agree,
    referenceBlockRate: n === 0 ? 0 : referenceBlocked / n,
    ferryBlockRate: n === 0 ? 0 : ferryBlocked / n,
    agreement: n === 0 ? 1 : agree / n,
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** The text summary: per corpus, then per attack category, then every disagreement. */
export function summaryText(
  byCorpus: ReadonlyMap<string, readonly CaseComparison[]>,
  referenceName: string,
): string {
  const lines: string[] = [];
  lines.push(
    `${'corpus'.padEnd(20)}${'cases'.padStart(5)}  ${`${referenceName} blocked`.padEnd(22)}  ${'ferry blocked'.padEnd(13)}  agreement`,
  );
  for (const [corpus, cases] of byCorpus) {
    const t = totals(cases);
    lines.push(
      `${corpus.padEnd(20)}${String(t.cases).padStart(5)}  ${`${t.referenceBlocked} (${pct(t.referenceBlockRate)})`.padEnd(22)}  ${`${t.ferryBlocked} (${pct(t.ferryBlockRate)})`.padEnd(13)}  ${t.agree}/${t.cases} (${pct(t.agreement)})`,
    );
  }
  const attacks = byCorpus.get('attacks') ?? [];
  if (attacks.length > 0) {
    lines.push('', 'attacks by category (blocked by reference / ferry / cases)');
    const categories = [...new Set(attacks.map((c) => c.category))];
    for (const category of categories) {
      const inCategory = attacks.filter((c) => c.category === category);
      const t = totals(inCategory);
      lines.push(`  ${category.padEnd(18)} ${t.referenceBlocked} / ${t.ferryBlocked} / ${t.cases}`);
    }
  }
  const disagreements = [...byCorpus.values()].flat().filter((c) => !c.agree);
  lines.push('', `disagreements: ${disagreements.length}`);
  for (const c of disagreements) {
    const side = (v: SideVerdict): string =>
      `${v.status}${v.error ? ` (${v.error})` : ''}${v.rules?.length ? ` rules ${v.rules.join(',')}` : ''}`;
    lines.push(
      `  ${c.corpus}/${c.id} [${c.where}] ${referenceName} ${side(c.reference)}; ferry ${side(c.ferry)} — ${c.note}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Where tests write reports: $FERRY_TEST_OUTPUT_DIR, else test-results/ in the repo. */
export function testOutputDir(name: string): string {
  const dir = path.join(process.env.FERRY_TEST_OUTPUT_DIR ?? path.join(ROOT, 'test-results'), name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
