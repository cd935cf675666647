/**
 * Health and load: per cluster and endpoint the proxies' health reports (HDS) with the quorum
 * rule, and the load the proxies report (LRS) as request and error rates and mean upstream
 * latency over the last hour.
 * Rates are kept in this tab from successive load snapshots: one is taken when the view opens and
 * on each health or node event (at most every 10 s), never on a timer.
 */
import { h } from './vendor/preact.js';
import { useEffect, useState } from './vendor/preact-hooks.js';
import { ApiError, errorText } from './api.js';
import { Sparkline } from './chart.js';
import type { ViewContext } from './context.js';
import { useFeed, useTrailing } from './feed-hub.js';
import { ago } from './format.js';
import { meanLatencyPoints, ratePoints, sampleOf, type LoadSample } from './load-series.js';
import type { HealthJson, LoadJson } from './wire.js';

const WINDOW_MS = 3_600_000;
const MIN_SAMPLE_MS = 10_000;

/** Load snapshots per "group/cluster", kept across view switches for the tab's life. */
const samples = new Map<string, LoadSample[]>();
let lastSample = 0;

function record(load: LoadJson, now: number): void {
  lastSample = now;
  for (const c of load.clusters) {
    const key = `${c.group}/${c.cluster}`;
    const list = samples.get(key) ?? [];
    list.push(sampleOf(c, now));
    while (list.length > 0 && (list[0]?.t ?? now) < now - WINDOW_MS) list.shift();
    samples.set(key, list);
  }
}

export function HealthView({ ctx }: { ctx: ViewContext }) {
  const [health, setHealth] = useState<HealthJson | undefined>(undefined);
  const [load, setLoad] = useState<LoadJson | undefined>(undefined);
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
    ctx.api.get<LoadJson>('/v1/load').then(
      (x) => {
        record(x, Date.now());
        setLoad(x);
      },
      (err) =>
        err instanceof ApiError && err.status === 404 ? undefined : setError(errorText(err)),
    );
  };
  useEffect(fetchAll, []);
  const refetch = useTrailing(fetchAll, 500);
  useFeed(ctx.hub, ['health', 'node'], (e) => {
    if (e.type === 'health' || Date.now() - lastSample >= MIN_SAMPLE_MS) refetch();
  });

  const now = Date.now();
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
      <p class="help">
        Outlier ejections are each proxy's own decision: its admin endpoint lists them; the control
        plane sees them as unhealthy reports above.
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
          {load?.clusters.map((c) => {
            const key = `${c.group}/${c.cluster}`;
            const list = samples.get(key) ?? [];
            return (
              <tr key={key}>
                <td>{c.group}</td>
                <th scope="row">{c.cluster}</th>
                <td>{c.total.total_issued_requests}</td>
                <td>{c.total.total_error_requests}</td>
                <td>
                  <Sparkline
                    points={ratePoints(list, 'issued')}
                    windowMs={WINDOW_MS}
                    now={now}
                    label={`Requests per second to ${key}`}
                  />
                </td>
                <td>
                  <Sparkline
                    points={ratePoints(list, 'errors')}
                    windowMs={WINDOW_MS}
                    now={now}
                    label={`Errors per second of ${key}`}
                  />
                </td>
                <td>
                  <Sparkline
                    points={meanLatencyPoints(list)}
                    windowMs={WINDOW_MS}
                    now={now}
                    label={`Mean upstream latency in milliseconds of ${key}`}
                  />
                </td>
              </tr>
            );
          })}
          {load && load.clusters.length === 0 && (
            <tr>
              <td colSpan={7}>No load reports yet (clusters report with lrs_server set).</td>
            </tr>
          )}
        </tbody>
      </table>
      <p class="help">
        Mean upstream latency is the upstream request time the proxies report per request
        (ferry.upstream_rq_time_ms) averaged over each interval between snapshots; an interval
        without finished requests draws no point.
      </p>
    </section>
  );
}
