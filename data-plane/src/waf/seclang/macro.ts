/**
 * Macro expansion (`%{tx.anomaly_score}`, `%{MATCHED_VAR}`, `%{rule.id}`), parsed once per
 * action or operator argument.
 */
export interface MacroScope {
  /** The value of VARIABLE or COLLECTION:key ("" when unset). */
  macroValue(variable: string, key: string | undefined): string;
}

export interface MacroRef {
  /** Upper-case variable or collection name. */
  readonly variable: string;
  /** Lower-cased key (`tx.x`: x), or undefined. */
  readonly key: string | undefined;
}

export interface Macro {
  readonly text: string;
  /** What an expansion reads, in order (empty: the macro is its text). */
  readonly refs: readonly MacroRef[];
  /** The text before the first reference: every expansion starts with it. */
  readonly prefix: string;
  expand(scope: MacroScope): string;
}

type Part = string | MacroRef;

export function compileMacro(text: string): Macro {
  if (!text.includes('%{')) return { text, refs: [], prefix: text, expand: () => text };
  const parts: Part[] = [];
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('%{', i);
    if (at < 0) {
      parts.push(text.slice(i));
      break;
    }
    const end = text.indexOf('}', at);
    if (end < 0) {
      parts.push(text.slice(i));
      break;
    }
    if (at > i) parts.push(text.slice(i, at));
    const ref = text.slice(at + 2, end);
    const dot = ref.search(/[.:]/);
    parts.push(
      dot < 0
        ? { variable: ref.toUpperCase(), key: undefined }
        : { variable: ref.slice(0, dot).toUpperCase(), key: ref.slice(dot + 1).toLowerCase() },
    );
    i = end + 1;
  }
  return {
    text,
    refs: parts.filter((p): p is MacroRef => typeof p !== 'string'),
    prefix: typeof parts[0] === 'string' ? parts[0] : '',
    expand(scope) {
      let out = '';
      for (const p of parts) out += typeof p === 'string' ? p : scope.macroValue(p.variable, p.key);
      return out;
    },
  };
}
