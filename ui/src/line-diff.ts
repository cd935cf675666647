/** A line diff (longest common subsequence), for comparing two revisions of a resource's YAML. */
export interface DiffLine {
  readonly op: ' ' | '+' | '-';
  readonly text: string;
}

/** Texts of configuration size; the table is lines(a) × lines(b) numbers. */
export function diffLines(a: string, b: string): DiffLine[] {
  const x = a === '' ? [] : a.replace(/\n$/, '').split('\n');
  const y = b === '' ? [] : b.replace(/\n$/, '').split('\n');
  const n = x.length;
  const m = y.length;
  // lcs[i * (m + 1) + j]: the longest common subsequence of x[i..] and y[j..].
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * (m + 1) + j] =
        x[i] === y[j]
          ? (lcs[(i + 1) * (m + 1) + j + 1] ?? 0) + 1
          : Math.max(lcs[(i + 1) * (m + 1) + j] ?? 0, lcs[i * (m + 1) + j + 1] ?? 0);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', text: x[i] ?? '' });
      i++;
      j++;
    } else if ((lcs[(i + 1) * (m + 1) + j] ?? 0) >= (lcs[i * (m + 1) + j + 1] ?? 0)) {
      out.push({ op: '-', text: x[i++] ?? '' });
    } else {
      out.push({ op: '+', text: y[j++] ?? '' });
    }
  }
  while (i < n) out.push({ op: '-', text: x[i++] ?? '' });
  while (j < m) out.push({ op: '+', text: y[j++] ?? '' });
  return out;
}
