/**
 * Fleet: one row per proxy from GET /v1/nodes (filtered and paged by the server), kept current by
 * node events: a changed row is replaced at once, and the page is refetched after a burst so
 * counts, order and filters stay right. The filters live in the URL (fleet-filters.ts); the group
 * filter offers the groups the page names.
 */
import { Fragment, h } from './vendor/preact.js';
import { useEffect, useRef, useState } from './vendor/preact-hooks.js';
import { errorText } from './api.js';
import type { ViewContext } from './context.js';
import { useFeed, useTrailing } from './feed-hub.js';
import {
  filtersFromHash,
  hashWithFilters,
  isFleetHash,
  type FleetFilters,
} from './fleet-filters.js';
import { ago, proxyKind } from './format.js';
import { nackDetail, nodeState, typeShortName, typeState } from './node-state.js';
import { jaegerTrace } from './trace-link.js';
import type {
  NodeStatusJson,
  NodeSyncState as NodeState,
  NodesPageJson,
  TypeStatusJson,
} from './wire.js';

const PAGE_SIZE = 50;

interface Filters extends FleetFilters {
  readonly offset: number;
}

export function FleetView({ ctx }: { ctx: ViewContext }) {
  const [filters, setFilters] = useState<Filters>(() => ({
    ...filtersFromHash(location.hash),
    offset: 0,
  }));
  const [page, setPage] = useState<NodesPageJson | undefined>(undefined);
  const [error, setError] = useState('');
  const [, setClock] = useState(0);

  // Answers can arrive out of order (typing in the search box): only the latest request's counts.
  const latest = useRef(0);
  const load = (): void => {
    const f = filters;
    const seq = ++latest.current;
    ctx.api
      .get<NodesPageJson>('/v1/nodes', {
        q: f.q,
        group: f.group,
        state: f.state,
        offset: f.offset,
        limit: PAGE_SIZE,
      })
      .then(
        (p) => {
          if (seq !== latest.current) return;
          setPage(p);
          setError('');
        },
        (err) => {
          if (seq === latest.current) setError(errorText(err));
        },
      );
  };
  useEffect(load, [filters.q, filters.group, filters.state, filters.offset]);
  // The URL follows the filters (replaced, not pushed: typing is not history) ...
  useEffect(() => {
    const hash = hashWithFilters('fleet', filters);
    if (hash !== location.hash && isFleetHash(location.hash)) history.replaceState(null, '', hash);
  }, [filters.q, filters.group, filters.state]);
  // ... and the filters follow a URL changed by hand or opened from a link.
  useEffect(() => {
    const onHash = (): void => {
      if (!isFleetHash(location.hash)) return;
      const next = filtersFromHash(location.hash);
      setFilters((f) =>
        f.q === next.q && f.group === next.group && f.state === next.state
          ? f
          : { ...next, offset: 0 },
      );
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const refetch = useTrailing(load, 500);
  // "last seen" ages without an event; re-render it, nothing is fetched.
  useEffect(() => {
    const t = setInterval(() => setClock((c) => c + 1), 5000);
    return () => clearInterval(t);
  }, []);

  useFeed(ctx.hub, ['node', 'node_gone'], (e) => {
    if (e.type === 'node') {
      const event = e.data as NodeStatusJson;
      const row = { ...event, state: nodeState(event) };
      setPage((p) =>
        p === undefined
          ? p
          : { ...p, nodes: p.nodes.map((n) => (n.node_id === row.node_id ? row : n)) },
      );
    }
    refetch();
  });

  const set = (patch: Partial<Filters>): void => setFilters({ ...filters, offset: 0, ...patch });
  const total = page?.total ?? 0;
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            name="q"
            placeholder="node id, address, version"
            value={filters.q}
            onInput={(e) => set({ q: (e.target as HTMLInputElement).value })}
          />
        </label>
        <label>
          Group
          <select
            name="group"
            value={filters.group}
            onChange={(e) => set({ group: (e.target as HTMLSelectElement).value })}
          >
            <option value="">any</option>
            {groupChoices(page?.groups ?? [], filters.group).map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <label>
          State
          <select
            name="state"
            value={filters.state}
            onChange={(e) =>
              set({ state: (e.target as HTMLSelectElement).value as NodeState | '' })
            }
          >
            <option value="">any</option>
            <option value="SYNCED">SYNCED</option>
            <option value="STALE">STALE</option>
            <option value="NACKED">NACKED</option>
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            name="nacked"
            checked={filters.state === 'NACKED'}
            onChange={(e) => set({ state: (e.target as HTMLInputElement).checked ? 'NACKED' : '' })}
          />
          NACKed only
        </label>
      </form>
      {page && (
        <p class="counts" aria-live="polite">
          {total} proxies: <span class="state state-SYNCED">{page.counts.SYNCED} synced</span>{' '}
          <span class="state state-STALE">{page.counts.STALE} stale</span>{' '}
          <span class="state state-NACKED">{page.counts.NACKED} NACKed</span>
        </p>
      )}
      {error !== '' && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {page?.unanswered_replicas?.map((u) => (
        <p key={u.replica} class="notice" role="status">
          Replica {u.replica} {u.api_url !== '' && `(${u.api_url}) `}did not answer: its proxies are
          missing from this list and its counts. {u.error}
        </p>
      ))}
      <table class="fleet">
        <caption class="visually-hidden">Proxies connected to the control plane</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Group</th>
            <th scope="col">Proxy</th>
            <th scope="col">Replica</th>
            <th scope="col">State</th>
            <th scope="col">xDS types (sent / ACKed)</th>
            <th scope="col">Last seen</th>
            <th scope="col">Rollout</th>
          </tr>
        </thead>
        <tbody>
          {page?.nodes.map((n) => (
            <NodeRow key={n.node_id} node={n} jaeger={ctx.settings.jaeger_ui_url} />
          ))}
          {page && page.nodes.length === 0 && (
            <tr>
              <td colSpan={8}>No proxy matches.</td>
            </tr>
          )}
        </tbody>
      </table>
      <nav class="pager" aria-label="Pages">
        <button
          type="button"
          disabled={filters.offset === 0}
          onClick={() =>
            setFilters({ ...filters, offset: Math.max(0, filters.offset - PAGE_SIZE) })
          }
        >
          Previous
        </button>
        <span>
          {total === 0 ? 0 : filters.offset + 1}–{Math.min(total, filters.offset + PAGE_SIZE)} of{' '}
          {total}
        </span>
        <button
          type="button"
          disabled={filters.offset + PAGE_SIZE >= total}
          onClick={() => setFilters({ ...filters, offset: filters.offset + PAGE_SIZE })}
        >
          Next
        </button>
      </nav>
    </section>
  );
}

/** The groups to pick from: the fleet's, and the one filtered on even when no proxy has it. */
function groupChoices(groups: readonly string[], current: string): readonly string[] {
  return current === '' || groups.includes(current) ? groups : [...groups, current].sort();
}

function NodeRow({ node, jaeger }: { node: NodeStatusJson; jaeger: string | undefined }) {
  const state = nodeState(node);
  return (
    <tr data-node={node.node_id} data-state={state}>
      <th scope="row">
        {node.node_id}
        {!node.connected && <span class="muted"> (disconnected)</span>}
      </th>
      <td>{node.group}</td>
      <td>{proxyKind(node.user_agent)}</td>
      <td>{node.replica ?? '—'}</td>
      <td>
        <span class={`state state-${state}`}>{state}</span>
      </td>
      <td>
        <ul class="types">
          {node.types.map((t) => (
            <TypeCell key={t.type_url} type={t} jaeger={jaeger} />
          ))}
        </ul>
      </td>
      <td>
        <time dateTime={node.last_seen} title={node.last_seen}>
          {ago(node.last_seen)}
        </time>
      </td>
      <td>{node.rollout ?? '—'}</td>
    </tr>
  );
}

function TypeCell({ type, jaeger }: { type: TypeStatusJson; jaeger: string | undefined }) {
  const state = typeState(type);
  const label = typeShortName(type.type_url);
  const traceId = type.push_trace_id;
  const versions = (
    <span class="versions">
      {type.version_sent || '—'} / {type.version_acked || '—'}
      {jaeger !== undefined && traceId !== undefined && (
        <Fragment>
          {' '}
          <a
            href={jaegerTrace(jaeger, traceId)}
            target="_blank"
            rel="noopener noreferrer"
            data-trace-id={traceId}
            title={`Trace ${traceId}: the last traced push of ${label} to this proxy, linked to the apply it carried`}
          >
            push trace<span class="visually-hidden"> of {label}</span>
          </a>
        </Fragment>
      )}
    </span>
  );
  if (state !== 'NACKED')
    return (
      <li data-type={label} data-state={state}>
        <span class={`state state-${state}`}>
          {label} {state}
        </span>{' '}
        {versions}
      </li>
    );
  return (
    <li data-type={label} data-state={state}>
      <details>
        <summary>
          <span class={`state state-${state}`}>
            {label} {state}
          </span>{' '}
          {versions}
        </summary>
        <Fragment>
          <pre class="nack-detail">{nackDetail(type)}</pre>
        </Fragment>
      </details>
    </li>
  );
}
