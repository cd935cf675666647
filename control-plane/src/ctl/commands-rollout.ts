/**
 * ferryctl's rollout commands (docs/rollouts.md):
 *   apply -f FILE --stages 1,10%,100% [--bake 30s] [--selector k=v]... [--force]
 *   apply -f FILE --rollout SPEC.yaml       the same from a spec file (stages, bake, selector, gates)
 *   rollout status|pause|resume|abort|promote [--group G]
 */
import { readFile } from 'node:fs/promises';
import { parseDocuments } from '@ferry/proto';
import type {
  RolloutActionRequestJson,
  RolloutActionResponseJson,
  RolloutJson,
  RolloutListJson,
  RolloutStartRequestJson,
  RolloutStartResponseJson,
} from '@ferry/shared/api-wire';
import type { ApiClient } from './api-client.js';
import type { ParsedArgs } from './args.js';
import { CtlError, EXIT_USAGE } from './ctl-error.js';
import { table } from './format.js';
import { annotateSources, readDocuments } from './input.js';
import type { Output } from './output.js';

/** Whether `apply` was asked to roll out rather than apply at once. */
export function wantsRollout(args: ParsedArgs): boolean {
  const o = args.options;
  return o.rolloutFile !== undefined || o.stages !== undefined;
}

async function rolloutSpec(args: ParsedArgs): Promise<Record<string, unknown>> {
  const o = args.options;
  let spec: Record<string, unknown> = {};
  if (o.rolloutFile !== undefined) {
    let text: string;
    try {
      text = await readFile(o.rolloutFile, 'utf8');
    } catch (err) {
      throw new CtlError(
        EXIT_USAGE,
        `--rollout: cannot read ${o.rolloutFile}: ${(err as Error).message}`,
      );
    }
    const docs = parseDocuments(text, o.rolloutFile);
    if (!docs.ok) throw new CtlError(EXIT_USAGE, `--rollout: ${docs.errors.join('; ')}`);
    const [doc] = docs.value;
    if (docs.value.length !== 1 || typeof doc !== 'object' || doc === null || Array.isArray(doc))
      throw new CtlError(
        EXIT_USAGE,
        `--rollout: ${o.rolloutFile} must hold one object (stages, bake, selector, gates)`,
      );
    spec = { ...(doc as Record<string, unknown>) };
  }
  if (o.stages !== undefined) spec.stages = o.stages;
  if (o.bake !== undefined) spec.bake = o.bake;
  if (o.selectors.length > 0) spec.selector = o.selectors;
  return spec;
}

function printRollout(io: Output, r: RolloutJson): void {
  io.out(
    `rollout ${r.name} in group "${r.group}": ${r.state}, stage ${r.stage + 1}/${r.stages.length} (stages ${r.stages.join(',')}, bake ${r.bake}${r.selectors.length > 0 ? `, selector ${r.selectors.join(',')}` : ''})\n`,
  );
  io.out(`updated proxies: ${r.updated_nodes.join(', ') || 'none yet'}\n`);
  if (r.reason) io.out(`${r.reason}\n`);
}

/** `apply` with --stages or --rollout. */
export async function applyRollout(args: ParsedArgs, client: ApiClient, io: Output): Promise<void> {
  const documents = await readDocuments(args.options.files);
  let response: RolloutStartResponseJson;
  try {
    response = await client.post<RolloutStartRequestJson, RolloutStartResponseJson>(
      '/v1/rollouts',
      {
        group: args.options.group,
        resources: documents.map((d) => d.doc),
        message:
          args.options.message ?? `ferryctl apply -f ${args.options.files.join(' -f ')} (rollout)`,
        force: args.options.force,
        rollout: await rolloutSpec(args),
      },
    );
  } catch (err) {
    if (err instanceof CtlError)
      throw new CtlError(err.exitCode, err.message, annotateSources(err.details, documents));
    throw err;
  }
  if (args.options.output === 'json') {
    io.out(`${JSON.stringify(response, null, 2)}\n`);
    return;
  }
  const rows = response.changes.map((c) => [
    `${c.kind.toLowerCase()}/${c.name}`,
    c.group,
    c.action,
  ]);
  if (rows.length > 0) io.out(table(['RESOURCE', 'GROUP', 'ACTION'], rows));
  printRollout(io, response.rollout);
}

const ACTIONS = ['pause', 'resume', 'abort', 'promote'];

/** `rollout status|pause|resume|abort|promote`. */
export async function rollout(args: ParsedArgs, client: ApiClient, io: Output): Promise<void> {
  const action = args.positional[0] ?? 'status';
  if (action === 'status') {
    const response = await client.get<RolloutListJson>('/v1/rollouts', {
      group: args.options.group,
    });
    if (args.options.output === 'json') {
      io.out(`${JSON.stringify(response, null, 2)}\n`);
      return;
    }
    if (response.rollouts.length === 0) {
      io.out('no rollouts\n');
      return;
    }
    io.out(
      table(
        ['ROLLOUT', 'GROUP', 'STATE', 'STAGE', 'UPDATED', 'BY', 'UPDATED AT', 'REASON'],
        response.rollouts.map((r) => [
          r.name,
          r.group,
          r.state,
          `${r.stage + 1}/${r.stages.length} (${r.stages.join(',')})`,
          String(r.updated_nodes.length),
          r.created_by,
          r.updated_at,
          r.reason,
        ]),
      ),
    );
    return;
  }
  if (!ACTIONS.includes(action))
    throw new CtlError(
      EXIT_USAGE,
      `rollout: expected status, ${ACTIONS.join(', ')}; got ${JSON.stringify(action)}`,
    );
  const response = await client.post<RolloutActionRequestJson, RolloutActionResponseJson>(
    `/v1/rollouts/${action}`,
    {
      group: args.options.group ?? 'default',
    },
  );
  if (args.options.output === 'json') {
    io.out(`${JSON.stringify(response, null, 2)}\n`);
    return;
  }
  printRollout(io, response.rollout);
}
