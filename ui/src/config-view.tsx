/**
 * Config: a group's resources (each viewable as YAML), the revision history with who and when, the
 * diff between two revisions, and a rollback (operators) confirmed in a dialog showing its diff.
 * Store events refetch what is shown. The history starts with the newest revisions; "Load older
 * revisions" lists more (history-paging.ts), so that any revision the store keeps can be compared
 * and rolled back to.
 */
import { h } from './vendor/preact.js';
import { useEffect, useRef, useState } from './vendor/preact-hooks.js';
import { errorText } from './api.js';
import { canOperate, type ViewContext } from './context.js';
import { useFeed, useTrailing } from './feed-hub.js';
import { utc } from './format.js';
import { HISTORY_PAGE, nextListing, NOTHING_LISTED } from './history-paging.js';
import { diffLines } from './line-diff.js';
import { TraceLink } from './trace-link.js';
import type {
  ApplyResponseJson,
  HistoryEntryJson,
  HistoryJson,
  ListResponseJson,
  ResourceJson,
} from './wire.js';
import { toYaml } from './yaml.js';

/** A resource's YAML per "kind/name" of a group at a revision ("now" for the current one). */
async function yamlAt(
  ctx: ViewContext,
  group: string,
  revision: number | 'now',
): Promise<Map<string, string>> {
  const list = await ctx.api.get<ListResponseJson>('/v1/resources', {
    group,
    revision: revision === 'now' ? undefined : revision,
  });
  return new Map(list.resources.map((r) => [`${r.kind}/${r.name}`, toYaml(r.resource)]));
}

interface ResourceDiff {
  readonly key: string;
  readonly lines: ReturnType<typeof diffLines>;
}

/** Every resource that differs between `from` and `to`, as line diffs. */
async function revisionDiff(
  ctx: ViewContext,
  group: string,
  from: number | 'now',
  to: number | 'now',
): Promise<ResourceDiff[]> {
  const [a, b] = await Promise.all([yamlAt(ctx, group, from), yamlAt(ctx, group, to)]);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys
    .filter((k) => a.get(k) !== b.get(k))
    .map((key) => ({ key, lines: diffLines(a.get(key) ?? '', b.get(key) ?? '') }));
}

function DiffBlock({ diffs }: { diffs: readonly ResourceDiff[] }) {
  if (diffs.length === 0) return <p>No differences.</p>;
  return (
    <div class="diff">
      {diffs.map((d) => (
        <section key={d.key} aria-label={`Changes to ${d.key}`}>
          <h3>{d.key}</h3>
          <pre>
            {d.lines.map((l, i) => (
              <span key={i} class={l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same'}>
                {l.op} {l.text}
                {'\n'}
              </span>
            ))}
          </pre>
        </section>
      ))}
    </div>
  );
}

export function ConfigView({ ctx }: { ctx: ViewContext }) {
  const [groups, setGroups] = useState<string[]>([]);
  const [group, setGroup] = useState('');
  const [resources, setResources] = useState<readonly ResourceJson[]>([]);
  const [revision, setRevision] = useState(0);
  const [history, setHistory] = useState<readonly HistoryEntryJson[]>([]);
  const [historyLimit, setHistoryLimit] = useState(HISTORY_PAGE);
  const [older, setOlder] = useState(false);
  const listed = useRef(NOTHING_LISTED);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [compare, setCompare] = useState<{ from?: number; to?: number }>({});
  const [diff, setDiff] = useState<{ title: string; diffs: ResourceDiff[] } | undefined>(undefined);
  const [rollback, setRollback] = useState<
    { entry: HistoryEntryJson; diffs: ResourceDiff[]; dry: ApplyResponseJson } | undefined
  >(undefined);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  const dialog = useRef<HTMLDialogElement>(null);

  // Loads overlap (a group picked, "Load older revisions", store events) and their answers can
  // arrive out of order: only the latest request's answer is shown, as in the Fleet view.
  const latest = useRef(0);
  const load = (): void => {
    const seq = ++latest.current;
    Promise.all([
      ctx.api.get<ListResponseJson>('/v1/resources'),
      ctx.api.get<HistoryJson>('/v1/history', { limit: historyLimit }),
    ]).then(
      ([list, hist]) => {
        if (seq !== latest.current) return;
        listed.current = nextListing(listed.current, historyLimit, hist);
        setOlder(listed.current.more);
        const gs = [...new Set(list.resources.map((r) => r.group))].sort();
        setGroups(gs);
        const g = group !== '' && gs.includes(group) ? group : (gs[0] ?? '');
        setGroup(g);
        setResources(list.resources.filter((r) => r.group === g));
        setRevision(list.revision);
        setHistory(hist.entries);
        setError('');
      },
      (err) => {
        if (seq === latest.current) setError(errorText(err));
      },
    );
  };
  useEffect(load, [group, historyLimit]);
  const refetch = useTrailing(load, 300);
  useFeed(ctx.hub, ['store'], refetch);

  useEffect(() => {
    if (rollback) dialog.current?.showModal();
  }, [rollback]);

  const entries = history.filter((e) => e.changes.some((c) => c.group === group));
  const operator = canOperate(ctx.who, group);

  const showDiff = async (from: number, to: number): Promise<void> => {
    try {
      setDiff({
        title: `Revision ${from} → ${to}`,
        diffs: await revisionDiff(ctx, group, from, to),
      });
    } catch (err) {
      setError(errorText(err));
    }
  };

  const askRollback = async (entry: HistoryEntryJson): Promise<void> => {
    try {
      const [diffs, dry] = await Promise.all([
        revisionDiff(ctx, group, 'now', entry.revision),
        ctx.api.post<ApplyResponseJson>('/v1/rollback', {
          revision: entry.revision,
          group,
          dry_run: true,
        }),
      ]);
      setRollback({ entry, diffs, dry });
    } catch (err) {
      setError(errorText(err));
    }
  };

  const confirmRollback = async (): Promise<void> => {
    if (!rollback) return;
    const target = rollback.entry.revision;
    dialog.current?.close();
    setRollback(undefined);
    try {
      const r = await ctx.api.post<ApplyResponseJson>('/v1/rollback', {
        revision: target,
        group,
        message: `rollback to revision ${target} from the dashboard`,
      });
      setMessage(`Rolled back group ${group} to revision ${target}: now revision ${r.revision}.`);
      setError('');
      load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section aria-labelledby="config-title">
      <h1 id="config-title">Config</h1>
      <div class="filters">
        <label>
          Group
          <select
            name="group"
            value={group}
            onChange={(e) => setGroup((e.target as HTMLSelectElement).value)}
          >
            {groups.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <span>Store revision {revision}</span>
      </div>
      {message !== '' && (
        <p role="status" class="notice">
          {message}
        </p>
      )}
      {error !== '' && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <h2>Resources</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Name</th>
            <th scope="col">Version</th>
            <th scope="col">Revision</th>
            <th scope="col">YAML</th>
          </tr>
        </thead>
        <tbody>
          {resources.map((r) => {
            const key = `${r.kind}/${r.name}`;
            return [
              <tr key={key}>
                <td>{r.kind}</td>
                <th scope="row">{r.name}</th>
                <td>
                  <code>{r.version}</code>
                </td>
                <td>{r.revision}</td>
                <td>
                  <button
                    type="button"
                    class="secondary"
                    aria-expanded={open === key}
                    onClick={() => setOpen(open === key ? undefined : key)}
                  >
                    {open === key ? 'Hide' : 'View'}
                    <span class="visually-hidden"> YAML of {key}</span>
                  </button>
                </td>
              </tr>,
              open === key && (
                <tr key={`${key}-yaml`} class="yaml-row">
                  <td colSpan={5}>
                    <pre class="yaml" aria-label={`YAML of ${key}`}>
                      {toYaml(r.resource)}
                    </pre>
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
      <h2>History</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          if (compare.from !== undefined && compare.to !== undefined)
            void showDiff(compare.from, compare.to);
        }}
      >
        {(['from', 'to'] as const).map((end) => (
          <label key={end}>
            {end === 'from' ? 'From revision' : 'To revision'}
            <select
              name={end}
              value={compare[end] ?? ''}
              onChange={(e) =>
                setCompare({ ...compare, [end]: Number((e.target as HTMLSelectElement).value) })
              }
            >
              <option value="">—</option>
              {entries.map((e) => (
                <option key={e.revision} value={e.revision}>
                  {e.revision}
                </option>
              ))}
            </select>
          </label>
        ))}
        <button type="submit" disabled={compare.from === undefined || compare.to === undefined}>
          Compare
        </button>
      </form>
      {diff && (
        <section aria-label="Diff" class="diff-panel">
          <h3>{diff.title}</h3>
          <DiffBlock diffs={diff.diffs} />
        </section>
      )}
      <table class="history">
        <thead>
          <tr>
            <th scope="col">Revision</th>
            <th scope="col">When (UTC)</th>
            <th scope="col">Who</th>
            <th scope="col">Message</th>
            <th scope="col">Changes</th>
            {ctx.settings.jaeger_ui_url !== undefined && <th scope="col">Trace</th>}
            {operator && <th scope="col">Action</th>}
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.revision} data-revision={e.revision}>
              <th scope="row">{e.revision}</th>
              <td>
                <time dateTime={e.time}>{utc(e.time)}</time>
              </td>
              <td>{e.actor || 'control plane'}</td>
              <td>{e.message}</td>
              <td>
                {e.changes
                  .filter((c) => c.group === group)
                  .map((c) => `${c.action} ${c.kind}/${c.name}`)
                  .join(', ')}
              </td>
              {ctx.settings.jaeger_ui_url !== undefined && (
                <td>
                  <TraceLink base={ctx.settings.jaeger_ui_url} entry={e} />
                </td>
              )}
              {operator && (
                <td>
                  {e !== entries[0] && (
                    <button type="button" class="danger" onClick={() => void askRollback(e)}>
                      Roll back to {e.revision}
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {older && (
        <p>
          <button type="button" class="secondary" onClick={() => setHistoryLimit(historyLimit * 2)}>
            Load older revisions
          </button>
        </p>
      )}
      <dialog ref={dialog} aria-labelledby="rollback-title" onClose={() => setRollback(undefined)}>
        {rollback && (
          <form
            method="dialog"
            onSubmit={(e) => {
              e.preventDefault();
              void confirmRollback();
            }}
          >
            <h2 id="rollback-title">
              Roll back group {group} to revision {rollback.entry.revision}?
            </h2>
            <p>
              {rollback.dry.changes.length === 0
                ? 'Nothing would change.'
                : rollback.dry.changes.map((c) => `${c.action} ${c.kind}/${c.name}`).join(', ')}
            </p>
            <DiffBlock diffs={rollback.diffs} />
            <div class="actions">
              <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
                Cancel
              </button>
              <button type="submit" class="danger">
                Roll back
              </button>
            </div>
          </form>
        )}
      </dialog>
    </section>
  );
}
