/**
 * The transport of ferry-proxy's streams to the control plane (ADS, HDS, LRS): the bootstrap xDS
 * cluster's `transport_socket`, as Envoy uses it for its xDS connection. An UpstreamTlsContext
 * gives TLS with
 * - `common_tls_context.tls_certificates[0]`: the client certificate and key (the proxy's
 *   identity, docs/architecture.md "Who may connect"), inline or from files;
 * - `common_tls_context.validation_context.trusted_ca`: the CA that signs the control plane's
 *   certificate; required here, because Envoy without it would not verify the control plane at
 *   all, which for the connection that carries every secret is never what an operator wants;
 * - `validation_context.match_typed_subject_alt_names` (or the deprecated
 *   `match_subject_alt_names`, matched against DNS, URI and IP SANs): the control plane's
 *   certificate must carry a matching SAN. Like Envoy, without matchers the host name is not
 *   checked, only the chain;
 * - `sni`: the server name sent (Envoy's default without it is none; grpc-js then sends the
 *   target host);
 * - `tls_params` protocol versions (TLS 1.2 minimum) and `alpn_protocols` (h2 only: gRPC).
 * Anything else in it (SDS references, cipher lists, session resumption, ...) refuses the
 * bootstrap with its field path: the control plane connection is never silently weaker.
 * Files are read once, when the bootstrap is loaded.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { TYPE_URL_PREFIX } from '@ferry/proto';
import { subjectAltNames } from '@ferry/shared';
import {
  asObject,
  checkFields,
  dataSource,
  enumField,
  Issues,
  join,
  messageSpec,
  objectsOf,
  str,
  strings,
  type JsonObject,
  type MessageSpec,
} from '../config/translate-common.js';
import { stringMatcher } from '../config/translate-matchers.js';
import type { StringMatcherModel } from '../config/model.js';
import { compileStringMatcher } from '../router/route-match.js';

const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW_BUFFER = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
const CONTEXT = 'bootstrap xDS cluster: the control plane connection';

const TRANSPORT_SOCKET_SPEC = messageSpec(
  'envoy.config.core.v3.TransportSocket',
  { name: 'label only', typed_config: 'UpstreamTlsContext (TLS) or RawBuffer (plaintext)' },
  CONTEXT,
);
const UPSTREAM_SPEC = messageSpec(
  UPSTREAM_TLS,
  {
    common_tls_context: 'client certificate, trusted CA, SAN matchers, versions',
    sni: 'server name sent (default: the target host)',
  },
  CONTEXT,
);
const COMMON_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext',
  {
    tls_certificates: "at most one: the proxy's client certificate",
    validation_context: 'trusted_ca (required), SAN matchers',
    tls_params: 'protocol versions',
    alpn_protocols: 'h2 only (gRPC)',
  },
  CONTEXT,
);
const CERTIFICATE_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.TlsCertificate',
  { certificate_chain: 'PEM chain (DataSource)', private_key: 'PEM key (DataSource)' },
  CONTEXT,
);
const VALIDATION_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext',
  {
    trusted_ca: "PEM CA bundle that signs the control plane's certificate (required)",
    match_typed_subject_alt_names: 'DNS, URI or IP_ADDRESS SAN matchers (any one must match)',
    match_subject_alt_names: 'deprecated form: matched against DNS, URI and IP SANs',
  },
  CONTEXT,
);
const SAN_MATCHER_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher',
  { san_type: 'DNS, URI or IP_ADDRESS', matcher: 'StringMatcher' },
  CONTEXT,
);
const TLS_PARAMS_SPEC = messageSpec(
  'envoy.extensions.transport_sockets.tls.v3.TlsParameters',
  {
    tls_minimum_protocol_version: 'TLS_AUTO, TLSv1_2 or TLSv1_3 (default TLSv1_2)',
    tls_maximum_protocol_version: 'TLS_AUTO, TLSv1_2 or TLSv1_3 (default TLSv1_2, as Envoy)',
  },
  CONTEXT,
);

export const XDS_TRANSPORT_SPECS: readonly MessageSpec[] = [
  TRANSPORT_SOCKET_SPEC,
  UPSTREAM_SPEC,
  COMMON_SPEC,
  CERTIFICATE_SPEC,
  VALIDATION_SPEC,
  SAN_MATCHER_SPEC,
  TLS_PARAMS_SPEC,
];

const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_2', 'TLSv1_3'] as const;
const NODE_VERSION = { TLS_AUTO: undefined, TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3' } as const;
/** Node's names for the SAN kinds Envoy's SubjectAltNameMatcher.SanType names. */
const SAN_TYPES = { DNS: 'DNS', URI: 'URI', IP_ADDRESS: 'IP Address' } as const;

export interface SanMatcherModel {
  /** Node's SAN kind; undefined = DNS, URI or IP (the deprecated untyped form). */
  readonly type: (typeof SAN_TYPES)[keyof typeof SAN_TYPES] | undefined;
  readonly matcher: StringMatcherModel;
}

/** The xDS cluster's TLS, read and checked; absent = plaintext. */
export interface XdsTlsModel {
  readonly sni: string;
  readonly certificateChainPem?: string;
  readonly privateKeyPem?: string;
  readonly trustedCaPem: string;
  readonly sanMatchers: readonly SanMatcherModel[];
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion: 'TLSv1.2' | 'TLSv1.3';
}

/**
 * The xDS cluster's transport_socket (`cluster` is its bootstrap JSON, `path` its field path):
 * undefined for plaintext (none, or RawBuffer); errors go to `issues`.
 */
export function xdsTlsModel(
  cluster: JsonObject,
  path: string,
  issues: Issues,
): XdsTlsModel | undefined {
  const socket = asObject(cluster.transport_socket);
  if (!socket) return undefined;
  const socketPath = join(path, 'transport_socket');
  checkFields(socket, TRANSPORT_SOCKET_SPEC, socketPath, issues);
  const typed = asObject(socket.typed_config);
  const typeUrl = str(typed?.['@type']);
  if (typeUrl === TYPE_URL_PREFIX + RAW_BUFFER) return undefined;
  const ctxPath = join(socketPath, 'typed_config');
  if (!typed || typeUrl !== TYPE_URL_PREFIX + UPSTREAM_TLS) {
    issues.add(
      ctxPath,
      `${typeUrl || 'missing typed_config'}: the xDS cluster takes an UpstreamTlsContext or RawBuffer`,
    );
    return undefined;
  }
  checkFields(typed, UPSTREAM_SPEC, ctxPath, issues);
  const commonPath = join(ctxPath, 'common_tls_context');
  const common = asObject(typed.common_tls_context) ?? {};
  checkFields(common, COMMON_SPEC, commonPath, issues);

  const alpn = strings(common.alpn_protocols);
  if (alpn.some((p) => p !== 'h2'))
    issues.add(join(commonPath, 'alpn_protocols'), 'the xDS connection is gRPC: h2 only');

  const certificates = objectsOf(common, 'tls_certificates', commonPath);
  let certificateChainPem: string | undefined;
  let privateKeyPem: string | undefined;
  if (certificates.length > 1)
    issues.add(join(commonPath, 'tls_certificates'), 'at most one client certificate');
  const [certificate] = certificates;
  if (certificate) {
    const [cert, certPath] = certificate;
    checkFields(cert, CERTIFICATE_SPEC, certPath, issues);
    certificateChainPem = dataSource(
      asObject(cert.certificate_chain),
      join(certPath, 'certificate_chain'),
      issues,
    );
    privateKeyPem = dataSource(asObject(cert.private_key), join(certPath, 'private_key'), issues);
    if (certificateChainPem === undefined && cert.certificate_chain === undefined)
      issues.add(join(certPath, 'certificate_chain'), 'required');
    if (privateKeyPem === undefined && cert.private_key === undefined)
      issues.add(join(certPath, 'private_key'), 'required');
    if (certificateChainPem !== undefined && privateKeyPem !== undefined)
      checkKeyPair(certificateChainPem, privateKeyPem, certPath, issues);
  }

  const validationPath = join(commonPath, 'validation_context');
  const validation = asObject(common.validation_context);
  let trustedCaPem: string | undefined;
  const sanMatchers: SanMatcherModel[] = [];
  if (validation) {
    checkFields(validation, VALIDATION_SPEC, validationPath, issues);
    const caPath = join(validationPath, 'trusted_ca');
    trustedCaPem = dataSource(asObject(validation.trusted_ca), caPath, issues);
    if (trustedCaPem !== undefined) {
      try {
        new X509Certificate(trustedCaPem);
      } catch (err) {
        issues.add(caPath, `not a PEM certificate: ${(err as Error).message}`);
      }
    }
    for (const [m, mPath] of objectsOf(
      validation,
      'match_typed_subject_alt_names',
      validationPath,
    )) {
      checkFields(m, SAN_MATCHER_SPEC, mPath, issues);
      const sanType = str(m.san_type);
      const type = SAN_TYPES[sanType as keyof typeof SAN_TYPES];
      if (!type)
        issues.add(
          join(mPath, 'san_type'),
          `${sanType || 'SAN_TYPE_UNSPECIFIED'} is not supported for the xDS cluster (DNS, URI or IP_ADDRESS)`,
        );
      const matcherJson = asObject(m.matcher);
      if (!matcherJson) {
        issues.add(join(mPath, 'matcher'), 'required');
        continue;
      }
      sanMatchers.push({
        type,
        matcher: stringMatcher(matcherJson, join(mPath, 'matcher'), issues),
      });
    }
    for (const [m, mPath] of objectsOf(validation, 'match_subject_alt_names', validationPath))
      sanMatchers.push({ type: undefined, matcher: stringMatcher(m, mPath, issues) });
  }
  if (validation?.trusted_ca === undefined)
    issues.add(
      join(validationPath, 'trusted_ca'),
      "required for the xDS cluster: without it the control plane's certificate would not be verified (set it to the CA that signs the control plane's certificate)",
    );

  const params = asObject(common.tls_params) ?? {};
  const paramsPath = join(commonPath, 'tls_params');
  checkFields(params, TLS_PARAMS_SPEC, paramsPath, issues);
  const min = enumField(
    params.tls_minimum_protocol_version,
    TLS_VERSIONS,
    'TLSv1_2',
    join(paramsPath, 'tls_minimum_protocol_version'),
    issues,
  );
  const max = enumField(
    params.tls_maximum_protocol_version,
    TLS_VERSIONS,
    'TLSv1_2',
    join(paramsPath, 'tls_maximum_protocol_version'),
    issues,
  );
  const minVersion = NODE_VERSION[min] ?? 'TLSv1.2';
  const maxVersion = NODE_VERSION[max] ?? 'TLSv1.2';
  if (minVersion > maxVersion)
    issues.add(
      paramsPath,
      `tls_minimum_protocol_version ${min} is above tls_maximum_protocol_version ${max}`,
    );

  if (trustedCaPem === undefined) return undefined;
  return {
    sni: str(typed.sni),
    ...(certificateChainPem !== undefined ? { certificateChainPem } : {}),
    ...(privateKeyPem !== undefined ? { privateKeyPem } : {}),
    trustedCaPem,
    sanMatchers,
    minVersion,
    maxVersion,
  };
}

/** Errors name the field, never the key material: private keys never appear in logs. */
function checkKeyPair(chain: string, key: string, path: string, issues: Issues): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(chain);
  } catch (err) {
    issues.add(join(path, 'certificate_chain'), `not a PEM certificate: ${(err as Error).message}`);
    return;
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key)))
      issues.add(join(path, 'private_key'), 'does not match certificate_chain');
  } catch {
    issues.add(join(path, 'private_key'), 'not a PEM private key');
  }
}

/** What the gRPC clients of ADS, HDS and LRS are created with. */
export interface XdsChannel {
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
}

/** Plaintext (no transport_socket), or TLS as the model says. */
export function xdsChannel(model: XdsTlsModel | undefined): XdsChannel {
  if (!model) return { credentials: credentials.createInsecure(), options: {} };
  const context = createSecureContext({
    ca: model.trustedCaPem,
    ...(model.certificateChainPem !== undefined ? { cert: model.certificateChainPem } : {}),
    ...(model.privateKeyPem !== undefined ? { key: model.privateKeyPem } : {}),
    minVersion: model.minVersion,
    maxVersion: model.maxVersion,
  });
  const matches = sanCheck(model.sanMatchers);
  return {
    credentials: credentials.createFromSecureContext(context, {
      // Replaces Node's host name check (Envoy checks SANs only when matchers are configured);
      // the chain is verified against trusted_ca either way.
      checkServerIdentity: (_host, cert) => matches(cert),
    }),
    options: model.sni ? { 'grpc.ssl_target_name_override': model.sni } : {},
  };
}

/** Envoy's rule: with matchers, at least one SAN of the certificate must match one of them. */
export function sanCheck(
  matchers: readonly SanMatcherModel[],
): (cert: PeerCertificate) => Error | undefined {
  if (matchers.length === 0) return () => undefined;
  const compiled = matchers.map((m) => ({ type: m.type, test: compileStringMatcher(m.matcher) }));
  return (cert) => {
    const names = subjectAltNames(cert.subjectaltname);
    const ok = names.some((n) =>
      compiled.some((m) =>
        m.type === undefined
          ? (n.type === 'DNS' || n.type === 'URI' || n.type === 'IP Address') && m.test(n.value)
          : n.type === m.type && m.test(n.value),
      ),
    );
    if (ok) return undefined;
    return new Error(
      `the control plane's certificate SANs (${cert.subjectaltname || 'none'}) match none of the xDS cluster's validation_context SAN matchers`,
    );
  };
}
