/** UpstreamTlsModel builders for tests. Test-only. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UpstreamTlsModel } from '../config/model.js';

/** TLS without any verification (no validation_context), Envoy's defaults otherwise. */
export function plainTlsModel(extra: Partial<UpstreamTlsModel> = {}): UpstreamTlsModel {
  return {
    sni: '',
    alpnProtocols: [],
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    cipherSuites: [],
    sanMatchers: [],
    certificateHashes: [],
    spkiHashes: [],
    ...extra,
  };
}

export interface TestCa {
  readonly caPem: string;
  /** A P-256 leaf signed by this CA with `subjectAltName` (openssl syntax, e.g. `DNS:a,IP:1.2.3.4`). */
  leaf(name: string, subjectAltName: string): { readonly certPem: string; readonly keyPem: string };
}

/** A throwaway CA in `dir` (openssl on the machine), for real TLS handshakes in tests. */
export function testCa(dir: string, caName = 'ca'): TestCa {
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run([
    'req',
    '-x509',
    ...ec,
    '-days',
    '1',
    '-subj',
    `/CN=${caName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=keyCertSign',
    '-keyout',
    `${caName}.key`,
    '-out',
    `${caName}.crt`,
  ]);
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
  return {
    caPem: read(`${caName}.crt`),
    leaf(name, subjectAltName) {
      run(['req', ...ec, '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${subjectAltName}\n`);
      run([
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${caName}.crt`,
        '-CAkey',
        `${caName}.key`,
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ]);
      return { certPem: read(`${name}.crt`), keyPem: read(`${name}.key`) };
    },
  };
}
