/**
 * The HTTP API's rollout routes (docs/rollouts.md; operators of a group act, viewers see):
 *   POST /v1/rollouts            {group, resources, message, force, rollout: {stages, bake,
 *                                 selector, gates}} → {rollout, changes}: an apply as a rollout
 *   GET  /v1/rollouts            ?group=  every rollout record (active and finished), newest first
 *   POST /v1/rollouts/{action}   {group}; action: pause, resume, abort, promote
 */
import { FerryError } from '@ferry/shared';
import type { RolloutAction } from '../rollout/rollout-controller.js';
import { rolloutView } from '../rollout/rollout-record.js';
import type { RolloutService } from '../rollout/rollout-service.js';
import { parseRolloutSpec } from '../rollout/rollout-spec.js';
import type { Caller } from './access.js';
import { expectMethod, optionalBoolean, optionalString, parseJsonObject } from './http-request.js';

export interface RolloutRouteRequest {
  readonly method: string;
  /** /v1/rollouts or /v1/rollouts/{action}. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly caller: Caller;
  /** Reads the (bounded) request body. */
  readonly body: () => Promise<Buffer>;
}

const ACTIONS: readonly RolloutAction[] = ['pause', 'resume', 'abort', 'promote'];

export async function rolloutRoute(
  rollouts: RolloutService,
  request: RolloutRouteRequest,
): Promise<{ status: number; body: unknown }> {
  const { method, path, caller } = request;
  if (path === '/v1/rollouts') {
    expectMethod(method, ['GET', 'POST']);
    if (method === 'GET') {
      const group = request.query.get('group') ?? undefined;
      const records = await rollouts.list(group, caller);
      return { status: 200, body: { rollouts: records.map(rolloutView) } };
    }
    const body = parseJsonObject(await request.body(), [
      'group',
      'resources',
      'message',
      'force',
      'rollout',
    ]);
    if (!Array.isArray(body.resources))
      throw new FerryError(
        'FERRY_BAD_REQUEST',
        'resources: expected an array of resource documents',
      );
    const started = await rollouts.start(
      {
        group: optionalString(body, 'group'),
        documents: body.resources,
        message: optionalString(body, 'message'),
        force: optionalBoolean(body, 'force') === true,
        spec: parseRolloutSpec(body.rollout),
      },
      caller,
    );
    return {
      status: 200,
      body: {
        rollout: rolloutView(started.rollout),
        changes: started.changes.map((c) => ({
          type_url: c.typeUrl,
          kind: c.kind,
          group: c.group,
          name: c.name,
          action: c.action,
          version: c.version,
        })),
      },
    };
  }
  const action = path.slice('/v1/rollouts/'.length) as RolloutAction;
  if (!ACTIONS.includes(action))
    throw new FerryError(
      'FERRY_NOT_FOUND',
      `no API route ${method} ${path} (rollout actions: ${ACTIONS.join(', ')})`,
    );
  expectMethod(method, ['POST']);
  const body = parseJsonObject(await request.body(), ['group']);
  const record = await rollouts.act(optionalString(body, 'group'), action, caller);
  return { status: 200, body: { rollout: rolloutView(record) } };
}
