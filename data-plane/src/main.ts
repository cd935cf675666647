/**
 * `ferry-proxy`: one entry point for both roles of the process model (docs/architecture.md,
 * "Process model"). The primary
 * (node:cluster primary) parses the command line and the bootstrap, runs xDS, admin and stats,
 * and forks the workers, which re-run this file and serve traffic with a ProxyRuntime.
 * SIGTERM/SIGINT drain gracefully within --drain-timeout-s; a second signal exits at once.
 * SIGUSR1 reopens the access log files (after logrotate renamed them).
 */
import cluster from 'node:cluster';
import fs from 'node:fs';
import { parseDocuments } from '@ferry/proto';
import { createLogger, flushLogs } from '@ferry/shared';
import { loadBootstrap } from './config/bootstrap.js';
import { buildProxyConfig, decodeResourceBinary } from './config/translate.js';
import { ProxyRuntime } from './http/proxy-runtime.js';
import { parseOptions, USAGE } from './process/options.js';
import { Primary } from './process/primary.js';
import { runWorker } from './process/worker-main.js';
import { nodeIdentity } from './tracing/node-identity.js';
import { proxyVersion } from './version.js';
import type { BuildConfig } from './xds/config-source.js';
import type { JsonObject } from './xds/resource-set.js';

function usageError(message: string): never {
  process.stderr.write(`ferry-proxy: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function startWorker(): void {
  const parsed = parseOptions(process.argv.slice(2));
  const level = parsed.ok ? parsed.options.logLevel : 'info';
  const workerId = Number(process.env.FERRY_WORKER_INDEX ?? cluster.worker?.id ?? 0);
  const logger = createLogger('ferry-proxy-worker', level as 'info').child({ worker: workerId });
  logger.level = level;
  runWorker({
    logger,
    workerId,
    ...(parsed.ok && parsed.options.accessLogPath !== undefined
      ? { accessLogFile: parsed.options.accessLogPath }
      : {}),
    createRuntime: (opts) =>
      new ProxyRuntime(parsed.ok ? { ...opts, node: nodeIdentity(parsed.options) } : opts),
  });
}

async function startPrimary(): Promise<void> {
  const parsed = parseOptions(process.argv.slice(2));
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    usageError(parsed.error);
  }
  const options = parsed.options;
  if (options.accessLogPath !== undefined) {
    // Checked here, once, so a bad path is a usage error rather than N crashing workers.
    try {
      fs.closeSync(fs.openSync(options.accessLogPath, 'a'));
    } catch (err) {
      usageError(`--access-log: cannot open ${options.accessLogPath}: ${(err as Error).message}`);
    }
  }
  const logger = createLogger('ferry-proxy', options.logLevel as 'info');
  logger.level = options.logLevel;
  let text: string;
  try {
    text = fs.readFileSync(options.configPath, 'utf8');
  } catch (err) {
    usageError(`--config: cannot read ${options.configPath}: ${(err as Error).message}`);
  }
  const bootstrap = loadBootstrap(text, options.configPath);
  if (!bootstrap.ok)
    usageError(`${options.configPath}: invalid bootstrap:\n  ${bootstrap.errors.join('\n  ')}`);
  const docs = parseDocuments(text, options.configPath);
  const bootstrapJson = docs.ok ? (docs.value[0] as JsonObject | undefined) : undefined;

  const build: BuildConfig = (input, previous) =>
    buildProxyConfig(input as Parameters<typeof buildProxyConfig>[0], previous);
  const primary = new Primary({
    options,
    bootstrap: bootstrap.value,
    ...(bootstrapJson ? { bootstrapJson } : {}),
    build,
    decode: decodeResourceBinary,
    logger,
    version: proxyVersion(),
  });

  let signals = 0;
  const onSignal = (signal: string): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      primary.destroy();
      process.exit(1);
    }
    void primary.shutdown(signal).then(
      // Bounded: a stdout reader that stalls or went away costs log lines, never the exit.
      () => flushLogs().then(() => process.exit(0)),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // logrotate's postrotate signal (as Envoy): every worker reopens its access log files.
  process.on('SIGUSR1', () => primary.reopenLogs());

  try {
    await primary.start();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start');
    primary.destroy();
    process.exit(1);
  }
}

if (cluster.isPrimary) {
  await startPrimary();
} else {
  startWorker();
}
