/**
 * CertificateValidationContext of an UpstreamTlsContext → what the upstream connection checks
 * (upstream/upstream-tls.ts): trusted_ca, match_typed_subject_alt_names (and the deprecated
 * match_subject_alt_names), verify_certificate_hash and verify_certificate_spki, as Envoy's
 * default certificate validator applies them. The downstream side accepts trusted_ca only.
 */
import { X509Certificate } from 'node:crypto';
import { getCiphers } from 'node:tls';
import {
  asObject,
  checkFields,
  dataSource,
  enumField,
  join,
  messageSpec,
  objectsOf,
  strings,
  type Issues,
  type JsonObject,
} from './translate-common.js';
import { stringMatcher } from './translate-matchers.js';
import type { SanMatcherModel, SanType, StringMatcherModel } from './model.js';

export const UPSTREAM_VALIDATION_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext',
  {
    trusted_ca: 'PEM CA bundle (DataSource): the upstream chain must verify against it',
    match_typed_subject_alt_names:
      'the certificate must carry a SAN of the given type matching one matcher (DNS, URI, EMAIL, IP_ADDRESS)',
    match_subject_alt_names:
      'deprecated: a SAN of any of the types DNS, URI, EMAIL, IP_ADDRESS must match one matcher',
    verify_certificate_hash: 'hex SHA-256 of the DER certificate (colons allowed)',
    verify_certificate_spki: 'base64 SHA-256 of the DER SubjectPublicKeyInfo',
    watched_directory:
      'in a Secret only: reload the files when this directory changes (symlink swap)',
  },
  'upstream',
);

export const DOWNSTREAM_VALIDATION_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext',
  {
    trusted_ca: 'PEM CA bundle (DataSource) for client certificates',
    watched_directory:
      'in a Secret only: reload the files when this directory changes (symlink swap)',
  },
  'downstream',
);

const SAN_MATCHER_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher',
  {
    san_type: 'DNS, URI, EMAIL or IP_ADDRESS (OTHER_NAME is not supported)',
    matcher: 'StringMatcher; exact on a DNS SAN follows DNS wildcard rules (*.example.com)',
  },
);

/** Why a downstream validation context refuses the upstream-only fields. */
export const DOWNSTREAM_VALIDATION_REASONS: Readonly<Record<string, string>> = {
  match_typed_subject_alt_names:
    'client certificate SAN matching is not supported by ferry-proxy (upstream TLS only)',
  match_subject_alt_names:
    'client certificate SAN matching is not supported by ferry-proxy (upstream TLS only)',
  verify_certificate_hash:
    'client certificate pinning is not supported by ferry-proxy (upstream TLS only)',
  verify_certificate_spki:
    'client certificate pinning is not supported by ferry-proxy (upstream TLS only)',
};

const SAN_TYPES = ['SAN_TYPE_UNSPECIFIED', 'DNS', 'URI', 'EMAIL', 'IP_ADDRESS', 'OTHER_NAME'];

/** The deprecated untyped matchers apply to every SAN type Envoy expands them to. */
const UNTYPED_SAN_TYPES: readonly SanType[] = ['DNS', 'URI', 'EMAIL', 'IP_ADDRESS'];

export interface UpstreamValidation {
  trustedCaPem?: string;
  sanMatchers: SanMatcherModel[];
  certificateHashes: string[];
  spkiHashes: string[];
}

/** `validation` is the CertificateValidationContext object at `path`. */
export function upstreamValidation(
  validation: JsonObject,
  path: string,
  issues: Issues,
): UpstreamValidation {
  checkFields(validation, UPSTREAM_VALIDATION_SPEC, path, issues);
  const trustedCaPem = trustedCa(validation, path, issues);
  const sanMatchers: SanMatcherModel[] = [];
  const typed = objectsOf(validation, 'match_typed_subject_alt_names', path);
  for (const [obj, matcherPath] of typed) {
    checkFields(obj, SAN_MATCHER_SPEC, matcherPath, issues);
    const sanType = enumField(
      obj.san_type,
      SAN_TYPES,
      'SAN_TYPE_UNSPECIFIED',
      join(matcherPath, 'san_type'),
      issues,
    );
    const matcher = matcherOf(obj, matcherPath, issues);
    if (sanType === 'SAN_TYPE_UNSPECIFIED' || sanType === 'OTHER_NAME') {
      issues.add(
        join(matcherPath, 'san_type'),
        sanType === 'OTHER_NAME'
          ? 'OTHER_NAME SANs are not supported by ferry-proxy (use DNS, URI, EMAIL or IP_ADDRESS)'
          : 'required: one of DNS, URI, EMAIL, IP_ADDRESS',
      );
      continue;
    }
    if (matcher) sanMatchers.push({ sanType: sanType as SanType, matcher });
  }
  const untyped = objectsOf(validation, 'match_subject_alt_names', path);
  if (typed.length > 0 && untyped.length > 0) {
    // Envoy ignores the deprecated list then; refusing makes the conflict visible instead.
    issues.add(
      join(path, 'match_subject_alt_names'),
      'set either match_typed_subject_alt_names or the deprecated match_subject_alt_names, not both',
    );
  } else {
    for (const [obj, matcherPath] of untyped) {
      const matcher = stringMatcher(obj, matcherPath, issues);
      for (const sanType of UNTYPED_SAN_TYPES) sanMatchers.push({ sanType, matcher });
    }
  }
  return {
    ...(trustedCaPem !== undefined ? { trustedCaPem } : {}),
    sanMatchers,
    certificateHashes: certificateHashes(validation, path, issues),
    spkiHashes: spkiHashes(validation, path, issues),
  };
}

/** trusted_ca, checked to hold at least one PEM certificate. */
export function trustedCa(
  validation: JsonObject,
  path: string,
  issues: Issues,
): string | undefined {
  const caPath = join(path, 'trusted_ca');
  const pem = dataSource(asObject(validation.trusted_ca), caPath, issues);
  if (pem === undefined) return undefined;
  try {
    new X509Certificate(pem);
  } catch (err) {
    issues.add(caPath, `not a PEM certificate: ${(err as Error).message}`);
    return undefined;
  }
  return pem;
}

function matcherOf(obj: JsonObject, path: string, issues: Issues): StringMatcherModel | undefined {
  const matcher = asObject(obj.matcher);
  if (!matcher) {
    issues.add(join(path, 'matcher'), 'required: a StringMatcher');
    return undefined;
  }
  return stringMatcher(matcher, join(path, 'matcher'), issues);
}

function certificateHashes(validation: JsonObject, path: string, issues: Issues): string[] {
  const result: string[] = [];
  strings(validation.verify_certificate_hash).forEach((value, i) => {
    // Envoy accepts the 95-character colon-separated fingerprint form as well.
    const hex = (value.length === 95 ? value.replaceAll(':', '') : value).toLowerCase();
    if (/^[0-9a-f]{64}$/.test(hex)) result.push(hex);
    else
      issues.add(
        join(join(path, 'verify_certificate_hash'), i),
        'not a hex-encoded SHA-256 (64 hex digits, optionally colon-separated)',
      );
  });
  return result;
}

function spkiHashes(validation: JsonObject, path: string, issues: Issues): string[] {
  const result: string[] = [];
  strings(validation.verify_certificate_spki).forEach((value, i) => {
    const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? Buffer.from(value, 'base64') : undefined;
    if (bytes?.length === 32) result.push(bytes.toString('base64'));
    else
      issues.add(
        join(join(path, 'verify_certificate_spki'), i),
        'not a base64-encoded SHA-256 (32 bytes)',
      );
  });
  return result;
}

/** OpenSSL's TLS 1.2 cipher names this Node knows (lowercase), for validating cipher_suites. */
let knownCiphers: ReadonlySet<string> | undefined;

/**
 * TlsParameters.cipher_suites → OpenSSL names in preference order. Envoy's equal-preference
 * groups (`[A|B]`) are flattened in their written order (OpenSSL has no such groups). Names must
 * be TLS 1.2 suites OpenSSL knows: TLS 1.3 suites are not configurable in Envoy either.
 */
export function cipherSuites(params: JsonObject, path: string, issues: Issues): string[] {
  knownCiphers ??= new Set(getCiphers());
  const result: string[] = [];
  strings(params.cipher_suites).forEach((entry, i) => {
    const names = entry.replace(/^\[(.*)\]$/, '$1').split('|');
    for (const name of names) {
      const lower = name.toLowerCase();
      if (name !== '' && knownCiphers!.has(lower) && !lower.startsWith('tls_')) result.push(name);
      else
        issues.add(
          join(join(path, 'cipher_suites'), i),
          lower.startsWith('tls_')
            ? `${name} is a TLS 1.3 suite: TLS 1.3 suites are not configurable (all are AEAD)`
            : `${JSON.stringify(name)} is not a TLS 1.2 cipher suite OpenSSL knows (e.g. ECDHE-RSA-AES128-GCM-SHA256)`,
        );
    }
  });
  return result;
}
