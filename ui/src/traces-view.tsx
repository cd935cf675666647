/**
 * Traces: the control plane traces each write (apply, delete, rollback), each replica's publish
 * of it and each push to a proxy (linked to the write). History names each write's trace id, so
 * each revision links to its trace in Jaeger (--jaeger-ui-url); see trace-link.tsx for revisions
 * without one.
 */
import { h } from './vendor/preact.js';
import { useEffect, useState } from './vendor/preact-hooks.js';
import { errorText } from './api.js';
import type { ViewContext } from './context.js';
import { useFeed, useTrailing } from './feed-hub.js';
import { utc } from './format.js';
import { SERVICE, TraceLink } from './trace-link.js';
import type { HistoryEntryJson, HistoryJson } from './wire.js';

export function TracesView({ ctx }: { ctx: ViewContext }) {
  const [entries, setEntries] = useState<readonly HistoryEntryJson[]>([]);
  const [error, setError] = useState('');
  const base = ctx.settings.jaeger_ui_url;
  const load = (): void => {
    ctx.api.get<HistoryJson>('/v1/history', { limit: 50 }).then(
      (h) => setEntries(h.entries),
      (err) => setError(errorText(err)),
    );
  };
  useEffect(load, []);
  useFeed(ctx.hub, ['store'], useTrailing(load, 300));
  return (
    <section aria-labelledby="traces-title">
      <h1 id="traces-title">Traces</h1>
      {base === undefined ? (
        <p class="notice">
          No Jaeger UI is configured: start the control plane with{' '}
          <code>--jaeger-ui-url http://JAEGER:16686</code> (and tracing on,{' '}
          <code>--otlp-endpoint</code>) to link writes and pushes to their traces.
        </p>
      ) : (
        <p>
          Traces in <a href={base}>{base}</a> (service <code>{SERVICE}</code>; a custom{' '}
          <code>OTEL_SERVICE_NAME</code> is not known here).
        </p>
      )}
      {error !== '' && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">Revision</th>
            <th scope="col">When (UTC)</th>
            <th scope="col">Who</th>
            <th scope="col">Message</th>
            <th scope="col">Trace</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.revision}>
              <th scope="row">{e.revision}</th>
              <td>{utc(e.time)}</td>
              <td>{e.actor || 'control plane'}</td>
              <td>{e.message}</td>
              <td>
                <TraceLink base={base} entry={e} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
