/**
 * The WAF audit log: one JSON line per request with matched rules (or every request), to a file
 * of its own or the proxy's log. Writers are per process and per path, asynchronous (pino
 * destination, sync: false), so writing never blocks the request path on disk.
 */
import pino from 'pino';
import type { Logger } from '@ferry/shared';

export interface AuditRecord {
  readonly request_id: string;
  readonly trace_id: string;
  readonly client_ip: string;
  readonly method: string;
  readonly path: string;
  readonly mode: string;
  /** blocked | detected (matched, not blocked) | passed. */
  readonly outcome: string;
  readonly status: number;
  readonly anomaly_score: number;
  readonly outbound_anomaly_score: number;
  readonly rule_set: string;
  readonly matched_rules: ReadonlyArray<{
    readonly id: number;
    readonly phase: number;
    readonly msg: string;
    readonly data: string;
    readonly severity: string | undefined;
  }>;
}

export interface AuditSink {
  write(record: AuditRecord): void;
}

const files = new Map<string, pino.Logger>();

export function auditSink(path: string, proxyLogger: Logger): AuditSink {
  if (path === '') {
    return { write: (record) => proxyLogger.info({ waf_audit: record }, 'waf audit') };
  }
  let logger = files.get(path);
  if (logger === undefined) {
    logger = pino(
      { base: null, messageKey: 'msg' },
      pino.destination({ dest: path, sync: false, mkdir: true }),
    );
    files.set(path, logger);
  }
  const l = logger;
  return { write: (record) => l.info(record, 'waf audit') };
}
