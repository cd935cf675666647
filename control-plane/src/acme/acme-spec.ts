/**
 * The AcmeCertificate resource (proto/ferry/v1/acme.proto) as the control plane uses it: field
 * checks with paths (run by validation on apply), and the narrow `AcmeSpec` the ordering code
 * reads, decoded once from the stored bytes.
 */
import { X509Certificate } from 'node:crypto';
import { ACME_CERTIFICATE_TYPE, binaryToJson, type JsonValue } from '@ferry/proto';

export type AcmeKeyType = 'ECDSA_P256' | 'RSA_2048';

export interface AcmeSpec {
  /** The AcmeCertificate's own group and name. */
  readonly group: string;
  readonly name: string;
  readonly domains: readonly string[];
  /** Serving groups: where challenges are answered and the Secret is written (never empty). */
  readonly groups: readonly string[];
  readonly directoryUrl: string;
  readonly directoryCaPem: string;
  readonly email: string;
  readonly secretName: string;
  readonly keyType: AcmeKeyType;
  /** Undefined: a third of the certificate's lifetime. */
  readonly renewBeforeMs: number | undefined;
  /** Content version of the stored resource: a new version orders anew. */
  readonly version: string;
}

type JsonObject = { [key: string]: JsonValue };

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;
const EMAIL = /^[^\s@:<>,]+@[^\s@:<>,]+$/;

/** Every problem of an AcmeCertificate's fields, each `field: reason` relative to the resource. */
export function checkAcmeCertificate(json: JsonObject): string[] {
  const errors: string[] = [];
  const domains = stringList(json.domains);
  if (domains.length === 0) errors.push('domains: required: at least one DNS name');
  const seen = new Set<string>();
  domains.forEach((d, i) => {
    const problem = domainProblem(d);
    if (problem) errors.push(`domains[${i}]: ${JSON.stringify(d)} ${problem}`);
    else if (seen.has(d)) errors.push(`domains[${i}]: ${JSON.stringify(d)} is listed twice`);
    seen.add(d);
  });
  stringList(json.groups).forEach((g, i) => {
    if (!GROUP_NAME.test(g)) {
      errors.push(
        `groups[${i}]: ${JSON.stringify(g)} is not a valid group name (letters, digits and . _ : / -, at most 253 characters)`,
      );
    }
  });
  const directory = typeof json.directory_url === 'string' ? json.directory_url : '';
  if (directory === '') {
    errors.push("directory_url: required: the CA's ACME directory (https://...)");
  } else {
    let url: URL | undefined;
    try {
      url = new URL(directory);
    } catch {
      errors.push(`directory_url: ${JSON.stringify(directory)} is not a URL`);
    }
    if (url && url.protocol !== 'https:') {
      errors.push(`directory_url: must be https (RFC 8555 section 6.1), got ${url.protocol}`);
    }
  }
  const ca = typeof json.directory_ca_pem === 'string' ? json.directory_ca_pem : '';
  if (ca !== '') {
    const problem = caBundleProblem(ca);
    if (problem) errors.push(`directory_ca_pem: ${problem}`);
  }
  const email = typeof json.email === 'string' ? json.email : '';
  if (email !== '' && !EMAIL.test(email)) {
    errors.push(`email: ${JSON.stringify(email)} is not an email address`);
  }
  if (typeof json.secret_name !== 'string' || json.secret_name === '') {
    errors.push('secret_name: required: the name of the Secret to produce');
  }
  if (json.renew_before !== undefined) {
    const ms = durationMs(json.renew_before);
    if (ms === undefined || ms <= 0) errors.push('renew_before: must be a positive duration');
  }
  return errors;
}

/** Decodes a stored AcmeCertificate (already validated on apply). */
export function acmeSpecOf(
  group: string,
  name: string,
  value: Uint8Array,
  version: string,
): AcmeSpec {
  const json = binaryToJson(ACME_CERTIFICATE_TYPE.messageName, value) as JsonObject;
  const groups = stringList(json.groups);
  return {
    group,
    name,
    domains: stringList(json.domains),
    groups: groups.length > 0 ? [...new Set(groups)] : [group],
    directoryUrl: str(json.directory_url),
    directoryCaPem: str(json.directory_ca_pem),
    email: str(json.email),
    secretName: str(json.secret_name),
    keyType: json.key_type === 'RSA_2048' ? 'RSA_2048' : 'ECDSA_P256',
    renewBeforeMs: json.renew_before === undefined ? undefined : durationMs(json.renew_before),
    version,
  };
}

/** The Secret names AcmeCertificates of `group` produce in `group` (they satisfy references). */
export function producedSecrets(
  group: string,
  certificates: ReadonlyArray<{ readonly json: JsonObject }>,
): string[] {
  const out: string[] = [];
  for (const { json } of certificates) {
    const groups = stringList(json.groups);
    if (typeof json.secret_name !== 'string' || json.secret_name === '') continue;
    if (groups.length === 0 || groups.includes(group)) out.push(json.secret_name);
  }
  return out;
}

function str(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : '';
}

function stringList(value: JsonValue | undefined): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function domainProblem(domain: string): string | undefined {
  if (domain.includes('*')) return 'is a wildcard, which HTTP-01 cannot validate';
  if (domain !== domain.toLowerCase()) return 'must be lower case';
  if (domain.length > 253) return 'is longer than 253 characters';
  const labels = domain.split('.');
  if (labels.length < 2) return 'is not a fully qualified DNS name';
  if (!labels.every((l) => DNS_LABEL.test(l))) return 'is not a valid DNS name';
  if (/^[0-9.]+$/.test(domain)) return 'is an IP address; HTTP-01 names DNS names';
  return undefined;
}

function caBundleProblem(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) return 'no PEM certificate found';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return `certificate ${i + 1}: cannot parse: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** proto3 JSON Duration ("30s", "1.5s") → milliseconds. */
function durationMs(value: JsonValue | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * 1000 + Number(((m[2] ?? '') + '000').slice(0, 3));
}
