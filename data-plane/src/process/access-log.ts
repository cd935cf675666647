/**
 * The `--access-log FILE` writer a worker adds beside the HCMs' access_log: one JSON object per
 * finished request, keys named after Envoy's access log command operators (`response_code`,
 * `response_flags`, `upstream_host`, ...), so log queries written for Envoy's JSON format carry
 * over. Every worker appends to the same file through a buffered sink (access-log-sink.ts:
 * O_APPEND, whole-line chunks, never interleaved, async writes off the request path), which
 * reopens the path on SIGUSR1 / admin /reopen_logs like the HCMs' file loggers.
 */
import type { Logger } from '@ferry/shared';
import { openFileSink, type AccessLogSink } from '../access-log/access-log-sink.js';
import type { AccessLogEntry } from '../access-log/access-log-record.js';

export interface AccessLogWriter {
  write(entry: AccessLogEntry): void;
  /** The file was renamed (log rotation): continue in a fresh file at the path. */
  reopen(): void;
  /** Lines dropped (buffer overflow or a failed file). */
  readonly dropped: number;
  /** Writes what is pending and closes the file; idempotent. Later writes are dropped. */
  close(): Promise<void>;
}

export function openAccessLog(file: string, logger: Logger): AccessLogWriter {
  const sink: AccessLogSink = openFileSink(file, logger);
  return {
    write(entry) {
      sink.write(
        `${JSON.stringify({
          start_time: new Date(entry.startTimeMs ?? Date.now() - entry.durationMs).toISOString(),
          method: entry.method,
          path: entry.path,
          protocol: entry.protocol,
          authority: entry.authority,
          response_code: entry.status,
          response_flags: entry.responseFlags,
          duration: Math.round(entry.durationMs),
          listener: entry.listener,
          route_name: entry.route,
          upstream_cluster: entry.cluster,
          upstream_host: entry.upstreamHost,
          x_request_id: entry.requestId,
          attempts: entry.attempts,
        })}\n`,
      );
    },
    reopen: () => sink.reopen(),
    get dropped() {
      return sink.dropped;
    },
    close: () => sink.close(),
  };
}
