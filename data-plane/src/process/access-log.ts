/**
 * The `--access-log FILE` writer a worker hands to its ProxyRuntime: one JSON object per
 * finished request, keys named after Envoy's access log command operators (`response_code`,
 * `response_flags`, `upstream_host`, ...), so log queries written for Envoy's JSON format carry
 * over. Every worker appends to the same file (O_APPEND: whole lines, never interleaved).
 *
 * Lines are buffered and flushed every FLUSH_INTERVAL_MS or once BUFFER_LIMIT_BYTES are pending
 * (Envoy's access_log_flush_interval works the same way), and synchronously when the process
 * exits, so a drained worker loses nothing.
 */
import fs from 'node:fs';
import type { AccessLogEntry } from '../http/proxy-runtime.js';

const FLUSH_INTERVAL_MS = 100;
const BUFFER_LIMIT_BYTES = 64 * 1024;

export interface AccessLogWriter {
  write(entry: AccessLogEntry): void;
  /** Writes what is pending (synchronously) and closes the file; idempotent. */
  close(): void;
}

export function openAccessLog(file: string): AccessLogWriter {
  const fd = fs.openSync(file, 'a');
  let pending = '';
  let closed = false;
  const flush = (): void => {
    if (pending.length === 0 || closed) return;
    const chunk = pending;
    pending = '';
    try {
      fs.writeSync(fd, chunk);
    } catch {
      // A full disk must not take the proxy down; the lines are dropped.
    }
  };
  const timer = setInterval(flush, FLUSH_INTERVAL_MS);
  timer.unref();
  const close = (): void => {
    if (closed) return;
    flush();
    closed = true;
    clearInterval(timer);
    process.off('exit', close);
    fs.closeSync(fd);
  };
  process.on('exit', close);
  return {
    write(entry) {
      if (closed) return;
      pending += `${JSON.stringify({
        start_time: new Date(Date.now() - entry.durationMs).toISOString(),
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
      })}\n`;
      if (pending.length >= BUFFER_LIMIT_BYTES) flush();
    },
    close,
  };
}
