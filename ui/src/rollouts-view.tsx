/** Rollouts: each rollout's stages and gates; operators pause, resume or abort the active ones. */
import { h } from './vendor/preact.js';
import { useEffect, useState } from './vendor/preact-hooks.js';
import { ApiError, errorText } from './api.js';
import { canOperate, type ViewContext } from './context.js';
import { useFeed, useTrailing } from './feed-hub.js';
import { utc } from './format.js';
import type { RolloutJson } from './wire.js';

// The states a rollout can still leave (PROMOTED, ROLLED_BACK and ABORTED are final).
const ACTIVE = new Set(['PROGRESSING', 'PAUSED']);

export function RolloutsView({ ctx }: { ctx: ViewContext }) {
  const [rollouts, setRollouts] = useState<readonly RolloutJson[] | undefined>(undefined);
  const [error, setError] = useState('');
  const load = (): void => {
    ctx.api.get<{ rollouts: RolloutJson[] }>('/v1/rollouts').then(
      (r) => {
        setRollouts(r.rollouts);
        setError('');
      },
      (err) =>
        setError(
          err instanceof ApiError && err.status === 404
            ? 'This control plane runs no rollouts.'
            : errorText(err),
        ),
    );
  };
  useEffect(load, []);
  useFeed(ctx.hub, ['rollout'], useTrailing(load, 300));
  const act = (r: RolloutJson, action: 'pause' | 'resume' | 'abort'): void => {
    ctx.api
      .post(`/v1/rollouts/${action}`, { group: r.group })
      .then(load, (err) => setError(errorText(err)));
  };
  return (
    <section aria-labelledby="rollouts-title">
      <h1 id="rollouts-title">Rollouts</h1>
      {error !== '' && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Stage</th>
            <th scope="col">Gates</th>
            <th scope="col">Updated proxies</th>
            <th scope="col">By / updated (UTC)</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {rollouts?.map((r) => {
            const active = ACTIVE.has(r.state);
            const operator = canOperate(ctx.who, r.group);
            return (
              <tr key={`${r.group}/${r.name}`}>
                <td>{r.group}</td>
                <th scope="row">{r.name}</th>
                <td>
                  {r.state}
                  {r.reason !== '' && <span class="muted"> — {r.reason}</span>}
                </td>
                <td>
                  <ol class="stages">
                    {r.stages.map((s, i) => (
                      <li key={i} aria-current={i === r.stage ? 'step' : undefined}>
                        {s}
                      </li>
                    ))}
                  </ol>
                  bake {r.bake}
                </td>
                <td>
                  {Object.entries(r.gates)
                    .filter(([, v]) => v !== undefined && v !== null)
                    .map(([k, v]) => `${k} ${String(v)}`)
                    .join(', ') || '—'}
                </td>
                <td>{r.updated_nodes.length}</td>
                <td>
                  {r.created_by || 'control plane'} / {utc(r.updated_at)}
                </td>
                <td>
                  {operator && active && (
                    <span class="actions">
                      {r.state === 'PAUSED' ? (
                        <button type="button" onClick={() => act(r, 'resume')}>
                          Resume
                        </button>
                      ) : (
                        <button type="button" onClick={() => act(r, 'pause')}>
                          Pause
                        </button>
                      )}
                      <button type="button" class="danger" onClick={() => act(r, 'abort')}>
                        Abort
                      </button>
                    </span>
                  )}
                </td>
              </tr>
            );
          })}
          {rollouts && rollouts.length === 0 && (
            <tr>
              <td colSpan={8}>No rollouts.</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
