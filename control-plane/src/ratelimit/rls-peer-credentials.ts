/**
 * Credentials of the calls one control-plane replica forwards to a counter's owner when xDS
 * serves TLS (docs/architecture.md, "Fleet-wide rate limits"): the replica presents its own xDS
 * certificate and key as its client certificate (the owner admits forwarded calls from identities
 * matching `--xds-admin-san`), and verifies the owner's xDS server certificate against
 * `--rls-peer-ca` (default `--xds-client-ca`; neither: the system's roots). The server name
 * checked is `--rls-peer-server-name` when set, else the host the owner advertises in the
 * membership (`--rls-advertise-address` or the bound xDS host), which its certificate's SAN must
 * then name.
 */
import { readFile } from 'node:fs/promises';
import { credentials } from '@grpc/grpc-js';
import type { PeerCredentials } from './rls-service.js';

export interface RlsPeerTlsFiles {
  /** The replica's xDS certificate chain (`--xds-tls-cert`), presented as client certificate. */
  readonly certFile: string;
  /** Its private key (`--xds-tls-key`). */
  readonly keyFile: string;
  /** CA bundle the peers' server certificates must chain to (`--rls-peer-ca`). */
  readonly caFile?: string;
  /** Name the peers' server certificates must carry (`--rls-peer-server-name`). */
  readonly serverName?: string;
}

/** Reads the files (again on every call: SIGHUP re-reads them) into forwarding credentials. */
export async function rlsPeerCredentials(files: RlsPeerTlsFiles): Promise<PeerCredentials> {
  const read = async (file: string, flag: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new Error(`${flag} ${file}: cannot read: ${(err as Error).message}`);
    }
  };
  const [cert, key, ca] = await Promise.all([
    read(files.certFile, '--xds-tls-cert'),
    read(files.keyFile, '--xds-tls-key'),
    files.caFile ? read(files.caFile, '--rls-peer-ca') : undefined,
  ]);
  let channel;
  try {
    channel = credentials.createSsl(ca ?? null, key, cert);
  } catch (err) {
    throw new Error(
      `--rls-peer-ca/--xds-tls-cert/--xds-tls-key: ${(err as Error).message} (PEM CA bundle, certificate chain and its private key expected)`,
    );
  }
  return {
    credentials: channel,
    ...(files.serverName !== undefined
      ? { options: { 'grpc.ssl_target_name_override': files.serverName } }
      : {}),
  };
}
