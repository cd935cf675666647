/**
 * A worker process (docs/architecture.md, "Process model"): runs one ProxyRuntime and does what the
 * primary says over IPC. Configs are applied one at a time in arrival order (a newer config waits
 * for the older apply to finish, so the runtime never sees two swaps at once). Signals are the
 * primary's business: Ctrl-C reaches the whole process group, and the primary decides how to drain;
 * a worker whose primary is gone drains and exits on its own.
 */
import { onFirstUpstreamTraffic } from '../upstream/upstream-traffic.js';
import type { Logger } from '@ferry/shared';
import { AccessLogDispatcher } from '../access-log/access-log-dispatcher.js';
import type { ProxyConfig } from '../config/model.js';
import type { AccessLogEntry } from '../access-log/access-log-record.js';
import { workerActiveHealth } from '../health/active-health-overrides.js';
import { MemoryStatsSink } from '../stats/stats-memory.js';
import type { StatLabels, StatsSink, StatsSnapshot } from '../stats/stats.js';
import { OutcomeBuffer, workerOutliers } from '../health/outlier-outcomes.js';
import { ProcessStats } from '../stats/process-stats.js';
import { StatsWireEncoder } from '../stats/stats-wire.js';
import { openAccessLog } from './access-log.js';
import { OverloadManager } from '../overload/overload-manager.js';
import { isPrimaryMessage, type PrimaryMessage, type WorkerMessage } from './ipc.js';
import { workerBuckets } from '../rate-limit/shared-bucket.js';

/** The part of ProxyRuntime (http/proxy-runtime.ts) a worker drives. */
export interface WorkerRuntime {
  apply(config: ProxyConfig): Promise<void>;
  drainListeners(): Promise<void>;
  close(deadlineMs: number): Promise<void>;
  destroy(): void;
  /** /healthcheck/fail and /ok, when the runtime supports health-check filters. */
  setHealthCheckFailing?(failing: boolean): void;
}

export interface WorkerDeps {
  readonly logger: Logger;
  readonly workerId: number;
  /** --access-log: a JSON line per request to this file, besides the HCMs' access_log. */
  readonly accessLogFile?: string;
  readonly createRuntime: (opts: {
    logger: Logger;
    workerId: number;
    stats: StatsSink;
    /** The HCMs' access_log loggers (access-log/access-log-dispatcher.ts). */
    accessLog: (entry: AccessLogEntry) => void;
    /** Whether the config being applied logs requests (it was applied to the dispatcher first). */
    logsRequests: (config: ProxyConfig) => boolean;
  }) => WorkerRuntime;
}

/** Deadline for draining when the primary disappears without saying how long. */
const ORPHAN_DRAIN_MS = 5000;

/** Labels of the worker's own series in its stats snapshot: one object for every snapshot. */
const NO_LABELS: StatLabels = Object.freeze({});

export function runWorker(deps: WorkerDeps): void {
  const { logger, workerId } = deps;
  const stats = new MemoryStatsSink();
  const processStats = new ProcessStats(`worker-${workerId}`);
  const accessLogs = new AccessLogDispatcher({ logger });
  const fileLog =
    deps.accessLogFile !== undefined ? openAccessLog(deps.accessLogFile, logger) : undefined;
  const runtime = deps.createRuntime({
    logger,
    workerId,
    stats,
    accessLog:
      fileLog === undefined
        ? accessLogs.log
        : (entry) => {
            accessLogs.log(entry);
            fileLog.write(entry);
          },
    logsRequests: () => fileLog !== undefined || accessLogs.active,
  });
  // One encoder per channel to the primary; it sends a series' labels only while the primary has
  // not seen them at that position (stats-wire.ts), so they must be the same object each time.
  const statsWire = new StatsWireEncoder();
  const statsSnapshot = (): StatsSnapshot => {
    const snapshot = stats.snapshot();
    const dropped = accessLogs.droppedTotal() + (fileLog?.dropped ?? 0);
    return {
      counters: [
        ...snapshot.counters,
        { name: 'access_log_dropped_total', labels: NO_LABELS, value: dropped },
      ],
      gauges: [...snapshot.gauges, ...processStats.gauges()],
      histograms: snapshot.histograms,
    };
  };
  let applying: Promise<void> = Promise.resolve();
  let shuttingDown = false;
  let overload: OverloadManager | undefined;

  const send = (message: WorkerMessage): void => {
    if (process.connected) process.send?.(message);
  };

  const shutdown = (deadlineMs: number): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    const hardStop = setTimeout(() => {
      runtime.destroy();
      process.exit(0);
    }, deadlineMs + 1000);
    hardStop.unref();
    void applying
      .then(() => runtime.close(deadlineMs))
      .catch((err: unknown) => logger.warn({ err }, 'worker: close failed'))
      .then(() => Promise.all([accessLogs.close(), fileLog?.close()]))
      .finally(() => {
        processStats.close();
        send({ type: 'drained' });
        process.disconnect?.();
        process.exit(0);
      });
  };

  const onMessage = (message: PrimaryMessage): void => {
    switch (message.type) {
      case 'config': {
        const { config } = message;
        applying = applying.then(async () => {
          if (shuttingDown) return;
          try {
            // Before the swap, so the new listeners' first requests find their loggers.
            accessLogs.apply(config);
            await runtime.apply(config);
            send({ type: 'applied', version: config.version });
          } catch (err) {
            logger.error({ err, version: config.version }, 'worker: config apply failed');
            send({ type: 'apply-failed', version: config.version, error: String(err) });
          }
        });
        break;
      }
      case 'health':
        // Not queued behind config applies: results are kept by cluster name, and a cluster
        // version built later reads them (health/active-health-overrides.ts).
        workerActiveHealth.set(message.cluster, message.hosts);
        break;
      case 'outlier-ejections':
        workerOutliers.ejections.set(
          message.cluster,
          Object.fromEntries(message.hosts.map((key) => [key, 'UNHEALTHY' as const])),
        );
        break;
      case 'stats-request':
        send({
          type: 'stats',
          requestId: message.requestId,
          stats: statsWire.encode(statsSnapshot()),
        });
        break;
      case 'reopen-logs':
        accessLogs.reopen();
        fileLog?.reopen();
        break;
      case 'log-level':
        logger.level = message.level;
        break;
      case 'overload':
        overload?.stop();
        overload = new OverloadManager(message.config, stats, `worker-${workerId}`);
        overload.start();
        break;
      case 'healthcheck':
        runtime.setHealthCheckFailing?.(message.failing);
        break;
      case 'drain-listeners':
        applying = applying.then(() =>
          runtime.drainListeners().catch((err: unknown) => {
            logger.warn({ err }, 'worker: drain failed');
          }),
        );
        break;
      case 'shutdown':
        shutdown(message.deadlineMs);
        break;
      case 'token-grant':
        workerBuckets.onGrant(message.grant);
        break;
    }
  };

  process.on('message', (message: unknown) => {
    if (isPrimaryMessage(message)) onMessage(message);
  });
  process.on('disconnect', () => shutdown(ORPHAN_DRAIN_MS));
  // The primary coordinates shutdown; a terminal's Ctrl-C also reaches workers.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  // SIGUSR1 (logrotate) is the primary's to forward; a listener also keeps Node from starting
  // its inspector when the signal reaches the whole process group.
  process.on('SIGUSR1', () => undefined);
  // Health checks (in the primary) leave no_traffic_interval once a cluster has traffic.
  onFirstUpstreamTraffic((cluster) => send({ type: 'cluster-traffic', cluster }));
  workerOutliers.outcomes = new OutcomeBuffer((batch) => send({ type: 'outcomes', batch }));
  // Rate limit buckets are the primary's, shared by every worker.
  workerBuckets.connect({ send: (request) => send({ type: 'token-lease', request }) });
  send({ type: 'worker-ready' });
}
