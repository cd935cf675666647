/**
 * ferry-proxy's command line. Parsing never throws at the caller: it returns the options or a
 * usage error to print (exit code 2).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { parseHostPort } from '@ferry/shared';

export const USAGE = `Usage: ferry-proxy --config bootstrap.yaml [options]

  --config FILE                  Envoy v3 Bootstrap (YAML or JSON): node, admin, static_resources,
                                 dynamic_resources.ads_config                       (required)
  --node-id ID                   overrides node.id
  --node-cluster NAME            overrides node.cluster (the Ferry group)
  --concurrency N                worker processes                 [available cores: ${os.availableParallelism()}]
  --admin-address HOST:PORT      admin endpoint (overrides the bootstrap's admin)   [loopback only
                                 unless given]
  --log-level LEVEL              trace, debug, info, warn, error, silent            [info]
  --state-dir DIR                where the last good config is kept   [./.ferry-proxy/<node-id>]
  --drain-timeout-s N            graceful shutdown deadline                         [10]
  --listener-port-offset N       add N to every listener port (several proxies of one group on
                                 one host, for development)                         [0]
  --access-log FILE              append one JSON line per request (Envoy's operator names:
                                 response_code, response_flags, ...)                [none]
  --access-log-max-size-mb N     rotate an access log file (--access-log and every HCM file
                                 access_log) when it reaches N MiB: PATH → PATH.1 → PATH.2 ...
                                                                                    [0: off]
  --access-log-rotate-interval-s N
                                 rotate every N seconds (non-empty files)           [0: off]
  --access-log-max-files K       rotated files kept (PATH.1 ... PATH.K)             [5]
                                 External rotation (logrotate): rename the file, then send
                                 SIGUSR1 or POST /reopen_logs on the admin endpoint.
  --initial-fetch-timeout-s N    serve what is there after N s without a first answer from the
                                 control plane (Envoy's initial_fetch_timeout)      [15]
  -h, --help

Environment: FERRY_LOG_LEVEL.
`;

export interface ProxyOptions {
  readonly configPath: string;
  readonly nodeId?: string;
  readonly nodeCluster?: string;
  readonly concurrency: number;
  readonly adminAddress?: { host: string; port: number };
  readonly logLevel: string;
  readonly stateDir?: string;
  readonly drainTimeoutMs: number;
  readonly listenerPortOffset: number;
  readonly initialFetchTimeoutMs: number;
  /** --access-log: file every worker appends its access log to. */
  readonly accessLogPath?: string;
  /** Built-in access log rotation (0 = off for size and time). */
  readonly accessLogRotation: {
    readonly maxBytes: number;
    readonly intervalMs: number;
    readonly maxFiles: number;
  };
  /** The raw options as given, for /server_info. */
  readonly raw: Record<string, unknown>;
}

export type ParsedOptions =
  | { ok: true; options: ProxyOptions }
  | { ok: false; help: true }
  | { ok: false; help: false; error: string };

function integer(value: string | undefined, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > max)
    throw new Error(`${flag}: expected an integer ${min}..${max}, got ${JSON.stringify(value)}`);
  return n;
}

export function parseOptions(argv: readonly string[]): ParsedOptions {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string', short: 'c' },
        'node-id': { type: 'string' },
        'node-cluster': { type: 'string' },
        concurrency: { type: 'string', default: String(os.availableParallelism()) },
        'admin-address': { type: 'string' },
        'log-level': { type: 'string', default: process.env.FERRY_LOG_LEVEL ?? 'info' },
        'state-dir': { type: 'string' },
        'drain-timeout-s': { type: 'string', default: '10' },
        'listener-port-offset': { type: 'string', default: '0' },
        'initial-fetch-timeout-s': { type: 'string', default: '15' },
        'access-log': { type: 'string' },
        'access-log-max-size-mb': { type: 'string', default: '0' },
        'access-log-rotate-interval-s': { type: 'string', default: '0' },
        'access-log-max-files': { type: 'string', default: '5' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) return { ok: false, help: true };
    if (!values.config) throw new Error('--config: required (the bootstrap file)');
    const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
    if (!levels.includes(values['log-level']))
      throw new Error(
        `--log-level: expected one of ${levels.join(', ')}, got ${JSON.stringify(values['log-level'])}`,
      );
    return {
      ok: true,
      options: {
        configPath: values.config,
        ...(values['node-id'] ? { nodeId: values['node-id'] } : {}),
        ...(values['node-cluster'] !== undefined ? { nodeCluster: values['node-cluster'] } : {}),
        concurrency: integer(values.concurrency, '--concurrency', 1, 1024),
        ...(values['admin-address']
          ? { adminAddress: parseHostPort(values['admin-address'], '--admin-address') }
          : {}),
        logLevel: values['log-level'],
        ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
        drainTimeoutMs: integer(values['drain-timeout-s'], '--drain-timeout-s', 0, 3600) * 1000,
        listenerPortOffset: integer(
          values['listener-port-offset'],
          '--listener-port-offset',
          0,
          60000,
        ),
        initialFetchTimeoutMs:
          integer(values['initial-fetch-timeout-s'], '--initial-fetch-timeout-s', 0, 3600) * 1000,
        ...(values['access-log'] ? { accessLogPath: values['access-log'] } : {}),
        accessLogRotation: {
          maxBytes:
            integer(values['access-log-max-size-mb'], '--access-log-max-size-mb', 0, 1 << 20) *
            1024 *
            1024,
          intervalMs:
            integer(
              values['access-log-rotate-interval-s'],
              '--access-log-rotate-interval-s',
              0,
              366 * 86400,
            ) * 1000,
          maxFiles: integer(values['access-log-max-files'], '--access-log-max-files', 1, 1000),
        },
        raw: { ...values },
      },
    };
  } catch (err) {
    return { ok: false, help: false, error: (err as Error).message };
  }
}
