/**
 * Upstream TLS connections as Envoy's UpstreamTlsContext makes them: TLS 1.2 minimum and
 * Envoy's default suites and curves unless tls_params say otherwise, the client certificate,
 * SNI, and verification of the peer by Envoy's default certificate validator rules:
 *
 * - nothing configured to verify (no trusted_ca, no SAN matcher, no pinned hash): the peer is
 *   not verified at all (Envoy's behaviour without a validation context, kept as is);
 * - trusted_ca: the chain must verify against it (and only it);
 * - SAN matchers: some SAN must match (upstream-san.ts); with auto_san_validation the name taken
 *   from the request replaces them;
 * - verify_certificate_hash / verify_certificate_spki: the certificate or its key must be one of
 *   the pins (either list may match).
 *
 * A connection is handed to its user only after these checks pass; a failure destroys it with an
 * ERR_SSL_CERTIFICATE_VERIFY_FAILED error, which the request path reports as a connect failure
 * (503 UF, as Envoy).
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { UpstreamTlsModel } from '../config/model.js';
import { DEFAULT_CIPHERS, DEFAULT_ECDH_CURVES, TLS13_CIPHERS } from '../http/tls-contexts.js';
import { SanMatcher, matchesAnySan, parseSubjectAltNames, sanListMatches } from './upstream-san.js';

/** Code of the error a failed certificate check destroys the connection with. */
export const CERT_VERIFY_FAILED = 'ERR_SSL_CERTIFICATE_VERIFY_FAILED';

/** Names of one upstream connection: SNI and (auto_san_validation) the SAN it must carry. */
export interface UpstreamTlsTarget {
  readonly policy: UpstreamTlsPolicy;
  readonly servername: string | undefined;
  /** auto_san_validation: the certificate must carry this name (replaces the SAN matchers). */
  readonly sanName: string | undefined;
}

function tlsVersion(version: string): 'TLSv1.2' | 'TLSv1.3' | undefined {
  return version === 'TLSv1.2' || version === 'TLSv1.3' ? version : undefined;
}

/** SNI can only carry a DNS name, never an IP address (RFC 6066). */
export function sniName(name: string): string | undefined {
  return name !== '' && isIP(name) === 0 ? name : undefined;
}

export class UpstreamTlsPolicy {
  /** Whether the peer is checked at all (see the module comment). */
  readonly verifies: boolean;
  readonly #model: UpstreamTlsModel;
  readonly #options: tls.ConnectionOptions;
  readonly #matchers: readonly SanMatcher[];

  constructor(model: UpstreamTlsModel) {
    this.#model = model;
    this.#matchers = model.sanMatchers.map((m) => new SanMatcher(m));
    this.verifies =
      model.trustedCaPem !== undefined ||
      this.#matchers.length > 0 ||
      model.certificateHashes.length > 0 ||
      model.spkiHashes.length > 0;
    // Node's own checks are off: `verify` applies Envoy's rules once the handshake is done.
    this.#options = {
      ...upstreamSecureContextOptions(model),
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    };
  }

  get alpnProtocols(): readonly string[] {
    return this.#model.alpnProtocols;
  }

  /** The configured `sni`, else the endpoint's hostname when it is a DNS name. */
  defaultServername(hostname: string): string | undefined {
    return sniName(this.#model.sni !== '' ? this.#model.sni : hostname);
  }

  /** tls.connect options (without host, port and ALPN) for a connection named `servername`. */
  connectOptions(servername: string | undefined): tls.ConnectionOptions {
    return servername === undefined ? { ...this.#options } : { ...this.#options, servername };
  }

  /** The reason the connected peer fails the checks, or undefined when it passes. */
  verify(socket: tls.TLSSocket, sanName: string | undefined): Error | undefined {
    if (!this.verifies) return undefined;
    return this.verifyCertificate(socket.getPeerX509Certificate(), socket.authorized, sanName);
  }

  /**
   * The checks on a peer certificate; `chainTrusted` says whether TLS verified its chain against
   * trusted_ca (only consulted when there is one).
   */
  verifyCertificate(
    cert: X509Certificate | undefined,
    chainTrusted: boolean,
    sanName: string | undefined,
  ): Error | undefined {
    const reason = this.certificateFailure(cert, chainTrusted, sanName);
    return reason === undefined ? undefined : verifyError(reason);
  }

  /** Why the certificate fails the checks (see verifyCertificate), or undefined when it passes. */
  certificateFailure(
    cert: X509Certificate | undefined,
    chainTrusted: boolean,
    sanName: string | undefined,
  ): string | undefined {
    if (!this.verifies) return undefined;
    const model = this.#model;
    if (model.trustedCaPem !== undefined && !chainTrusted)
      return 'the certificate chain is not signed by trusted_ca';
    if (cert === undefined) return 'the upstream presented no certificate';
    if (sanName !== undefined || this.#matchers.length > 0) {
      const sans = parseSubjectAltNames(cert.subjectAltName);
      const ok =
        sanName !== undefined ? sanListMatches(sans, sanName) : matchesAnySan(sans, this.#matchers);
      if (!ok)
        return `no subject alt name matches ${sanName !== undefined ? JSON.stringify(sanName) : 'match_typed_subject_alt_names'} (certificate SANs: ${cert.subjectAltName ?? 'none'})`;
    }
    if (model.certificateHashes.length > 0 || model.spkiHashes.length > 0) {
      const hash = cert.fingerprint256.replaceAll(':', '').toLowerCase();
      const spki = createHash('sha256')
        .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('base64');
      if (!model.certificateHashes.includes(hash) && !model.spkiHashes.includes(spki))
        return 'the certificate matches neither verify_certificate_hash nor verify_certificate_spki';
    }
    return undefined;
  }
}

/**
 * The secure context of an upstream TLS model: its trusted CA, client certificate, versions,
 * and cipher suites (Envoy's defaults, with the curves, unless tls_params say otherwise).
 */
export function upstreamSecureContextOptions(model: UpstreamTlsModel): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = {
    ciphers:
      model.cipherSuites.length > 0
        ? `${TLS13_CIPHERS}:${model.cipherSuites.join(':')}`
        : DEFAULT_CIPHERS,
    ecdhCurve: DEFAULT_ECDH_CURVES,
  };
  if (model.trustedCaPem !== undefined) options.ca = model.trustedCaPem;
  if (model.certificate !== undefined) {
    options.cert = model.certificate.certificateChainPem;
    options.key = model.certificate.privateKeyPem;
  }
  const minVersion = tlsVersion(model.minVersion);
  if (minVersion !== undefined) options.minVersion = minVersion;
  const maxVersion = tlsVersion(model.maxVersion);
  if (maxVersion !== undefined) options.maxVersion = maxVersion;
  return options;
}

function verifyError(reason: string): Error {
  const err = new Error(`upstream TLS certificate verification failed: ${reason}`);
  (err as NodeJS.ErrnoException).code = CERT_VERIFY_FAILED;
  return err;
}

const policies = new WeakMap<UpstreamTlsModel, UpstreamTlsPolicy>();

/** The compiled policy of a cluster's TLS model (compiled once per model object). */
export function upstreamTlsPolicy(model: UpstreamTlsModel): UpstreamTlsPolicy {
  let policy = policies.get(model);
  if (policy === undefined) {
    policy = new UpstreamTlsPolicy(model);
    policies.set(model, policy);
  }
  return policy;
}

export interface TlsConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly alpn?: readonly string[];
}

/**
 * Opens a TLS connection to `options.host` for `target` and calls `onVerified` once the
 * handshake is done and the peer passed the checks; otherwise the socket is destroyed with the
 * reason ('error', then 'close'). Callers listen for 'error' as for any socket and treat the
 * connection as established only in `onVerified`.
 */
export function connectUpstreamTls(
  target: UpstreamTlsTarget,
  options: TlsConnectOptions,
  onVerified: (socket: tls.TLSSocket) => void,
): tls.TLSSocket {
  const alpn = options.alpn ?? target.policy.alpnProtocols;
  const socket = tls.connect({
    ...target.policy.connectOptions(target.servername),
    host: options.host,
    port: options.port,
    ...(alpn.length > 0 ? { ALPNProtocols: [...alpn] } : {}),
  });
  socket.once('secureConnect', () => {
    const err = target.policy.verify(socket, target.sanName);
    if (err !== undefined) socket.destroy(err);
    else onVerified(socket);
  });
  return socket;
}

/**
 * The target for a cluster's TLS model and an endpoint: SNI = `name` when auto_sni gave one
 * (a DNS name), else the configured sni or the endpoint's hostname.
 */
export function upstreamTlsTarget(
  model: UpstreamTlsModel,
  hostname: string,
  name?: { readonly sni?: string; readonly san?: string },
): UpstreamTlsTarget {
  const policy = upstreamTlsPolicy(model);
  const auto = name?.sni !== undefined ? sniName(name.sni) : undefined;
  return {
    policy,
    servername: auto ?? policy.defaultServername(hostname),
    sanName: name?.san,
  };
}
