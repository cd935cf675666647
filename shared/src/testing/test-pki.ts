/**
 * A throwaway PKI for tests, made with the machine's openssl: self-signed certificates,
 * certificate authorities and the leaf certificates they issue, written to a directory the test
 * owns and returned as both files and PEM. Keys are P-256 unless RSA is asked for. Not used by
 * product code.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate, PEM. */
  readonly cert: string;
  /** The private key, PEM. */
  readonly key: string;
  /** The serial number as Node reports it (uppercase hex). */
  readonly serial: string;
}

export interface CertOptions {
  /**
   * Subject alternative names in openssl's syntax (`DNS:a.test`, `IP:127.0.0.1`,
   * `URI:spiffe://ferry/a`). A self-signed certificate defaults to `DNS:<name>`, an issued one
   * to none.
   */
  readonly sans?: readonly string[];
  /** Days of validity from now; 2 unless given. */
  readonly days?: number;
  /** The serial number; random (openssl's choice) unless given. */
  readonly serial?: number;
  /** The subject in openssl's `-subj` syntax; `/CN=<name>` unless given. */
  readonly subject?: string;
  /** The files' base name in the directory (`<file>.crt`, `<file>.key`); `<name>` unless given. */
  readonly file?: string;
  /** The key: P-256 unless `rsa` (2048 bits). */
  readonly keyType?: 'ec' | 'rsa';
}

export interface TestCa extends TestCert {
  /**
   * A leaf certificate signed by this CA, for either side of a handshake (extended key usage
   * serverAuth and clientAuth).
   */
  issue(name: string, options?: CertOptions): TestCert;
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    throw new Error(`openssl ${args[0]} failed: ${stderr}`);
  }
}

function newKey(options: CertOptions): string[] {
  return options.keyType === 'rsa'
    ? ['-newkey', 'rsa:2048', '-nodes']
    : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
}

function files(
  dir: string,
  name: string,
  options: CertOptions,
): { certFile: string; keyFile: string } {
  const base = join(dir, options.file ?? name);
  return { certFile: `${base}.crt`, keyFile: `${base}.key` };
}

function read(paths: { certFile: string; keyFile: string }): TestCert {
  const cert = readFileSync(paths.certFile, 'utf8');
  return {
    ...paths,
    cert,
    key: readFileSync(paths.keyFile, 'utf8'),
    serial: new X509Certificate(cert).serialNumber,
  };
}

function selfSignedWith(
  dir: string,
  name: string,
  options: CertOptions,
  extensions: readonly string[],
): TestCert {
  const paths = files(dir, name, options);
  openssl([
    'req',
    '-x509',
    ...newKey(options),
    '-days',
    String(options.days ?? 2),
    ...(options.serial === undefined ? [] : ['-set_serial', String(options.serial)]),
    '-subj',
    options.subject ?? `/CN=${name}`,
    ...extensions.flatMap((ext) => ['-addext', ext]),
    '-keyout',
    paths.keyFile,
    '-out',
    paths.certFile,
  ]);
  return read(paths);
}

/** A self-signed certificate for `name` (subject CN and, unless `sans` says otherwise, DNS SAN). */
export function selfSigned(dir: string, name: string, options: CertOptions = {}): TestCert {
  const sans = options.sans ?? [`DNS:${name}`];
  return selfSignedWith(
    dir,
    name,
    options,
    sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : [],
  );
}

/** A new self-signed certificate authority named `name` in `dir`. */
export function createCa(dir: string, name: string, options: CertOptions = {}): TestCa {
  const ca = selfSignedWith(dir, name, options, [
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return {
    ...ca,
    issue(leaf, leafOptions = {}) {
      const paths = files(dir, leaf, leafOptions);
      const csr = paths.certFile.replace(/\.crt$/, '.csr');
      const ext = paths.certFile.replace(/\.crt$/, '.ext');
      const sans = leafOptions.sans ?? [];
      writeFileSync(
        ext,
        [
          ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
          'basicConstraints=CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth,clientAuth',
          '',
        ].join('\n'),
      );
      openssl([
        'req',
        '-new',
        ...newKey(leafOptions),
        '-subj',
        leafOptions.subject ?? `/CN=${leaf}`,
        '-keyout',
        paths.keyFile,
        '-out',
        csr,
      ]);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.certFile,
        '-CAkey',
        ca.keyFile,
        ...(leafOptions.serial === undefined
          ? ['-CAcreateserial']
          : ['-set_serial', String(leafOptions.serial)]),
        '-days',
        String(leafOptions.days ?? 2),
        '-extfile',
        ext,
        '-out',
        paths.certFile,
      ]);
      return read(paths);
    },
  };
}
