/**
 * The xDS server's TLS socket (docs/architecture.md, "Who may connect"). TLS is terminated here,
 * not by the gRPC server, so that refused handshakes (no client certificate, one from another CA, an old
 * protocol) can be logged and counted, and so that the certificate files can be re-read without
 * a restart (reload, on SIGHUP). Each verified connection is handed to the gRPC server
 * (`injectConnection`), which reads the peer certificate from the TLSSocket for the admission
 * check (`call.getAuthContext()`).
 *
 * Ferry's TLS defaults (TLS 1.2 minimum, forward-secret AEAD suites only), ALPN h2 (gRPC). With a
 * client CA, a client must present a certificate it signs or the handshake fails.
 */
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { DEFAULT_CIPHERS, TLS_MIN_VERSION, formatHostPort } from '@ferry/shared';

export interface XdsTlsFiles {
  /** PEM certificate chain of the server (`--xds-tls-cert`). */
  readonly certFile: string;
  /** PEM private key (`--xds-tls-key`). */
  readonly keyFile: string;
  /** PEM CA bundle that client certificates must chain to (`--xds-client-ca`); none = no client certificates. */
  readonly clientCaFile?: string;
}

/** Where verified connections go: the gRPC server (../grpc-lite/server.ts). */
export interface ConnectionInjector {
  injectConnection(socket: tls.TLSSocket): void;
  /** The listening socket failed after listen() (an accept error); it keeps listening. */
  listenError(error: Error): void;
}

/** Refused handshakes are reported here: peer "host:port" and the TLS error. */
export type HandshakeRefused = (peer: string, error: Error) => void;

export class XdsTlsListener {
  private server: tls.Server | undefined;
  private readonly handshaking = new Set<Socket>();

  constructor(
    private readonly files: XdsTlsFiles,
    private readonly onRefused: HandshakeRefused,
  ) {}

  get requiresClientCertificate(): boolean {
    return this.files.clientCaFile !== undefined;
  }

  /** Reads the files, binds host:port (0 = any free port) and resolves with the bound port. */
  async listen(host: string, port: number, injector: ConnectionInjector): Promise<number> {
    const context = await this.readContext();
    const server = tls.createServer({
      ...context,
      minVersion: TLS_MIN_VERSION,
      ciphers: DEFAULT_CIPHERS,
      honorCipherOrder: true,
      ALPNProtocols: ['h2'],
      requestCert: this.requiresClientCertificate,
      rejectUnauthorized: this.requiresClientCertificate,
    });
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.handshaking.add(socket);
      socket.once('close', () => this.handshaking.delete(socket));
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      this.handshaking.delete(socket);
      injector.injectConnection(socket);
    });
    server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
      this.onRefused(
        formatHostPort(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0),
        error,
      );
    });
    return new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (error: Error) => injector.listenError(error));
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /**
   * Re-reads the certificate, key and client CA files; new handshakes use them, established
   * connections keep theirs. On a read or parse error the current ones stay and the error is
   * thrown (the caller logs it).
   */
  async reload(): Promise<void> {
    const context = await this.readContext();
    this.server?.setSecureContext({
      ...context,
      minVersion: TLS_MIN_VERSION,
      ciphers: DEFAULT_CIPHERS,
      honorCipherOrder: true,
    });
  }

  /** Stops accepting connections; established ones end with the gRPC server's sessions. */
  close(): void {
    this.server?.close();
  }

  /** Stops accepting and drops connections still in their handshake. */
  destroy(): void {
    this.close();
    for (const socket of this.handshaking) socket.destroy();
    this.handshaking.clear();
  }

  private async readContext(): Promise<tls.SecureContextOptions> {
    const read = async (file: string, flag: string): Promise<Buffer> => {
      try {
        return await readFile(file);
      } catch (err) {
        throw new Error(`${flag} ${file}: cannot read: ${(err as Error).message}`);
      }
    };
    const [cert, key, ca] = await Promise.all([
      read(this.files.certFile, '--xds-tls-cert'),
      read(this.files.keyFile, '--xds-tls-key'),
      this.files.clientCaFile ? read(this.files.clientCaFile, '--xds-client-ca') : undefined,
    ]);
    const options: tls.SecureContextOptions = { cert, key, ...(ca ? { ca } : {}) };
    try {
      // Parses now, so a bad file is reported with its flag rather than at the first handshake.
      tls.createSecureContext(options);
    } catch (err) {
      throw new Error(
        `--xds-tls-cert/--xds-tls-key/--xds-client-ca: ${(err as Error).message} (PEM certificate chain, its private key and a PEM CA bundle expected)`,
      );
    }
    return options;
  }
}
