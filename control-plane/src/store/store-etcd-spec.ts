/**
 * `--store etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (or `etcds://` for TLS) and the etcd access
 * flags, turned into EtcdStoreOptions. Secrets never come from the command line: the password is
 * read from a file (--etcd-password-file) or FERRY_ETCD_PASSWORD, like FERRY_API_TOKEN.
 */
import { readFileSync } from 'node:fs';
import { FerryError } from '@ferry/shared';
import type { EtcdStoreOptions } from './store-etcd.js';

/** The flags' values: files to read, and the etcd user. */
export interface EtcdAccess {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly username?: string;
  readonly passwordFile?: string;
}

export const ETCD_PASSWORD_ENV = 'FERRY_ETCD_PASSWORD';

/** The etcd access flags, for node:util parseArgs (the control plane and its token command). */
export const ETCD_ACCESS_FLAGS = {
  'etcd-ca': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-username': { type: 'string' },
  'etcd-password-file': { type: 'string' },
} as const;

/** EtcdAccess from parseArgs values of ETCD_ACCESS_FLAGS. */
export function etcdAccessFromFlags(values: {
  readonly 'etcd-ca'?: string | undefined;
  readonly 'etcd-cert'?: string | undefined;
  readonly 'etcd-key'?: string | undefined;
  readonly 'etcd-username'?: string | undefined;
  readonly 'etcd-password-file'?: string | undefined;
}): EtcdAccess {
  const ca = values['etcd-ca'];
  const cert = values['etcd-cert'];
  const key = values['etcd-key'];
  const username = values['etcd-username'];
  const passwordFile = values['etcd-password-file'];
  return {
    ...(ca !== undefined ? { caFile: ca } : {}),
    ...(cert !== undefined ? { certFile: cert } : {}),
    ...(key !== undefined ? { keyFile: key } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(passwordFile !== undefined ? { passwordFile } : {}),
  };
}

const SPEC = /^(etcds?):\/\/([^/?#]*)(\/[^?#]*)?$/;
const ENDPOINT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function isEtcdSpec(spec: string): boolean {
  return /^etcds?:/.test(spec);
}

/** Throws FerryError FERRY_BAD_REQUEST naming what is wrong with `spec` or the access settings. */
export function etcdStoreOptions(
  spec: string,
  access: EtcdAccess = {},
  env: NodeJS.ProcessEnv = process.env,
): EtcdStoreOptions {
  const bad = (reason: string): FerryError =>
    new FerryError(
      'FERRY_BAD_REQUEST',
      `store "${spec}": ${reason} (expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX or etcds://...)`,
    );
  const match = SPEC.exec(spec);
  if (!match) throw bad('not an etcd URL');
  const [, scheme, hosts, path] = match;
  const endpoints = hosts!.split(',').filter((h) => h !== '');
  if (endpoints.length === 0) throw bad('names no endpoint');
  for (const e of endpoints) {
    const m = ENDPOINT.exec(e);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
      throw bad(`endpoint "${e}" is not HOST:PORT`);
  }
  const prefix = path ?? '';
  if (prefix.includes('\u0000')) throw bad('the prefix contains NUL');
  const tlsFiles = access.caFile ?? access.certFile ?? access.keyFile;
  if (scheme === 'etcd' && tlsFiles !== undefined) {
    throw bad('--etcd-ca, --etcd-cert and --etcd-key need etcds:// (TLS)');
  }
  if ((access.certFile === undefined) !== (access.keyFile === undefined)) {
    throw bad('--etcd-cert and --etcd-key go together');
  }
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw bad(`${flag} ${file}: ${(err as Error).message}`);
    }
  };
  let auth: EtcdStoreOptions['auth'];
  if (access.username !== undefined) {
    let password: string | undefined;
    if (access.passwordFile !== undefined) {
      password = read(access.passwordFile, '--etcd-password-file')
        .toString('utf8')
        .replace(/\r?\n$/, '');
    } else {
      password = env[ETCD_PASSWORD_ENV];
    }
    if (password === undefined || password === '') {
      throw bad(
        `--etcd-username needs a password: --etcd-password-file FILE or ${ETCD_PASSWORD_ENV}`,
      );
    }
    auth = { username: access.username, password };
  } else if (access.passwordFile !== undefined) {
    throw bad('--etcd-password-file needs --etcd-username');
  }
  return {
    endpoints,
    prefix,
    ...(scheme === 'etcds'
      ? {
          tls: {
            ...(access.caFile ? { ca: read(access.caFile, '--etcd-ca') } : {}),
            ...(access.certFile ? { cert: read(access.certFile, '--etcd-cert') } : {}),
            ...(access.keyFile ? { key: read(access.keyFile, '--etcd-key') } : {}),
          },
        }
      : {}),
    ...(auth ? { auth } : {}),
  };
}
