/**
 * Rollouts: each rollout's stages and gates; operators pause, resume or abort the active ones.
 * An abort puts every updated proxy back on the stable config and cannot be undone, so it is
 * confirmed in a dialog that names the rollout and what it does first.
 */
import { h } from './vendor/preact.js';
import { useEffect, useRef, useState } from './vendor/preact-hooks.js';
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
  const [aborting, setAborting] = useState<RolloutJson | undefined>(undefined);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    if (aborting) dialog.current?.showModal();
  }, [aborting]);
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
                      <button type="button" class="danger" onClick={() => setAborting(r)}>
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
      <dialog ref={dialog} aria-labelledby="abort-title" onClose={() => setAborting(undefined)}>
        {aborting && (
          <form
            method="dialog"
            onSubmit={(e) => {
              e.preventDefault();
              dialog.current?.close();
              act(aborting, 'abort');
            }}
          >
            <h2 id="abort-title">
              Abort rollout {aborting.name} of group {aborting.group}?
            </h2>
            <p>
              {aborting.updated_nodes.length === 0
                ? 'No proxy runs its change yet; '
                : `The ${aborting.updated_nodes.length} updated ${
                    aborting.updated_nodes.length === 1 ? 'proxy goes' : 'proxies go'
                  } back to the group's stable config (${aborting.updated_nodes.join(', ')}); `}
              the rollout ends as ABORTED and its change is not applied. This cannot be undone: to
              try the change again, start a new rollout.
            </p>
            <div class="actions">
              <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
                Cancel
              </button>
              <button type="submit" class="danger">
                Abort rollout
              </button>
            </div>
          </form>
        )}
      </dialog>
    </section>
  );
}
