/**
 * ferryctl's command line: `ferryctl [global flags] COMMAND [args] [flags]`; flags may come
 * anywhere, as `--flag value` or `--flag=value`. Usage errors are CtlErrors with exit code 2.
 */
import { CtlError, EXIT_USAGE } from './ctl-error.js';

export interface CtlOptions {
  /** --server or FERRY_SERVER; the config file's, else DEFAULT_SERVER, when unset. */
  server?: string;
  group?: string;
  /** Every --group given (token create grants a role for several). */
  groups: string[];
  /** FERRY_TOKEN (else FERRY_API_TOKEN); the config file's when unset. Never a flag. */
  token?: string;
  /** --ca: PEM CA bundle trusted for https:// servers. */
  ca?: string;
  /** --cert/--key: a client certificate for servers with --api-client-ca. */
  cert?: string;
  key?: string;
  /** token create. */
  role?: string;
  expiresInSeconds?: number;
  clientIdentity?: string;
  output?: 'table' | 'yaml' | 'json';
  files: string[];
  dryRun: boolean;
  /**
   * --force: write even when the pre-flight refuses, and abort the group's active rollout first
   * (writes to a group are refused while one runs).
   */
  force: boolean;
  showSecrets: boolean;
  help: boolean;
  limit?: number;
  message?: string;
  /** `load`: only this cluster. */
  cluster?: string;
  /** `certs`: warn about certificates with fewer days left. */
  warnDays?: number;
  /** `apply --rollout FILE`: a rollout spec file (stages, bake, selector, gates). */
  rolloutFile?: string;
  /** `apply --stages 1,10%,100%`: apply as a rollout with these stages. */
  stages?: string;
  /** `apply --bake 30s`. */
  bake?: string;
  /** Every `apply --selector key=value`. */
  selectors: string[];
}

export interface ParsedArgs {
  readonly command: string | undefined;
  readonly positional: readonly string[];
  readonly options: CtlOptions;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:18001';

const VALUE_FLAGS = new Set([
  '--server',
  '--group',
  '-g',
  '--ca',
  '--cert',
  '--key',
  '--role',
  '--expires',
  '--client-identity',
  '-o',
  '--output',
  '-f',
  '--filename',
  '--limit',
  '--cluster',
  '--message',
  '-m',
  '--warn-days',
  '--rollout',
  '--stages',
  '--bake',
  '--selector',
]);
const BOOLEAN_FLAGS = new Set(['--dry-run', '--show-secrets', '-h', '--help', '--force']);

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const options: CtlOptions = {
    server: env.FERRY_SERVER || undefined,
    token: env.FERRY_TOKEN || env.FERRY_API_TOKEN || undefined,
    groups: [],
    files: [],
    dryRun: false,
    force: false,
    showSecrets: false,
    help: false,
    selectors: [],
  };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (flag === '--token') {
      throw new CtlError(
        EXIT_USAGE,
        '--token is not accepted: tokens on command lines stay in shell history and ps; set FERRY_TOKEN or the token: line of the config file (see ferryctl --help)',
      );
    }
    if (BOOLEAN_FLAGS.has(flag)) {
      if (eq > 0) throw new CtlError(EXIT_USAGE, `${flag} takes no value`);
      if (flag === '--dry-run') options.dryRun = true;
      else if (flag === '--force') options.force = true;
      else if (flag === '--show-secrets') options.showSecrets = true;
      else options.help = true;
      continue;
    }
    if (VALUE_FLAGS.has(flag)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new CtlError(EXIT_USAGE, `${flag} needs a value`);
      setValue(options, flag, value);
      continue;
    }
    if (arg.startsWith('-') && arg !== '-')
      throw new CtlError(EXIT_USAGE, `unknown flag ${arg} (see ferryctl --help)`);
    positional.push(arg);
  }
  const [command, ...rest] = positional;
  return { command, positional: rest, options };
}

function setValue(options: CtlOptions, flag: string, value: string): void {
  switch (flag) {
    case '--server':
      options.server = value;
      return;
    case '--group':
    case '-g':
      options.group = value;
      options.groups.push(value);
      return;
    case '--ca':
      options.ca = value;
      return;
    case '--cert':
      options.cert = value;
      return;
    case '--key':
      options.key = value;
      return;
    case '--role':
      options.role = value;
      return;
    case '--client-identity':
      options.clientIdentity = value;
      return;
    case '--expires':
      options.expiresInSeconds = parseDuration(value);
      return;
    case '--cluster':
      options.cluster = value;
      return;
    case '-o':
    case '--output':
      if (value !== 'table' && value !== 'yaml' && value !== 'json') {
        throw new CtlError(
          EXIT_USAGE,
          `${flag}: expected table, yaml or json, got ${JSON.stringify(value)}`,
        );
      }
      options.output = value;
      return;
    case '--limit': {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1)
        throw new CtlError(
          EXIT_USAGE,
          `--limit: expected a positive integer, got ${JSON.stringify(value)}`,
        );
      options.limit = n;
      return;
    }
    case '--warn-days': {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0)
        throw new CtlError(
          EXIT_USAGE,
          `--warn-days: expected a whole number of days, got ${JSON.stringify(value)}`,
        );
      options.warnDays = n;
      return;
    }
    case '--message':
    case '-m':
      options.message = value;
      return;
    case '--rollout':
      options.rolloutFile = value;
      return;
    case '--stages':
      options.stages = value;
      return;
    case '--bake':
      options.bake = value;
      return;
    case '--selector':
      options.selectors.push(value);
      return;
    default:
      options.files.push(value);
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `--expires 30d`: a positive whole number of s, m, h, d or w. */
export function parseDuration(value: string): number {
  const m = /^(\d+)([smhdw])$/.exec(value);
  const seconds = m ? Number(m[1]) * (UNIT_SECONDS[m[2] ?? ''] ?? 0) : 0;
  if (!Number.isSafeInteger(seconds) || seconds <= 0)
    throw new CtlError(
      EXIT_USAGE,
      `--expires: expected a duration like 90m, 12h, 30d or 8w, got ${JSON.stringify(value)}`,
    );
  return seconds;
}
