/**
 * Downstream TLS: the SecureContext of a filter chain's DownstreamTlsContext and Ferry's default
 * cipher list. Which chain (and so which certificate) a connection gets is decided before the
 * handshake, by filter chain matching (listener/filter-chain-match.ts).
 */
import type { SecureContextOptions } from 'node:tls';
import { DEFAULT_CIPHERS, TLS_MIN_VERSION } from '@ferry/shared';
import type { DownstreamTlsModel } from '../config/model.js';

/** Envoy's default cipher_suites; upstream connections use them too, as Envoy does. */
export { DEFAULT_CIPHERS };

/** The TLS 1.3 suites, prepended to a configured TLS 1.2 cipher_suites list. */
export const TLS13_CIPHERS = DEFAULT_CIPHERS.split(':')
  .filter((c) => c.startsWith('TLS_'))
  .join(':');

/** Envoy's default TlsParameters.ecdh_curves (non-FIPS): X25519, then P-256. */
export const DEFAULT_ECDH_CURVES = 'X25519:P-256';

type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

function version(value: string, fallback: TlsVersion): TlsVersion {
  return value === 'TLSv1.2' || value === 'TLSv1.3' ? value : fallback;
}

/** createSecureContext / tls.createServer options for a chain's DownstreamTlsContext. */
export function secureContextOptions(tls: DownstreamTlsModel): SecureContextOptions {
  return {
    cert: tls.certificates.map((c) => c.certificateChainPem),
    key: tls.certificates.map((c) => c.privateKeyPem),
    minVersion: version(tls.minVersion, TLS_MIN_VERSION),
    maxVersion: version(tls.maxVersion, 'TLSv1.3'),
    ciphers: tls.cipherSuites.length > 0 ? tls.cipherSuites.join(':') : DEFAULT_CIPHERS,
    ecdhCurve: DEFAULT_ECDH_CURVES,
    ...(tls.trustedCaPem !== undefined ? { ca: tls.trustedCaPem } : {}),
  };
}
