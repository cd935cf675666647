/**
 * A throwaway PKI made with openssl at test time: certificate authorities and leaf certificates
 * (P-256, two days) with the SANs a test asks for, usable as server and client certificates.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run } from './harness.js';

export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestCa extends CertFiles {
  /** Issues a leaf certificate named `name` with these SANs (`URI:...`, `DNS:...`, `IP:...`). */
  issue(name: string, sans: readonly string[]): Promise<CertFiles>;
}

async function openssl(args: string[]): Promise<void> {
  const result = await run('openssl', args);
  if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A new self-signed CA in `dir` (files `<name>.crt`, `<name>.key`). */
export async function makeCa(dir: string, name: string): Promise<TestCa> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await openssl([
    'req',
    '-x509',
    ...EC,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return {
    certFile,
    keyFile,
    async issue(leaf, sans) {
      const leafCert = path.join(dir, `${leaf}.crt`);
      const leafKey = path.join(dir, `${leaf}.key`);
      const csr = path.join(dir, `${leaf}.csr`);
      const ext = path.join(dir, `${leaf}.ext`);
      fs.writeFileSync(
        ext,
        [
          ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
          'basicConstraints=CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth,clientAuth',
          '',
        ].join('\n'),
      );
      await openssl([
        'req',
        '-new',
        ...EC,
        '-subj',
        `/CN=${leaf}`,
        '-keyout',
        leafKey,
        '-out',
        csr,
      ]);
      await openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certFile,
        '-CAkey',
        keyFile,
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        ext,
        '-out',
        leafCert,
      ]);
      return { certFile: leafCert, keyFile: leafKey };
    },
  };
}
