/**
 * ferryctl's config file: where to connect and with what, so that a token never has to be typed
 * on a command line (where shell history and `ps` keep it). YAML with optional keys
 *   server: https://ferry.example:18001
 *   token: ferry.NAME.SECRET
 *   ca: /path/ca.pem            # trust for https:// servers
 *   cert: /path/client.pem      # client certificate (with --api-client-ca on the server)
 *   key: /path/client-key.pem
 * Relative paths are relative to the file. Location: $FERRY_CONFIG, else
 * $XDG_CONFIG_HOME/ferry/ferryctl.yaml, else ~/.config/ferry/ferryctl.yaml; a missing file at the
 * default location is no error.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { CtlError, EXIT_USAGE } from './ctl-error.js';

export interface CtlConfigFile {
  readonly file: string | undefined;
  readonly server?: string;
  readonly token?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

const KEYS = ['server', 'token', 'ca', 'cert', 'key'] as const;

export function configFilePath(env: NodeJS.ProcessEnv): { file: string; explicit: boolean } {
  if (env.FERRY_CONFIG) return { file: env.FERRY_CONFIG, explicit: true };
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return { file: path.join(base, 'ferry', 'ferryctl.yaml'), explicit: false };
}

export function readConfigFile(env: NodeJS.ProcessEnv): CtlConfigFile {
  const { file, explicit } = configFilePath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return { file: undefined };
    throw new CtlError(EXIT_USAGE, `config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (err) {
    throw new CtlError(
      EXIT_USAGE,
      `config file ${file}: not valid YAML: ${(err as Error).message}`,
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new CtlError(EXIT_USAGE, `config file ${file}: expected a mapping of ${KEYS.join(', ')}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!(KEYS as readonly string[]).includes(k))
      throw new CtlError(
        EXIT_USAGE,
        `config file ${file}: unknown key "${k}" (expected ${KEYS.join(', ')})`,
      );
    if (typeof v !== 'string')
      throw new CtlError(EXIT_USAGE, `config file ${file}: ${k}: expected a string`);
    out[k] = k === 'ca' || k === 'cert' || k === 'key' ? path.resolve(path.dirname(file), v) : v;
  }
  return { file, ...out };
}
