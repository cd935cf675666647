/**
 * TransportSocket (DownstreamTlsContext on filter chains, UpstreamTlsContext on clusters, or
 * raw_buffer) → DownstreamTlsModel / UpstreamTlsModel. Certificates are inline or read from files
 * here; the PEM is parsed and the key checked against the certificate so that bad material is a
 * NACK, not a worker failing to listen. SDS comes in a later issue and is refused by name.
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
  type Issues,
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

export const SDS_NOT_SUPPORTED = 'SDS secrets are not supported yet by ferry-proxy';

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
  validation_context:
    'upstream: trusted_ca, SAN matchers, certificate hash/SPKI pins; downstream: trusted_ca',
  alpn_protocols: 'ALPN list (e.g. h2, http/1.1)',
});

const SDS_FIELDS: Readonly<Record<string, string>> = {
  tls_certificate_sds_secret_configs: SDS_NOT_SUPPORTED,
  validation_context_sds_secret_config: SDS_NOT_SUPPORTED,
};

const TLS_PARAMS_SPEC = messageSpec('envoy.extensions.transport_sockets.tls.v3.TlsParameters', {
  tls_minimum_protocol_version: `one of ${TLS_VERSIONS.join(', ')} (default TLSv1_2)`,
  tls_maximum_protocol_version: `one of ${TLS_VERSIONS.join(', ')} (default TLSv1_3 downstream, TLSv1_2 upstream, as Envoy)`,
  cipher_suites:
    'TLS 1.2 OpenSSL names, [A|B] groups flattened (default: ECDHE with AES-GCM / CHACHA20-POLY1305, as Envoy)',
});

const CERTIFICATE_SPEC = messageSpec('envoy.extensions.transport_sockets.tls.v3.TlsCertificate', {
  certificate_chain: 'PEM chain (DataSource)',
  private_key: 'PEM key (DataSource)',
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
  TLS_PARAMS_SPEC,
  CERTIFICATE_SPEC,
  UPSTREAM_VALIDATION_SPEC,
  DOWNSTREAM_VALIDATION_SPEC,
];

export const TLS_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'FilterChain transport_socket',
    typeUrl: DOWNSTREAM_TLS_TYPE_URL,
    names: ['envoy.transport_sockets.tls'],
    note: 'TLS termination with inline/file certificates',
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
): DownstreamTlsModel | undefined {
  const ctx = tlsContextOf(socket, DOWNSTREAM_TLS_TYPE_URL, path, issues);
  if (!ctx) return undefined;
  const ctxPath = join(path, 'typed_config');
  checkFields(ctx, DOWNSTREAM_SPEC, ctxPath, issues);
  const common = commonContext(ctx, ctxPath, issues, 'downstream');
  const requireClientCertificate = bool(ctx.require_client_certificate, false);
  // Only when none were given: a broken one has its own error already.
  if (!common.certificatesGiven)
    issues.add(
      join(join(ctxPath, 'common_tls_context'), 'tls_certificates'),
      'a TLS listener needs at least one certificate',
    );
  if (requireClientCertificate && common.trustedCaPem === undefined)
    issues.add(
      join(ctxPath, 'require_client_certificate'),
      'needs common_tls_context.validation_context.trusted_ca to verify client certificates',
    );
  return {
    certificates: common.certificates,
    alpnProtocols: common.alpnProtocols,
    minVersion: common.minVersion,
    maxVersion: common.maxVersion,
    cipherSuites: common.cipherSuites,
    requireClientCertificate,
    ...(common.trustedCaPem !== undefined ? { trustedCaPem: common.trustedCaPem } : {}),
  };
}

export function translateUpstreamTls(
  socket: JsonObject | undefined,
  path: string,
  issues: Issues,
): UpstreamTlsModel | undefined {
  const ctx = tlsContextOf(socket, UPSTREAM_TLS_TYPE_URL, path, issues);
  if (!ctx) return undefined;
  const ctxPath = join(path, 'typed_config');
  checkFields(ctx, UPSTREAM_SPEC, ctxPath, issues);
  const common = commonContext(ctx, ctxPath, issues, 'upstream');
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
  /** Upstream only: what the validation context asks to check. */
  upstreamValidation?: UpstreamValidation;
}

function commonContext(
  ctx: JsonObject,
  ctxPath: string,
  issues: Issues,
  side: 'downstream' | 'upstream',
): CommonTls {
  // Envoy's default maximum: TLS 1.3 for servers, TLS 1.2 for clients.
  const defaultMax = side === 'downstream' ? 'TLSv1_3' : 'TLSv1_2';
  const path = join(ctxPath, 'common_tls_context');
  const common = asObject(ctx.common_tls_context) ?? {};
  checkFields(common, COMMON_SPEC, path, issues, SDS_FIELDS);

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
    checkFields(cert, CERTIFICATE_SPEC, certPath, issues);
    const chain = dataSource(
      asObject(cert.certificate_chain),
      join(certPath, 'certificate_chain'),
      issues,
    );
    const key = dataSource(asObject(cert.private_key), join(certPath, 'private_key'), issues);
    if (chain === undefined || key === undefined) {
      if (chain === undefined && cert.certificate_chain === undefined)
        issues.add(join(certPath, 'certificate_chain'), 'required');
      if (key === undefined && cert.private_key === undefined)
        issues.add(join(certPath, 'private_key'), 'required');
      continue;
    }
    // Errors name the field, never the key material: private keys never appear in logs.
    if (checkCertificate(chain, key, certPath, issues))
      certificates.push({ certificateChainPem: chain, privateKeyPem: key });
  }

  let trustedCaPem: string | undefined;
  let upstream: UpstreamValidation | undefined;
  const validation = asObject(common.validation_context);
  if (validation) {
    const vPath = join(path, 'validation_context');
    if (side === 'upstream') {
      upstream = upstreamValidation(validation, vPath, issues);
      trustedCaPem = upstream.trustedCaPem;
    } else {
      checkFields(
        validation,
        DOWNSTREAM_VALIDATION_SPEC,
        vPath,
        issues,
        DOWNSTREAM_VALIDATION_REASONS,
      );
      trustedCaPem = trustedCa(validation, vPath, issues);
    }
  }
  return {
    certificates,
    certificatesGiven: Array.isArray(common.tls_certificates),
    alpnProtocols: strings(common.alpn_protocols),
    minVersion,
    maxVersion,
    cipherSuites: cipherSuites(params, paramsPath, issues),
    ...(trustedCaPem !== undefined ? { trustedCaPem } : {}),
    ...(upstream ? { upstreamValidation: upstream } : {}),
  };
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
