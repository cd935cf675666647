/**
 * Health and load: per cluster and endpoint the proxies' health reports (HDS) with the quorum
 * rule, the endpoints the proxies' outlier detection ejects (reported over LRS: ejected now by how
 * many proxies, ejections in the last hour), and the load the proxies report (LRS) as request and
 * error rates and mean upstream latency over the last hour.
 * The charts draw the control plane's load history (GET /v1/load/history: the last hour in
 * buckets, every replica's proxies), so they show at once what happened before the view opened;
 * it is fetched again, with the totals, on each health or outlier event (an ejection started or
 * ended on some proxy), on node events (at most every 10 s) and when a bucket ends.
 */
import { h } from './vendor/preact.js';
import { useEffect, useRef, useState } from './vendor/preact-hooks.js';
import { ApiError, errorText } from './api.js';
import { Sparkline } from './chart.js';
import type { ViewContext } from './context.js';
import { useFeed, useTrailing } from './feed-hub.js';
import { ago } from './format.js';
import { meanLatencyPoints, ratePoints, windowEnd } from './load-series.js';
import type { HealthJson, LoadHistoryJson, LoadJson } from './wire.js';

const MIN_REFETCH_MS = 10_000;

type ClusterTotals = LoadJson['clusters'][number]['total'];
type ClusterHistory = LoadHistoryJson['clusters'][number];
type OutlierEndpoint = NonNullable<ClusterHistory['outlier_endpoints']>[number];

const sum = (list: readonly number[]): number => list.reduce((a, b) => a + b, 0);

const proxies = (n: number): string => `${n} ${n === 1 ? 'proxy' : 'proxies'}`;

/** The clusters with outlier ejections now or in the window, in the history's order. */
function outlierClusters(
  history: LoadHistoryJson | undefined,
): Array<{ key: string; group: string; cluster: string; endpoints: readonly OutlierEndpoint[] }> {
  return (history?.clusters ?? [])
    .filter((c) => (c.outlier_endpoints ?? []).length > 0)
    .map((c) => ({
      key: `${c.group}/${c.cluster}`,
      group: c.group,
      cluster: c.cluster,
      endpoints: c.outlier_endpoints ?? [],
    }));
}

/** The cluster's total: "2 endpoints ejected" (by at least one proxy). */
function endpointsEjected(endpoints: readonly OutlierEndpoint[]): string {
  const n = endpoints.filter((e) => e.ejected_by > 0).length;
  return `${n} ${n === 1 ? 'endpoint' : 'endpoints'} ejected`;
}

/** "ejected by 2 proxies" with their ids, or "not ejected". */
function ejectedBy(e: OutlierEndpoint) {
  if (e.ejected_by === 0) return <span class="muted">not ejected</span>;
  return (
    <span>
      <span class="health health-UNHEALTHY">ejected</span> by {proxies(e.ejected_by)}
      <span class="muted"> — {e.ejected_nodes.join(', ')}</span>
    </span>
  );
}

/** One row per cluster that has load now or in the last hour, sorted by group then cluster. */
function loadRows(
  load: LoadJson | undefined,
  history: LoadHistoryJson | undefined,
): Array<{
  key: string;
  group: string;
  cluster: string;
  total?: ClusterTotals;
  series?: ClusterHistory;
}> {
  const rows = new Map<
    string,
    { key: string; group: string; cluster: string; total?: ClusterTotals; series?: ClusterHistory }
  >();
  const row = (group: string, cluster: string) => {
    const key = `${group}/${cluster}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { key, group, cluster }));
    return r;
  };
  for (const c of load?.clusters ?? []) row(c.group, c.cluster).total = c.total;
  for (const c of history?.clusters ?? []) row(c.group, c.cluster).series = c;
  return [...rows.values()].sort((a, b) =>
    a.group !== b.group ? (a.group < b.group ? -1 : 1) : a.cluster < b.cluster ? -1 : 1,
  );
}

export function HealthView({ ctx }: { ctx: ViewContext }) {
  const [health, setHealth] = useState<HealthJson | undefined>(undefined);
  const [load, setLoad] = useState<LoadJson | undefined>(undefined);
  const [history, setHistory] = useState<LoadHistoryJson | undefined>(undefined);
  /** When the load was last asked for (a ref: the feed callback must see the latest). */
  const fetchedAt = useRef(0);
  const [note, setNote] = useState('');
  const [error, setError] = useState('');

  const fetchAll = (): void => {
    ctx.api.get<HealthJson>('/v1/health').then(
      (x) => setHealth(x),
      (err) =>
        err instanceof ApiError && err.status === 404
          ? setNote('This control plane serves no health view.')
          : setError(errorText(err)),
    );
    fetchedAt.current = Date.now();
    ctx.api.get<LoadJson>('/v1/load').then(
      (x) => setLoad(x),
      (err) =>
        err instanceof ApiError && err.status === 404 ? undefined : setError(errorText(err)),
    );
    ctx.api.get<LoadHistoryJson>('/v1/load/history').then(
      (x) => setHistory(x),
      (err) =>
        err instanceof ApiError && err.status === 404 ? undefined : setError(errorText(err)),
    );
  };
  useEffect(fetchAll, []);
  const refetch = useTrailing(fetchAll, 500);
  // The window moves on when a bucket ends (load reports raise no event): fetch again then.
  useEffect(() => {
    if (!history) return undefined;
    const timer = setTimeout(refetch, history.bucket_ms);
    return () => clearTimeout(timer);
  }, [history]);
  useFeed(ctx.hub, ['health', 'outlier', 'node'], (e) => {
    if (e.type !== 'node' || Date.now() - fetchedAt.current >= MIN_REFETCH_MS) refetch();
  });

  const rows = loadRows(load, history);
  const outliers = outlierClusters(history);
  const windowMs = history ? history.buckets * history.bucket_ms : 3_600_000;
  const now = history ? windowEnd(history) : Date.now();
  const unanswered = history?.unanswered_replicas ?? [];
  return (
    <section aria-labelledby="health-title">
      <h1 id="health-title">Health and load</h1>
      {note !== '' && <p class="notice">{note}</p>}
      {error !== '' && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <h2>Endpoint health</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Cluster</th>
            <th scope="col">Endpoint</th>
            <th scope="col">Status</th>
            <th scope="col">Healthy / unhealthy reports</th>
            <th scope="col">Quorum</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {health?.clusters.flatMap((c) =>
            c.endpoints.map((e) => (
              <tr key={`${c.group}/${c.cluster}/${e.address}`}>
                <td>{c.group}</td>
                <th scope="row">{c.cluster}</th>
                <td>{e.address}</td>
                <td>
                  <span class={`health health-${e.status}`}>{e.status}</span>
                  {e.eds_unhealthy_by_quorum === true && ' (removed by quorum)'}
                </td>
                <td>
                  {e.healthy} / {e.unhealthy} of {e.proxies}
                  {e.unhealthy_nodes.length > 0 && (
                    <span class="muted"> — unhealthy at {e.unhealthy_nodes.join(', ')}</span>
                  )}
                </td>
                <td>
                  {c.quorum
                    ? `${c.quorum.unhealthy_percent}% of ≥ ${c.quorum.min_proxies} proxies`
                    : '—'}
                </td>
                <td>{ago(e.since)}</td>
              </tr>
            )),
          )}
          {health && health.clusters.length === 0 && (
            <tr>
              <td colSpan={7}>No proxy reports health (no cluster has a health check).</td>
            </tr>
          )}
        </tbody>
      </table>
      <h2>Outlier ejections (reported by the proxies)</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Cluster</th>
            <th scope="col">Endpoint</th>
            <th scope="col">Ejected now</th>
            <th scope="col">Ejections (last hour)</th>
          </tr>
        </thead>
        <tbody>
          {outliers.flatMap((c) => [
            ...c.endpoints.map((e) => (
              <tr key={`${c.key}/${e.address}`} data-endpoint={`${c.key}/${e.address}`}>
                <td>{c.group}</td>
                <th scope="row">{c.cluster}</th>
                <td>{e.address}</td>
                <td>{ejectedBy(e)}</td>
                <td>{sum(e.ejections)}</td>
              </tr>
            )),
            <tr key={`${c.key}/total`} data-outlier-total={c.key} class="total">
              <td>{c.group}</td>
              <th scope="row">{c.cluster}</th>
              <td>All endpoints</td>
              <td>{endpointsEjected(c.endpoints)}</td>
              <td>{sum(c.endpoints.map((e) => sum(e.ejections)))}</td>
            </tr>,
          ])}
          {history && outliers.length === 0 && (
            <tr>
              <td colSpan={5}>No proxy reports an outlier ejection in the last hour.</td>
            </tr>
          )}
        </tbody>
      </table>
      <p class="help">
        Each proxy's outlier detection ejects endpoints on its own traffic. An endpoint is ejected
        by the proxies whose latest load report says so; ejections count those that started in the
        last hour. ferry-proxy reports them for clusters with outlier_detection and lrs_server
        (Envoy does not); a proxy's admin endpoint (/clusters) shows why and until when.
      </p>
      <h2>Load (last hour, reported by the proxies)</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Cluster</th>
            <th scope="col">Requests</th>
            <th scope="col">Errors</th>
            <th scope="col">Requests/s</th>
            <th scope="col">Errors/s</th>
            <th scope="col">Mean upstream latency (ms)</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} data-cluster={r.key}>
              <td>{r.group}</td>
              <th scope="row">{r.cluster}</th>
              <td>{r.total ? r.total.total_issued_requests : '—'}</td>
              <td>{r.total ? r.total.total_error_requests : '—'}</td>
              <td>
                <Sparkline
                  points={history && r.series ? ratePoints(history, r.series, 'requests') : []}
                  windowMs={windowMs}
                  now={now}
                  label={`Requests per second to ${r.key}`}
                />
              </td>
              <td>
                <Sparkline
                  points={history && r.series ? ratePoints(history, r.series, 'errors') : []}
                  windowMs={windowMs}
                  now={now}
                  label={`Errors per second of ${r.key}`}
                />
              </td>
              <td>
                <Sparkline
                  points={history && r.series ? meanLatencyPoints(history, r.series) : []}
                  windowMs={windowMs}
                  now={now}
                  label={`Mean upstream latency in milliseconds of ${r.key}`}
                />
              </td>
            </tr>
          ))}
          {load && history && rows.length === 0 && (
            <tr>
              <td colSpan={7}>No load reports yet (clusters report with lrs_server set).</td>
            </tr>
          )}
        </tbody>
      </table>
      {unanswered.length > 0 && (
        <p class="notice">
          Load of the proxies of {unanswered.map((u) => `${u.replica} (${u.error})`).join(', ')} is
          missing: those replicas did not answer.
        </p>
      )}
      <p class="help">
        Requests and errors are totals since each proxy's load report stream opened. The charts show
        the last hour in {history ? history.bucket_ms / 1000 : 30}-second buckets (the last one
        still filling); mean upstream latency is the upstream request time the proxies report per
        request (ferry.upstream_rq_time_ms) averaged over each bucket, and a bucket without finished
        requests draws no point.
      </p>
    </section>
  );
}
