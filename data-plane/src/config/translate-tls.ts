/**
 * TransportSocket (DownstreamTlsContext on filter chains, UpstreamTlsContext on clusters, or
 * raw_buffer) → DownstreamTlsModel / UpstreamTlsModel. Certificates are inline or read from files
 * here; the PEM is parsed and the key checked against the certificate so that bad material is a
 * NACK, not a worker failing to listen. SDS references (tls_certificate_sds_secret_configs,
 * validation_context_sds_secret_config, combined_validation_context) are resolved through a
 * SecretResolver (translate-secret.ts): a secret not received yet leaves the context without it
 * and the resolver records it, so the listener or cluster warms (config/translate.ts).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import {
  DOWNSTREAM_VALIDATION_REASONS,
  DOWNSTREAM_VALIDATION_SPEC,
  UPSTREAM_VALIDATION_SPEC,
  cipherSuites,
  trustedCa,
  upstreamValidation,
  type UpstreamValidation,
} from './translate-tls-validation.js';
import {
  Issues,
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  dataSource,
  enumField,
  join,
  messageSpec,
  objectsOf,
  str,
  strings,
  type ExtensionSpec,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import type { DownstreamTlsModel, TlsCertificateModel, UpstreamTlsModel } from './model.js';

export const DOWNSTREAM_TLS_TYPE_URL =
  TYPE_URL_PREFIX + 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_TYPE_URL =
  TYPE_URL_PREFIX + 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const RAW_BUFFER_TYPE_URL =
  TYPE_URL_PREFIX + 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

/**
 * Resolves SdsSecretConfigs (translate-secret.ts's SecretScope). Each method returns undefined
 * when the secret cannot be used: its error is reported (bad reference, static secret unknown,
 * wrong kind of secret) or it is pending (not received over SDS yet; the scope records it).
 */
export interface SecretResolver {
  tlsCertificate(ref: JsonObject, path: string, issues: Issues): TlsCertificateModel | undefined;
  /** The secret's CertificateValidationContext as received (it is merged before translation). */
  validationContext(ref: JsonObject, path: string, issues: Issues): JsonObject | undefined;
}

/** Envoy's TlsParameters.TlsProtocol names ferry-proxy accepts (TLS 1.2 minimum). */
const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_2', 'TLSv1_3'] as const;
type TlsVersion = (typeof TLS_VERSIONS)[number];

const NODE_TLS_VERSION: Record<Exclude<TlsVersion, 'TLS_AUTO'>, string> = {
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

const TRANSPORT_SOCKET_SPEC = messageSpec('envoy.config.core.v3.TransportSocket', {
  name: 'label only',
  typed_config: 'DownstreamTlsContext (listeners), UpstreamTlsContext (clusters) or RawBuffer',
});

const DOWNSTREAM_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  {
    common_tls_context: 'certificates, ALPN, versions, ciphers, client CA',
    require_client_certificate:
      'mutual TLS: reject clients without a certificate signed by trusted_ca',
  },
);

const UPSTREAM_SPEC = messageSpec('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
  common_tls_context: 'ALPN, versions, ciphers, certificate validation, client certificate',
  sni: 'SNI sent to the upstream (else the endpoint hostname when not an IP; auto_sni overrides)',
});

const COMMON_SPEC = messageSpec('envoy.extensions.transport_sockets.tls.v3.CommonTlsContext', {
  tls_params: 'protocol versions and cipher suites',
  tls_certificates:
    'inline or file certificates (downstream: several, chosen by Node; upstream: one client certificate)',
  tls_certificate_sds_secret_configs:
    'certificates from Secrets: over ADS (sds_config: {ads: {}}) or static (name only); the listener or cluster warms until they arrive',
  validation_context:
    'upstream: trusted_ca, SAN matchers, certificate hash/SPKI pins; downstream: trusted_ca',
  validation_context_sds_secret_config: 'the validation context from a Secret (ADS or static)',
  combined_validation_context:
    'default_validation_context merged with the SDS one (as Envoy: the secret overrides what it sets)',
  alpn_protocols: 'ALPN list (e.g. h2, http/1.1)',
});

export const SDS_SECRET_CONFIG_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig',
  {
    name: 'secret name',
    sds_config: 'ads only (absent: a static secret of the bootstrap)',
  },
);

const COMBINED_VALIDATION_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext',
  {
    default_validation_context: 'the base validation context',
    validation_context_sds_secret_config: 'merged over the default (Envoy MergeFrom semantics)',
  },
);

const TLS_PARAMS_SPEC = messageSpec('envoy.extensions.transport_sockets.tls.v3.TlsParameters', {
  tls_minimum_protocol_version: `one of ${TLS_VERSIONS.join(', ')} (default TLSv1_2)`,
  tls_maximum_protocol_version: `one of ${TLS_VERSIONS.join(', ')} (default TLSv1_3 downstream, TLSv1_2 upstream, as Envoy)`,
  cipher_suites:
    'TLS 1.2 OpenSSL names, [A|B] groups flattened (default: ECDHE with AES-GCM / CHACHA20-POLY1305, as Envoy)',
});

const CERTIFICATE_SPEC = messageSpec('envoy.extensions.transport_sockets.tls.v3.TlsCertificate', {
  certificate_chain: 'PEM chain (DataSource)',
  private_key: 'PEM key (DataSource)',
  watched_directory:
    'in a Secret only: reload the files when this directory changes (symlink swap)',
});

const WATCHED_DIRECTORY_SPEC = messageSpec('envoy.config.core.v3.WatchedDirectory', {
  path: 'directory watched for moves (Kubernetes-style symlink swap)',
});

const RAW_BUFFER_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
  {},
);

export const TLS_SPECS: readonly MessageSpec[] = [
  TRANSPORT_SOCKET_SPEC,
  RAW_BUFFER_SPEC,
  DOWNSTREAM_SPEC,
  UPSTREAM_SPEC,
  COMMON_SPEC,
  SDS_SECRET_CONFIG_SPEC,
  COMBINED_VALIDATION_SPEC,
  TLS_PARAMS_SPEC,
  CERTIFICATE_SPEC,
  UPSTREAM_VALIDATION_SPEC,
  DOWNSTREAM_VALIDATION_SPEC,
  WATCHED_DIRECTORY_SPEC,
];

export const TLS_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'FilterChain transport_socket',
    typeUrl: DOWNSTREAM_TLS_TYPE_URL,
    names: ['envoy.transport_sockets.tls'],
    note: 'TLS termination with inline, file or SDS certificates',
  },
  {
    where: 'Cluster transport_socket',
    typeUrl: UPSTREAM_TLS_TYPE_URL,
    names: ['envoy.transport_sockets.tls'],
    note: 'TLS to upstreams: SNI, certificate verification (CA, SAN, pins), client certificate',
  },
  {
    where: 'FilterChain / Cluster transport_socket',
    typeUrl: RAW_BUFFER_TYPE_URL,
    names: ['envoy.transport_sockets.raw_buffer'],
    note: 'plaintext (the default)',
  },
];

/**
 * A transport_socket's TLS context object, or undefined for none/raw_buffer. `expected` is the
 * one TLS type valid at this place.
 */
function tlsContextOf(
  socket: JsonObject | undefined,
  expected: string,
  path: string,
  issues: Issues,
): JsonObject | undefined {
  if (!socket) return undefined;
  checkFields(socket, TRANSPORT_SOCKET_SPEC, path, issues);
  const typed = asObject(socket.typed_config);
  const typePath = join(path, 'typed_config');
  if (!typed) {
    issues.add(typePath, 'required: a typed_config naming the transport socket');
    return undefined;
  }
  const typeUrl = str(typed['@type']);
  if (typeUrl === RAW_BUFFER_TYPE_URL) {
    checkFields(typed, RAW_BUFFER_SPEC, typePath, issues);
    return undefined;
  }
  if (typeUrl !== expected) {
    issues.add(
      typePath,
      `${typeUrl.slice(typeUrl.lastIndexOf('/') + 1)} is ${NOT_SUPPORTED} here (supported: ${expected.slice(TYPE_URL_PREFIX.length)}, ${RAW_BUFFER_TYPE_URL.slice(TYPE_URL_PREFIX.length)})`,
    );
    return undefined;
  }
  return typed;
}

export function translateDownstreamTls(
  socket: JsonObject | undefined,
  path: string,
  issues: Issues,
  secrets?: SecretResolver,
): DownstreamTlsModel | undefined {
  const ctx = tlsContextOf(socket, DOWNSTREAM_TLS_TYPE_URL, path, issues);
  if (!ctx) return undefined;
  const ctxPath = join(path, 'typed_config');
  checkFields(ctx, DOWNSTREAM_SPEC, ctxPath, issues);
  const common = commonContext(ctx, ctxPath, issues, 'downstream', secrets);
  const requireClientCertificate = bool(ctx.require_client_certificate, false);
  // Only when none were given: a broken one has its own error already.
  if (!common.certificatesGiven)
    issues.add(
      join(join(ctxPath, 'common_tls_context'), 'tls_certificates'),
      'a TLS listener needs at least one certificate',
    );
  // A trusted_ca left unread (host access 'skip') cannot be judged missing.
  if (
    requireClientCertificate &&
    common.trustedCaPem === undefined &&
    !common.validationPending &&
    issues.unchecked.length === 0
  )
    issues.add(
      join(ctxPath, 'require_client_certificate'),
      'needs a trusted_ca (common_tls_context.validation_context, or one from SDS) to verify client certificates',
    );
  return {
    certificates: common.certificates,
    alpnProtocols: common.alpnProtocols,
    minVersion: common.minVersion,
    maxVersion: common.maxVersion,
    cipherSuites: common.cipherSuites,
    requireClientCertificate,
    ...(common.trustedCaPem !== undefined ? { trustedCaPem: common.trustedCaPem } : {}),
    ...(common.trustedCaPath !== undefined ? { trustedCaPath: common.trustedCaPath } : {}),
  };
}

export function translateUpstreamTls(
  socket: JsonObject | undefined,
  path: string,
  issues: Issues,
  secrets?: SecretResolver,
): UpstreamTlsModel | undefined {
  const ctx = tlsContextOf(socket, UPSTREAM_TLS_TYPE_URL, path, issues);
  if (!ctx) return undefined;
  const ctxPath = join(path, 'typed_config');
  checkFields(ctx, UPSTREAM_SPEC, ctxPath, issues);
  const common = commonContext(ctx, ctxPath, issues, 'upstream', secrets);
  if (common.certificates.length > 1)
    issues.add(
      join(join(ctxPath, 'common_tls_context'), 'tls_certificates'),
      'an upstream TLS context takes at most one client certificate',
    );
  const certificate = common.certificates[0];
  const validation = common.upstreamValidation;
  return {
    sni: str(ctx.sni),
    alpnProtocols: common.alpnProtocols,
    minVersion: common.minVersion,
    maxVersion: common.maxVersion,
    cipherSuites: common.cipherSuites,
    ...(common.trustedCaPem !== undefined ? { trustedCaPem: common.trustedCaPem } : {}),
    ...(common.trustedCaPath !== undefined ? { trustedCaPath: common.trustedCaPath } : {}),
    ...(certificate ? { certificate } : {}),
    sanMatchers: validation?.sanMatchers ?? [],
    certificateHashes: validation?.certificateHashes ?? [],
    spkiHashes: validation?.spkiHashes ?? [],
  };
}

interface CommonTls {
  certificates: TlsCertificateModel[];
  certificatesGiven: boolean;
  alpnProtocols: string[];
  minVersion: string;
  maxVersion: string;
  cipherSuites: string[];
  trustedCaPem?: string;
  trustedCaPath?: string;
  /** Upstream only: what the validation context asks to check. */
  upstreamValidation?: UpstreamValidation;
  /**
   * The validation context is an SDS secret not usable yet (pending, or with errors reported
   * under its own name): what it lacks is not this context's error.
   */
  validationPending: boolean;
}

function commonContext(
  ctx: JsonObject,
  ctxPath: string,
  issues: Issues,
  side: 'downstream' | 'upstream',
  secrets: SecretResolver | undefined,
): CommonTls {
  // Envoy's default maximum: TLS 1.3 for servers, TLS 1.2 for clients.
  const defaultMax = side === 'downstream' ? 'TLSv1_3' : 'TLSv1_2';
  const path = join(ctxPath, 'common_tls_context');
  const common = asObject(ctx.common_tls_context) ?? {};
  checkFields(common, COMMON_SPEC, path, issues);

  const paramsPath = join(path, 'tls_params');
  const params = asObject(common.tls_params) ?? {};
  checkFields(params, TLS_PARAMS_SPEC, paramsPath, issues);
  const min = enumField(
    params.tls_minimum_protocol_version,
    TLS_VERSIONS,
    'TLS_AUTO',
    join(paramsPath, 'tls_minimum_protocol_version'),
    issues,
  );
  const max = enumField(
    params.tls_maximum_protocol_version,
    TLS_VERSIONS,
    'TLS_AUTO',
    join(paramsPath, 'tls_maximum_protocol_version'),
    issues,
  );
  const minVersion = NODE_TLS_VERSION[min === 'TLS_AUTO' ? 'TLSv1_2' : min];
  const maxVersion = NODE_TLS_VERSION[max === 'TLS_AUTO' ? defaultMax : max];
  if (minVersion > maxVersion)
    issues.add(
      paramsPath,
      `tls_minimum_protocol_version ${minVersion} is above the maximum ${maxVersion}`,
    );

  const certificates: TlsCertificateModel[] = [];
  for (const [cert, certPath] of objectsOf(common, 'tls_certificates', path)) {
    const model = translateTlsCertificate(cert, certPath, issues, false);
    if (model) certificates.push(model);
  }
  for (const [ref, refPath] of objectsOf(common, 'tls_certificate_sds_secret_configs', path)) {
    const model = resolver(secrets, refPath, issues)?.tlsCertificate(ref, refPath, issues);
    if (model) certificates.push(model);
  }

  const validation = validationOf(common, path, issues, secrets, side);
  return {
    certificates,
    certificatesGiven:
      Array.isArray(common.tls_certificates) ||
      Array.isArray(common.tls_certificate_sds_secret_configs),
    alpnProtocols: strings(common.alpn_protocols),
    minVersion,
    maxVersion,
    cipherSuites: cipherSuites(params, paramsPath, issues),
    ...(validation.trustedCaPem !== undefined ? { trustedCaPem: validation.trustedCaPem } : {}),
    ...(validation.trustedCaPath !== undefined ? { trustedCaPath: validation.trustedCaPath } : {}),
    ...(validation.upstream ? { upstreamValidation: validation.upstream } : {}),
    validationPending: validation.pending,
  };
}

function resolver(
  secrets: SecretResolver | undefined,
  path: string,
  issues: Issues,
): SecretResolver | undefined {
  if (!secrets) issues.add(path, 'SDS secrets cannot be referenced here');
  return secrets;
}

/** Which side a validation context checks: a Secret's may serve either, so it is checked for both. */
type ValidationSide = 'downstream' | 'upstream' | 'secret';

interface ValidationModel {
  trustedCaPem?: string;
  trustedCaPath?: string;
  /** Upstream only: what the validation context asks to check. */
  upstream?: UpstreamValidation;
  /** It names an SDS secret that cannot be used yet. */
  pending: boolean;
}

/**
 * validation_context, validation_context_sds_secret_config or combined_validation_context (one
 * of them, a oneof in Envoy). The combined form merges the secret over the default as Envoy
 * does (protobuf MergeFrom: a field the secret sets replaces the default's, repeated fields are
 * concatenated).
 */
function validationOf(
  common: JsonObject,
  path: string,
  issues: Issues,
  secrets: SecretResolver | undefined,
  side: 'downstream' | 'upstream',
): ValidationModel {
  const inline = asObject(common.validation_context);
  if (inline)
    return translateValidationContext(
      inline,
      join(path, 'validation_context'),
      issues,
      false,
      side,
    );
  const sdsRef = asObject(common.validation_context_sds_secret_config);
  if (sdsRef) {
    const refPath = join(path, 'validation_context_sds_secret_config');
    const json = resolver(secrets, refPath, issues)?.validationContext(sdsRef, refPath, issues);
    if (!json) return { pending: true };
    // The secret was checked under its own name for what either side accepts; what this side
    // does not accept (client SAN matching downstream, say) is this reference's error.
    const sideIssues = issues.scratch();
    const model = translateValidationContext(json, refPath, sideIssues, true, side);
    for (const e of sideIssues.errors)
      issues.add(refPath, `Secret "${str(sdsRef.name)}" cannot be used here: ${e}`);
    issues.unchecked.push(...sideIssues.unchecked);
    return model;
  }
  const combined = asObject(common.combined_validation_context);
  if (!combined) return { pending: false };
  const cPath = join(path, 'combined_validation_context');
  checkFields(combined, COMBINED_VALIDATION_SPEC, cPath, issues);
  const defaults = asObject(combined.default_validation_context) ?? {};
  const dPath = join(cPath, 'default_validation_context');
  translateValidationContext(defaults, dPath, issues, false, side);
  const ref = asObject(combined.validation_context_sds_secret_config);
  const refPath = join(cPath, 'validation_context_sds_secret_config');
  if (!ref) {
    issues.add(refPath, 'required');
    return { pending: false };
  }
  const dynamic = resolver(secrets, refPath, issues)?.validationContext(ref, refPath, issues);
  if (!dynamic) return { pending: true };
  const merged = mergeMessage(defaults, dynamic);
  const mergedIssues = issues.scratch();
  const model = translateValidationContext(merged, cPath, mergedIssues, true, side);
  // Each part was checked on its own; what remains is what only the merge got wrong.
  if (issues.ok)
    for (const e of mergedIssues.errors) issues.add(cPath, `merged with the secret: ${e}`);
  issues.unchecked.push(...mergedIssues.unchecked);
  return model;
}

/** protobuf MergeFrom over normalised JSON: set fields replace, repeated fields append. */
export function mergeMessage(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const previous = out[key];
    out[key] = Array.isArray(value) && Array.isArray(previous) ? [...previous, ...value] : value;
  }
  return out;
}

/**
 * A TlsCertificate: chain and key read (inline, file or environment), parsed, and checked to
 * match. `inSecret`: it is a Secret's, where watched_directory is allowed.
 */
export function translateTlsCertificate(
  cert: JsonObject,
  certPath: string,
  issues: Issues,
  inSecret: boolean,
): TlsCertificateModel | undefined {
  checkFields(cert, CERTIFICATE_SPEC, certPath, issues);
  watchedDirectory(cert, certPath, issues, inSecret);
  const chainSource = asObject(cert.certificate_chain);
  const chain = dataSource(chainSource, join(certPath, 'certificate_chain'), issues);
  const key = dataSource(asObject(cert.private_key), join(certPath, 'private_key'), issues);
  if (chain === undefined || key === undefined) {
    if (chain === undefined && cert.certificate_chain === undefined)
      issues.add(join(certPath, 'certificate_chain'), 'required');
    if (key === undefined && cert.private_key === undefined)
      issues.add(join(certPath, 'private_key'), 'required');
    return undefined;
  }
  // Errors name the field, never the key material: private keys never appear in logs.
  if (!checkCertificate(chain, key, certPath, issues)) return undefined;
  const file = chainSource?.filename;
  return {
    certificateChainPem: chain,
    privateKeyPem: key,
    ...(typeof file === 'string' ? { certificateChainPath: file } : {}),
  };
}

/**
 * A CertificateValidationContext: downstream trusted_ca only; upstream (and a Secret's, which
 * may serve either side) also SAN matchers and pins (translate-tls-validation.ts). `inSecret` as
 * for translateTlsCertificate.
 */
export function translateValidationContext(
  validation: JsonObject,
  vPath: string,
  issues: Issues,
  inSecret: boolean,
  side: ValidationSide,
): ValidationModel {
  watchedDirectory(validation, vPath, issues, inSecret);
  const file = asObject(validation.trusted_ca)?.filename;
  const trustedCaPath = typeof file === 'string' ? file : undefined;
  if (side === 'downstream') {
    checkFields(
      validation,
      DOWNSTREAM_VALIDATION_SPEC,
      vPath,
      issues,
      DOWNSTREAM_VALIDATION_REASONS,
    );
    const trustedCaPem = trustedCa(validation, vPath, issues);
    return {
      ...(trustedCaPem !== undefined ? { trustedCaPem } : {}),
      ...(trustedCaPath !== undefined ? { trustedCaPath } : {}),
      pending: false,
    };
  }
  const upstream = upstreamValidation(validation, vPath, issues);
  return {
    ...(upstream.trustedCaPem !== undefined ? { trustedCaPem: upstream.trustedCaPem } : {}),
    ...(trustedCaPath !== undefined ? { trustedCaPath } : {}),
    upstream,
    pending: false,
  };
}

/** watched_directory.path of a TlsCertificate or CertificateValidationContext, checked. */
export function watchedDirectory(
  obj: JsonObject,
  path: string,
  issues: Issues,
  inSecret: boolean,
): string | undefined {
  const watched = asObject(obj.watched_directory);
  if (!watched) return undefined;
  const wPath = join(path, 'watched_directory');
  if (!inSecret) {
    issues.add(wPath, 'only in an SDS Secret (static_resources.secrets or over ADS)');
    return undefined;
  }
  checkFields(watched, WATCHED_DIRECTORY_SPEC, wPath, issues);
  const dir = str(watched.path);
  if (dir === '') issues.add(join(wPath, 'path'), 'required');
  return dir || undefined;
}

function checkCertificate(chain: string, key: string, path: string, issues: Issues): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(chain);
  } catch (err) {
    issues.add(join(path, 'certificate_chain'), `not a PEM certificate: ${(err as Error).message}`);
    return false;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(key))) {
      issues.add(join(path, 'private_key'), 'does not match the certificate');
      return false;
    }
  } catch (err) {
    issues.add(join(path, 'private_key'), `not a PEM private key: ${(err as Error).message}`);
    return false;
  }
  return true;
}
