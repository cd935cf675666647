/**
 * Who may join which group over xDS (docs/architecture.md, "Who may connect"). A proxy's identity
 * is the list of SAN URIs and DNS names of its client certificate; it is admitted to the group it
 * claims (`node.cluster`) with the node id it claims when
 * - a `--xds-group-from-san` pattern matches one of its SANs with `{group}` and `{node}` replaced
 *   by the claimed group and node id, or
 * - a rule of an XdsAccessPolicy stored in that very group matches: one of its `identities`
 *   matches a SAN and, when `node_ids` is not empty, one of them matches the claimed node id.
 * A policy grants access only to its own group, so whoever may write a group's configuration can
 * open that group and no other. CSDS (every group's status) is for identities matching an
 * `--xds-admin-san` pattern.
 *
 * Pure decisions, no I/O: access-policy-store.ts feeds the stored policies in, the admission
 * interceptor asks.
 */
import type { JsonValue } from '@ferry/proto';
import {
  compileIdentityPattern,
  matchesIdentity,
  type IdentityPattern,
} from './identity-pattern.js';

export interface CompiledRule {
  readonly identities: readonly IdentityPattern[];
  readonly nodeIds: readonly IdentityPattern[];
}

export interface CompiledPolicy {
  readonly name: string;
  readonly rules: readonly CompiledRule[];
}

export type AdmissionVerdict =
  { readonly ok: true; readonly via: string } | { readonly ok: false; readonly reason: string };

export interface AccessPolicyOptions {
  /** `--xds-group-from-san` patterns; each must contain `{group}`. */
  readonly groupFromSan?: readonly string[];
  /** `--xds-admin-san` patterns: who may read CSDS. */
  readonly adminSan?: readonly string[];
}

export class AccessPolicy {
  private readonly groupFromSan: readonly IdentityPattern[];
  private readonly adminSan: readonly IdentityPattern[];
  /** group → policy name → compiled policy. */
  private readonly stored = new Map<string, Map<string, CompiledPolicy>>();

  /** Throws with a message naming the flag when a pattern does not compile. */
  constructor(options: AccessPolicyOptions = {}) {
    this.groupFromSan = (options.groupFromSan ?? []).map((p) => {
      const pattern = flagPattern('--xds-group-from-san', p);
      if (!pattern.usesGroup)
        throw new Error(
          `--xds-group-from-san ${JSON.stringify(p)}: the pattern must contain {group} (the group the SAN grants); to admit fixed identities to a group, apply an XdsAccessPolicy to that group`,
        );
      return pattern;
    });
    this.adminSan = (options.adminSan ?? []).map((p) => {
      const pattern = flagPattern('--xds-admin-san', p);
      if (pattern.usesGroup || pattern.usesNode)
        throw new Error(
          `--xds-admin-san ${JSON.stringify(p)}: {group} and {node} have no meaning here (CSDS is not a group's stream)`,
        );
      return pattern;
    });
  }

  /** Replaces (or, with undefined, removes) one stored policy of `group`. */
  setPolicy(group: string, name: string, policy: CompiledPolicy | undefined): void {
    let byName = this.stored.get(group);
    if (policy) {
      if (!byName) this.stored.set(group, (byName = new Map<string, CompiledPolicy>()));
      byName.set(name, policy);
    } else if (byName) {
      byName.delete(name);
      if (byName.size === 0) this.stored.delete(group);
    }
  }

  /** Whether any rule lets an identity with these SANs join `group` as `nodeId`. */
  admit(sans: readonly string[], group: string, nodeId: string): AdmissionVerdict {
    for (const pattern of this.groupFromSan) {
      if (sans.some((san) => matchesIdentity(pattern, san, group, nodeId)))
        return { ok: true, via: `--xds-group-from-san ${pattern.source}` };
    }
    for (const policy of this.stored.get(group)?.values() ?? []) {
      for (const [index, rule] of policy.rules.entries()) {
        if (
          !rule.identities.some((p) => sans.some((san) => matchesIdentity(p, san, group, nodeId)))
        )
          continue;
        if (
          rule.nodeIds.length > 0 &&
          !rule.nodeIds.some((p) => matchesIdentity(p, nodeId, group, nodeId))
        )
          continue;
        return { ok: true, via: `XdsAccessPolicy "${policy.name}" rules[${index}]` };
      }
    }
    const policies = this.stored.get(group)?.size ?? 0;
    return {
      ok: false,
      reason:
        policies === 0 && this.groupFromSan.length === 0
          ? `no access rule exists for group "${group}"`
          : `no --xds-group-from-san pattern and no rule of the ${policies} XdsAccessPolicy resource(s) of group "${group}" admit it`,
    };
  }

  /** Whether an identity may read every group's status (CSDS). */
  isAdmin(sans: readonly string[]): boolean {
    return this.adminSan.some((p) => sans.some((san) => matchesIdentity(p, san, '', '')));
  }
}

function flagPattern(flag: string, source: string): IdentityPattern {
  const compiled = compileIdentityPattern(source);
  if (!compiled.ok) throw new Error(`${flag} ${JSON.stringify(source)}: ${compiled.error}`);
  return compiled.value;
}

/**
 * A stored policy's JSON (proto3 JSON, snake_case) compiled, or its errors with field paths
 * relative to the resource (`rules[0].identities[1]: ...`). Validation reports the same errors
 * before anything is stored.
 */
export function compilePolicy(
  json: Readonly<Record<string, JsonValue>>,
): { ok: true; value: CompiledPolicy } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const rulesJson = Array.isArray(json.rules) ? json.rules : [];
  if (rulesJson.length === 0)
    errors.push('rules: at least one rule is required (a policy without rules admits no one)');
  const rules: CompiledRule[] = [];
  rulesJson.forEach((ruleJson, i) => {
    const rule = (ruleJson ?? {}) as Record<string, JsonValue>;
    const patterns = (field: 'identities' | 'node_ids'): IdentityPattern[] => {
      const list = Array.isArray(rule[field]) ? rule[field] : [];
      const out: IdentityPattern[] = [];
      list.forEach((source, j) => {
        const compiled = compileIdentityPattern(typeof source === 'string' ? source : '');
        if (compiled.ok) out.push(compiled.value);
        else errors.push(`rules[${i}].${field}[${j}]: ${compiled.error}`);
      });
      return out;
    };
    const identities = patterns('identities');
    const nodeIds = patterns('node_ids');
    if (!Array.isArray(rule.identities) || rule.identities.length === 0)
      errors.push(`rules[${i}].identities: at least one identity pattern is required`);
    rules.push({ identities, nodeIds });
  });
  const name = typeof json.name === 'string' ? json.name : '';
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: { name, rules } };
}
