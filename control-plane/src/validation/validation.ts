/**
 * Semantic validation (docs/architecture.md, "Validation before storage"), after decoding by
 * @ferry/proto: names unique in a batch, fields that must make sense on their own
 * (field-checks.ts), and references judged on the group's state *after* the change, so one batch
 * may bring a listener with its routes and clusters. Results, not exceptions: every message starts
 * with the resource's label and the field path, and the same text goes into API error details.
 */
import type { ResourceKind, ResourceType } from '@ferry/proto';
import { checkFields } from './field-checks.js';
import { at, type JsonObject } from './json-walk.js';
import { referencesOf } from './references.js';
import { producedSecrets } from '../acme/acme-spec.js';

export type { JsonObject } from './json-walk.js';

/** A resource as validation sees it. */
export interface CandidateResource {
  readonly type: ResourceType;
  readonly name: string;
  /** Normalised proto3 JSON (`ParsedResource.json`), without "@type". */
  readonly json: JsonObject;
  /** How messages name it: `resources[2](Cluster "web")` for a batch entry, `Cluster "web"` otherwise. */
  readonly label: string;
}

export interface RemovedResource {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly label: string;
}

/** One group's change: what is written, what is removed, and everything there afterwards. */
export interface GroupChange {
  readonly group: string;
  readonly puts: readonly CandidateResource[];
  readonly deletes: readonly RemovedResource[];
  /** The group's resources after the change (including `puts`, without `deletes`). */
  readonly after: readonly CandidateResource[];
}

export type Verdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly code: 'FERRY_INVALID_CONFIG' | 'FERRY_REFERENCED';
      readonly errors: string[];
    };

export function batchLabel(index: number, kind: ResourceKind, name?: string): string {
  return name === undefined ? `resources[${index}]` : `resources[${index}](${kind} "${name}")`;
}

export function resourceLabel(kind: ResourceKind, name: string): string {
  return `${kind} "${name}"`;
}

/** `resources[3]: duplicate Cluster "web" (also resources[1])`; `indexes` are batch positions. */
export function checkDuplicateNames(
  entries: ReadonlyArray<{
    readonly kind: ResourceKind;
    readonly name: string;
    readonly index: number;
  }>,
): string[] {
  const first = new Map<string, number>();
  const errors: string[] = [];
  for (const e of entries) {
    const key = `${e.kind}\u0000${e.name}`;
    const seen = first.get(key);
    if (seen === undefined) first.set(key, e.index);
    else
      errors.push(
        `resources[${e.index}]: duplicate ${e.kind} "${e.name}" (also resources[${seen}])`,
      );
  }
  return errors;
}

const NOUN: Record<ResourceKind, string> = {
  XdsAccessPolicy: 'xDS access policy',
  Cluster: 'cluster',
  RouteConfiguration: 'route configuration',
  ClusterLoadAssignment: 'cluster load assignment (endpoints)',
  Secret: 'secret',
  Listener: 'listener',
  AcmeCertificate: 'ACME certificate',
  RateLimitPolicy: 'rate limit policy',
};

/**
 * Checks the written resources' own fields and references, then (only when those pass) that
 * nothing left in the group refers to a removed resource.
 */
export function validateGroupChange(change: GroupChange): Verdict {
  const present = new Set(change.after.map((r) => `${r.type.kind}\u0000${r.name}`));
  // A Secret an AcmeCertificate of this group produces may be referenced before it is issued:
  // proxies wait for it over SDS, as Envoy does for any secret not yet served.
  const certificates = change.after.filter((r) => r.type.kind === 'AcmeCertificate');
  for (const name of producedSecrets(change.group, certificates))
    present.add(`Secret\u0000${name}`);
  const invalid: string[] = [];
  for (const r of change.puts) {
    for (const e of checkFields(r.type.kind, r.json)) invalid.push(`${r.label}.${e}`);
    for (const ref of referencesOf(r.type.kind, r.json)) {
      if (present.has(`${ref.kind}\u0000${ref.name}`)) continue;
      invalid.push(
        at(
          r.label,
          ref.path,
          `${NOUN[ref.kind]} "${ref.name}" does not exist in group "${change.group}"; apply it in the same batch or first`,
        ),
      );
    }
  }
  invalid.push(...duplicateRateLimitDomains(change));
  if (invalid.length > 0) return { ok: false, code: 'FERRY_INVALID_CONFIG', errors: invalid };

  if (change.deletes.length === 0) return { ok: true };
  const removed = new Map(change.deletes.map((d) => [`${d.kind}\u0000${d.name}`, d]));
  const referenced: string[] = [];
  for (const r of change.after) {
    for (const ref of referencesOf(r.type.kind, r.json)) {
      const target = removed.get(`${ref.kind}\u0000${ref.name}`);
      if (!target) continue;
      referenced.push(
        `${target.label}: still referenced by ${resourceLabel(r.type.kind, r.name)}.${ref.path} in group "${change.group}"; ` +
          `change or delete that ${NOUN[r.type.kind]} first, or in the same batch`,
      );
    }
  }
  return referenced.length > 0
    ? { ok: false, code: 'FERRY_REFERENCED', errors: referenced }
    : { ok: true };
}

/** One decoded entry of an apply batch, with its position in the request. */
export interface BatchEntry {
  readonly index: number;
  readonly type: ResourceType;
  readonly name: string;
  readonly json: JsonObject;
}

/**
 * Validates upserting `batch` into a group whose current resources are `existing`: duplicates in
 * the batch, then every batch resource's fields and references against the state after the batch.
 */
export function validateBatch(
  group: string,
  existing: readonly CandidateResource[],
  batch: readonly BatchEntry[],
): Verdict {
  const duplicates = checkDuplicateNames(
    batch.map((e) => ({ kind: e.type.kind, name: e.name, index: e.index })),
  );
  if (duplicates.length > 0) return { ok: false, code: 'FERRY_INVALID_CONFIG', errors: duplicates };
  const puts = batch.map((e) => ({ ...e, label: batchLabel(e.index, e.type.kind, e.name) }));
  const written = new Set(puts.map((p) => `${p.type.kind}\u0000${p.name}`));
  const after = [...existing.filter((r) => !written.has(`${r.type.kind}\u0000${r.name}`)), ...puts];
  return validateGroupChange({ group, puts, deletes: [], after });
}

/** A ShouldRateLimit call names a domain: within a group one policy may answer for it. */
function duplicateRateLimitDomains(change: GroupChange): string[] {
  const byDomain = new Map<string, CandidateResource>();
  const errors: string[] = [];
  for (const r of change.after) {
    if (r.type.kind !== 'RateLimitPolicy' || typeof r.json.domain !== 'string') continue;
    const other = byDomain.get(r.json.domain);
    if (!other) byDomain.set(r.json.domain, r);
    else if (change.puts.includes(r) || change.puts.includes(other)) {
      const [mine, theirs] = change.puts.includes(r) ? [r, other] : [other, r];
      errors.push(
        `${mine.label}.domain: ${JSON.stringify(r.json.domain)} is already the domain of ${resourceLabel('RateLimitPolicy', theirs.name)} in group "${change.group}"; a domain has one policy per group`,
      );
    }
  }
  return errors;
}
