/**
 * Identity patterns of the xDS access policy (docs/architecture.md, "Who may connect"), matched
 * against the SAN URIs and DNS names of a proxy's client certificate:
 * - `*` matches any run of characters other than `/` (one path segment or DNS label run);
 * - `**` matches any run of characters;
 * - `{group}` is replaced by the group the proxy claims (`node.cluster`) and `{node}` by the node
 *   id it claims, each matched literally (a claimed `*` is a plain star);
 * - everything else matches itself, case-sensitively.
 * A pattern is compiled once (syntax checked then); matching builds one RegExp per check, which
 * happens once per stream, never per response.
 */

export type PatternToken =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'segment' }
  | { readonly kind: 'any' }
  | { readonly kind: 'group' }
  | { readonly kind: 'node' };

export interface IdentityPattern {
  readonly source: string;
  readonly tokens: readonly PatternToken[];
  readonly usesGroup: boolean;
  readonly usesNode: boolean;
}

export type PatternResult =
  | { readonly ok: true; readonly value: IdentityPattern }
  | { readonly ok: false; readonly error: string };

const PLACEHOLDER = /^\{([^{}]*)\}/;

/** Parses a pattern; the error says what is wrong, without a field path (callers add theirs). */
export function compileIdentityPattern(source: string): PatternResult {
  if (source === '') return { ok: false, error: 'empty pattern' };
  const tokens: PatternToken[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') tokens.push({ kind: 'text', text });
    text = '';
  };
  for (let i = 0; i < source.length;) {
    const c = source[i]!;
    if (c === '*') {
      flush();
      if (source[i + 1] === '*') {
        tokens.push({ kind: 'any' });
        i += 2;
      } else {
        tokens.push({ kind: 'segment' });
        i += 1;
      }
      if (source[i] === '*')
        return { ok: false, error: `"***" at offset ${i - 2} is ambiguous: use * or **` };
      continue;
    }
    if (c === '{') {
      const m = PLACEHOLDER.exec(source.slice(i));
      if (!m || (m[1] !== 'group' && m[1] !== 'node'))
        return {
          ok: false,
          error: `unknown placeholder ${m ? m[0] : '"{" without "}"'} at offset ${i}: only {group} and {node} exist`,
        };
      flush();
      tokens.push({ kind: m[1] === 'group' ? 'group' : 'node' });
      i += m[0].length;
      continue;
    }
    if (c === '}') return { ok: false, error: `"}" without "{" at offset ${i}` };
    text += c;
    i += 1;
  }
  flush();
  return {
    ok: true,
    value: {
      source,
      tokens,
      usesGroup: tokens.some((t) => t.kind === 'group'),
      usesNode: tokens.some((t) => t.kind === 'node'),
    },
  };
}

/** Whether `subject` (one SAN) matches `pattern` for a proxy claiming `group` and `nodeId`. */
export function matchesIdentity(
  pattern: IdentityPattern,
  subject: string,
  group: string,
  nodeId: string,
): boolean {
  // An unnamed node cannot stand for `{node}`: "" would make the placeholder match nothing.
  if (pattern.usesNode && nodeId === '') return false;
  let source = '^';
  for (const token of pattern.tokens) {
    switch (token.kind) {
      case 'text':
        source += escapeRegExp(token.text);
        break;
      case 'segment':
        source += '[^/]*';
        break;
      case 'any':
        source += '.*';
        break;
      case 'group':
        source += escapeRegExp(group);
        break;
      case 'node':
        source += escapeRegExp(nodeId);
        break;
    }
  }
  return new RegExp(source + '$', 's').test(subject);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
