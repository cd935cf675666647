/** ferryctl's human output: aligned tables and a unified-style line diff. */
import type { TypeStatusJson } from '@ferry/shared/api-wire';

/** Columns padded to their widest cell, separated by three spaces (the last column unpadded). */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

type Op = { kind: ' ' | '-' | '+'; text: string };

/** Line operations turning `a` into `b` (longest common subsequence). */
function lineOps(a: readonly string[], b: readonly string[]): Op[] {
  // Past a few million cells the table costs too much memory: show a full replacement instead.
  if (a.length * b.length > 4_000_000) {
    return [
      ...a.map((text) => ({ kind: '-' as const, text })),
      ...b.map((text) => ({ kind: '+' as const, text })),
    ];
  }
  const lcs: Uint32Array[] = Array.from(
    { length: a.length + 1 },
    () => new Uint32Array(b.length + 1),
  );
  for (let i = a.length - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const next = lcs[i + 1] as Uint32Array;
    for (let j = b.length - 1; j >= 0; j--) {
      row[j] =
        a[i] === b[j]
          ? (next[j + 1] as number) + 1
          : Math.max(next[j] as number, row[j + 1] as number);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i++] as string });
      j++;
    } else if (
      i < a.length &&
      (j >= b.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))
    ) {
      // Removals before additions, as diff(1) prints them.
      ops.push({ kind: '-', text: a[i++] as string });
    } else {
      ops.push({ kind: '+', text: b[j++] as string });
    }
  }
  return ops;
}

/** `--- old` / `+++ new` and `@@` hunks with `context` lines around each change; '' when equal. */
export function unifiedDiff(
  oldText: string,
  newText: string,
  oldLabel: string,
  newLabel: string,
  context = 3,
): string {
  const split = (t: string): string[] => (t === '' ? [] : t.replace(/\n$/, '').split('\n'));
  const ops = lineOps(split(oldText), split(newText));
  if (ops.every((o) => o.kind === ' ')) return '';
  const out = [`--- ${oldLabel}`, `+++ ${newLabel}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]?.kind === ' ') {
      k++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that is within 2*context lines of the previous one.
    const start = Math.max(0, k - context);
    let end = k;
    let lastChange = k;
    while (end < ops.length && end - lastChange <= 2 * context) {
      if (ops[end]?.kind !== ' ') lastChange = end;
      end++;
    }
    end = Math.min(ops.length, lastChange + context + 1);
    let oldLine = 1;
    let newLine = 1;
    for (const op of ops.slice(0, start)) {
      if (op.kind !== '+') oldLine++;
      if (op.kind !== '-') newLine++;
    }
    const hunk = ops.slice(start, end);
    const oldCount = hunk.filter((o) => o.kind !== '+').length;
    const newCount = hunk.filter((o) => o.kind !== '-').length;
    // An empty side is numbered by the line before it (so a new file is "-0,0").
    out.push(
      `@@ -${oldCount === 0 ? oldLine - 1 : oldLine},${oldCount} +${newCount === 0 ? newLine - 1 : newLine},${newCount} @@`,
    );
    for (const op of hunk) out.push(op.kind + op.text);
    k = end;
  }
  return out.join('\n') + '\n';
}

export function shortVersion(version: string): string {
  return version.length > 12 ? version.slice(0, 12) : version;
}

/** The `last_nack` object of the HTTP status JSON (the fields a NACK cell shows). */
export type LastNackJson = Pick<
  NonNullable<TypeStatusJson['last_nack']>,
  'version' | 'error' | 'resources'
>;

/**
 * A status table's NACK cell: `v=<short version>: <error> (resources: c1,c2)`; '' without a NACK.
 * The resource list is what the rejected response carried (NACKs are recorded per resource).
 */
export function nackCell(nack: LastNackJson | undefined): string {
  if (!nack) return '';
  const resources =
    nack.resources && nack.resources.length > 0 ? ` (resources: ${nack.resources.join(',')})` : '';
  return `v=${shortVersion(nack.version)}: ${nack.error}${resources}`;
}
