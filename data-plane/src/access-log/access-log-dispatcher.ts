/**
 * A worker's access logging: compiles the `accessLogs` of every HttpConnectionManager and
 * tcp_proxy when a config is applied, and routes each finished request or TCP session (the
 * ProxyRuntime's accessLog callback) to the loggers of the listener that served it. Sinks are
 * shared by destination across chains and configs: a file stays open while any config names it
 * and is closed when none does; stdout is one sink per process.
 *
 * Which chain served a request: the entry names the listener, not the filter chain. When
 * every chain of a listener logs the same way (the usual case: SNI chains repeat one HCM) that is
 * enough. Otherwise the entry's optional `statPrefix` picks the chain; without it the first
 * chain that logs is used, and apply() warns once per listener.
 */
import type { Logger } from '@ferry/shared';
import type { AccessLogModel, ProxyConfig } from '../config/model.js';
import type { AccessLogEntry } from './access-log-record.js';
import {
  ENVOY_DEFAULT_FORMAT,
  compileJsonFormat,
  compileTextFormat,
  type LineFormatter,
} from './access-log-format.js';
import { openFileSink, stdoutSink, type AccessLogSink } from './access-log-sink.js';

const NO_ACCESS_LOGS: readonly AccessLogModel[] = [];

interface CompiledLogger {
  readonly format: LineFormatter;
  readonly sink: AccessLogSink;
}

interface ListenerLoggers {
  /** Loggers used when the entry does not say which chain (or names none of them). */
  readonly loggers: readonly CompiledLogger[];
  /** Per stat_prefix, when chains of the listener log differently. */
  readonly byStatPrefix?: ReadonlyMap<string, readonly CompiledLogger[]>;
}

export interface AccessLogDispatcherOptions {
  readonly logger: Logger;
  /** Opens a file sink (tests substitute a memory sink). */
  readonly openFile?: (path: string) => AccessLogSink;
  /** The stdout sink (tests substitute one). */
  readonly stdout?: () => AccessLogSink;
}

export class AccessLogDispatcher {
  private byListener = new Map<string, ListenerLoggers>();
  private readonly files = new Map<string, AccessLogSink>();
  private stdout: AccessLogSink | undefined;
  private closed = false;
  /** Lines dropped by sinks closed since (so access_log_dropped_total never goes back). */
  private droppedByClosedSinks = 0;

  constructor(private readonly options: AccessLogDispatcherOptions) {}

  /** True when the applied config logs anything (callers may skip building entries). */
  get active(): boolean {
    return this.byListener.size > 0;
  }

  /** Compiles the config's access logs and swaps them in; closes files no longer named. */
  apply(config: ProxyConfig): void {
    if (this.closed) return;
    const next = new Map<string, ListenerLoggers>();
    const usedFiles = new Set<string>();
    for (const listener of config.listeners) {
      const chains = [
        ...listener.filterChains,
        ...(listener.defaultFilterChain ? [listener.defaultFilterChain] : []),
      ];
      const configs = chains.map(
        (c) => c.http?.accessLogs ?? c.tcpProxy?.accessLogs ?? NO_ACCESS_LOGS,
      );
      if (!configs.some((logs) => logs.length > 0)) continue;
      for (const logs of configs)
        for (const log of logs) if (log.sink === 'file' && log.path) usedFiles.add(log.path);
      const keys = new Set(configs.map((logs) => JSON.stringify(logs)));
      const first = configs.find((logs) => logs.length > 0) ?? [];
      if (keys.size === 1) {
        next.set(listener.name, { loggers: this.compile(first) });
        continue;
      }
      const byStatPrefix = new Map<string, readonly CompiledLogger[]>();
      chains.forEach((chain, i) => {
        const statPrefix = chain.http?.statPrefix ?? chain.tcpProxy?.statPrefix ?? '';
        if (!byStatPrefix.has(statPrefix)) byStatPrefix.set(statPrefix, this.compile(configs[i]!));
      });
      this.options.logger.warn(
        { listener: listener.name },
        'access_log differs between filter chains of this listener; requests are attributed to a chain by stat_prefix when the request path reports it, else the first logging chain',
      );
      next.set(listener.name, { loggers: this.compile(first), byStatPrefix });
    }
    this.byListener = next;
    for (const [path, sink] of this.files) {
      if (usedFiles.has(path)) continue;
      this.files.delete(path);
      void sink.close().then(() => (this.droppedByClosedSinks += sink.dropped));
    }
  }

  /** The ProxyRuntime's accessLog callback. */
  readonly log = (entry: AccessLogEntry): void => {
    const target = this.byListener.get(entry.listener);
    if (target === undefined) return;
    const record = entry;
    const loggers =
      (target.byStatPrefix &&
        record.statPrefix !== undefined &&
        target.byStatPrefix.get(record.statPrefix)) ||
      target.loggers;
    for (let i = 0; i < loggers.length; i++) {
      const l = loggers[i]!;
      l.sink.write(l.format(record));
    }
  };

  /**
   * Reopens every file (logrotate: the files were renamed, SIGUSR1 or admin /reopen_logs).
   * Lines logged before this call land in the old files, later ones in the new.
   */
  reopen(): void {
    for (const sink of this.files.values()) sink.reopen();
  }

  /** Lines every sink of this process dropped so far (buffer overflow, failed writes). */
  droppedTotal(): number {
    let total = this.droppedByClosedSinks;
    for (const sink of this.files.values()) total += sink.dropped;
    if (this.stdout) total += this.stdout.dropped;
    return total;
  }

  /** Flushes and closes every sink; later entries are ignored. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.byListener = new Map();
    const sinks = [...this.files.values(), ...(this.stdout ? [this.stdout] : [])];
    this.files.clear();
    await Promise.all(sinks.map((s) => s.close()));
  }

  private compile(models: readonly AccessLogModel[]): CompiledLogger[] {
    return models.map((m) => ({
      format: m.jsonFormat
        ? compileJsonFormat({ ...m.jsonFormat }, { omitEmptyValues: m.omitEmptyValues === true })
        : compileTextFormat(m.textFormat ?? ENVOY_DEFAULT_FORMAT, {
            omitEmptyValues: m.omitEmptyValues === true,
          }),
      sink: this.sinkFor(m),
    }));
  }

  private sinkFor(model: AccessLogModel): AccessLogSink {
    if (model.sink === 'stdout') {
      this.stdout ??= this.options.stdout?.() ?? stdoutSink(this.options.logger);
      return this.stdout;
    }
    const path = model.path ?? '';
    let sink = this.files.get(path);
    if (!sink) {
      sink = this.options.openFile?.(path) ?? openFileSink(path, this.options.logger);
      this.files.set(path, sink);
    }
    return sink;
  }
}
