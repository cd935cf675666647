/**
 * TLS for the HTTP and gRPC management APIs (--api-tls-cert, --api-tls-key, --api-client-ca).
 * Ferry's TLS defaults (TLS 1.2 at least, forward-secret AEAD suites only). With a client CA the
 * server asks for a certificate but does not require one: token callers need none, and a
 * certificate is trusted only when it verifies against that CA (authenticator.ts maps it to a
 * caller).
 */
import { readFileSync } from 'node:fs';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_CIPHERS, TLS_MIN_VERSION } from '@ferry/shared';

export interface ApiTls {
  /** PEM certificate chain. */
  readonly cert: Buffer;
  /** PEM private key. */
  readonly key: Buffer;
  /** PEM CA bundle that client certificates must chain to; no client certificates without it. */
  readonly clientCa?: Buffer;
}

/** Reads the PEM files; the error names the flag and the file. */
export function loadApiTls(files: { cert: string; key: string; clientCa?: string }): ApiTls {
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${flag} ${file}: ${(err as Error).message}`);
    }
  };
  return {
    cert: read('--api-tls-cert', files.cert),
    key: read('--api-tls-key', files.key),
    ...(files.clientCa ? { clientCa: read('--api-client-ca', files.clientCa) } : {}),
  };
}

export function httpsServerOptions(tls: ApiTls): HttpsServerOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: TLS_MIN_VERSION,
    ciphers: DEFAULT_CIPHERS,
    ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
  };
}

export function grpcServerCredentials(tls: ApiTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  // checkClientCertificate false: a client certificate is optional (tokens work without one);
  // the call's auth context carries a certificate only when it verified against the CA.
  return grpc.ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    false,
  );
}

/** The DER of a client certificate that verified against the client CA, if the socket has one. */
export function verifiedPeerCertificate(socket: unknown): Buffer | undefined {
  const tlsSocket = socket as Partial<TLSSocket> | undefined;
  if (!tlsSocket || typeof tlsSocket.getPeerCertificate !== 'function') return undefined;
  if (tlsSocket.authorized !== true) return undefined;
  const cert = tlsSocket.getPeerCertificate();
  return cert.raw && cert.raw.length > 0 ? cert.raw : undefined;
}
