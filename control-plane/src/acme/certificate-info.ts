/**
 * What an operator (and the renewal logic) needs to know of a certificate chain in a Secret:
 * subject, SANs, serial, validity; and the Secret resource the control plane writes.
 */
import { X509Certificate } from 'node:crypto';
import { binaryToJson, parseResourceJson, resourceTypeByKind } from '@ferry/proto';
import type { Mutation } from '../store/store.js';

export const SECRET_TYPE = resourceTypeByKind('Secret');

export interface CertificateInfo {
  readonly subject: string;
  readonly dnsNames: readonly string[];
  readonly serial: string;
  readonly issuer: string;
  /** Epoch ms. */
  readonly notBefore: number;
  readonly notAfter: number;
}

/** The leaf (first) certificate of a PEM chain, or undefined when there is none that parses. */
export function leafInfo(chainPem: string): CertificateInfo | undefined {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(chainPem);
  if (!first) return undefined;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first[0]);
  } catch {
    return undefined;
  }
  const dnsNames = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    dnsNames,
    serial: cert.serialNumber,
    issuer: cert.issuer.replace(/\n/g, ', '),
    notBefore: Date.parse(cert.validFrom),
    notAfter: Date.parse(cert.validTo),
  };
}

/** The certificate chain of a stored Secret's tls_certificate (inline only), or undefined. */
export function secretChainPem(value: Uint8Array): string | undefined {
  const json = binaryToJson(SECRET_TYPE.messageName, value) as {
    tls_certificate?: { certificate_chain?: { inline_string?: string; inline_bytes?: string } };
  };
  const source = json.tls_certificate?.certificate_chain;
  if (source?.inline_string) return source.inline_string;
  if (source?.inline_bytes) return Buffer.from(source.inline_bytes, 'base64').toString('utf8');
  return undefined;
}

/** When renewal starts: `renewBeforeMs` before expiry, or at two thirds of the lifetime. */
export function renewAt(info: CertificateInfo, renewBeforeMs: number | undefined): number {
  return info.notAfter - (renewBeforeMs ?? (info.notAfter - info.notBefore) / 3);
}

export function secretMutation(
  group: string,
  name: string,
  chainPem: string,
  privateKeyPem: string,
): Mutation {
  const parsed = parseResourceJson({
    '@type': SECRET_TYPE.typeUrl,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: chainPem },
      private_key: { inline_string: privateKeyPem },
    },
  });
  if (!parsed.ok) throw new Error(`Secret "${name}": ${parsed.errors.join('; ')}`);
  return {
    op: 'put',
    typeUrl: SECRET_TYPE.typeUrl,
    group,
    name,
    value: parsed.value.bytes,
    version: parsed.value.version,
  };
}
