/**
 * Reduces a batch to the mutations that change the store, shared by every ResourceStore so that
 * they agree on what a batch means (the contract tests run against all of them).
 */
import { FerryError } from '@ferry/shared';
import { keyOf, type Mutation, type ResourceKey } from './store.js';

/**
 * Returns the net effect of `mutations` against the current state: for each key the last mutation
 * of the batch wins (a batch is one atomic step, so "put A then delete A" is the same as "delete
 * A"), and it is dropped when it would change nothing (a put of the version already stored, a
 * delete of an absent key). Keys keep the order of their first appearance in the batch.
 *
 * `currentVersion` returns the stored version of a key, or undefined when it is absent.
 * Throws FerryError FERRY_BAD_REQUEST, before anything is looked up, when a mutation is malformed
 * (callers that bypass the type checker, e.g. JSON from the API).
 */
export function netChanges(
  mutations: readonly Mutation[],
  currentVersion: (key: ResourceKey) => string | undefined,
): Mutation[] {
  const problems = mutations.flatMap((m, i) =>
    mutationProblems(m).map((p) => `mutations[${i}]${p}`),
  );
  if (problems.length > 0) {
    throw new FerryError(
      'FERRY_BAD_REQUEST',
      `malformed store mutations: ${problems.join('; ')}`,
      problems,
    );
  }
  const lastByKey = new Map<string, Mutation>();
  for (const m of mutations) lastByKey.set(keyOf(m), m);
  const changes: Mutation[] = [];
  for (const m of lastByKey.values()) {
    const stored = currentVersion(m);
    const changesSomething = m.op === 'put' ? stored !== m.version : stored !== undefined;
    if (changesSomething) changes.push(m);
  }
  return changes;
}

function mutationProblems(m: Mutation): string[] {
  const problems: string[] = [];
  if (m.op !== 'put' && m.op !== 'delete') problems.push(`.op: must be "put" or "delete"`);
  for (const field of ['typeUrl', 'group', 'name'] as const) {
    if (typeof m[field] !== 'string' || m[field] === '')
      problems.push(`.${field}: must be a non-empty string`);
  }
  if (m.op === 'put') {
    if (!(m.value instanceof Uint8Array)) problems.push('.value: must be bytes (Uint8Array)');
    if (typeof m.version !== 'string' || m.version === '')
      problems.push('.version: must be a non-empty string');
  }
  return problems;
}
