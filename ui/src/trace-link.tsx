/**
 * Where a revision's trace is in Jaeger (--jaeger-ui-url). A revision recorded with its trace id
 * (history's `trace_id`: the apply, delete or rollback, and every replica's publish of it) links
 * to that trace; one without (not traced or not sampled, or written before trace ids were kept)
 * falls back to a search for the revision tag the control plane's spans carry.
 */
import { h } from './vendor/preact.js';
import type { HistoryEntryJson } from './wire.js';

/** The control plane's default service name (OTEL_SERVICE_NAME), for the tag search. */
export const SERVICE = 'ferry-control-plane';

export function jaegerTrace(base: string, traceId: string): string {
  return `${base}/trace/${encodeURIComponent(traceId)}`;
}

export function jaegerSearch(base: string, revision: number): string {
  const tags = JSON.stringify({ 'ferry.revision': String(revision) });
  return `${base}/search?service=${encodeURIComponent(SERVICE)}&tags=${encodeURIComponent(tags)}`;
}

/** The link for one history entry, or a dash when no Jaeger UI is configured. */
export function TraceLink({
  base,
  entry,
}: {
  base: string | undefined;
  entry: Pick<HistoryEntryJson, 'revision' | 'trace_id'>;
}) {
  if (base === undefined) return <span>—</span>;
  const traceId = entry.trace_id;
  return traceId !== undefined ? (
    <a
      href={jaegerTrace(base, traceId)}
      target="_blank"
      rel="noopener noreferrer"
      data-trace-id={traceId}
      title={`Trace ${traceId}: the write and every replica's publish of revision ${entry.revision}`}
    >
      Trace {traceId.slice(0, 8)}
    </a>
  ) : (
    <a href={jaegerSearch(base, entry.revision)} target="_blank" rel="noopener noreferrer">
      Search revision {entry.revision}
    </a>
  );
}
