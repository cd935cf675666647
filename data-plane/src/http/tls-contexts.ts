/**
 * Downstream TLS: the SecureContext of a filter chain's DownstreamTlsContext and Ferry's default
 * cipher list. Which chain (and so which certificate) a connection gets is decided before the
 * handshake, by filter chain matching (listener/filter-chain-match.ts).
 */
import type { SecureContextOptions } from 'node:tls';
import type { DownstreamTlsModel } from '../config/model.js';

/**
 * TLS 1.2 minimum and Envoy's default TLS 1.2 suites (TlsParameters.cipher_suites: ECDHE key
 * exchange with AES-GCM or CHACHA20-POLY1305 only, in Envoy's order; Node's default list still
 * offers RSA key exchange and CBC). TLS 1.3 suites are all AEAD and always on. Upstream
 * connections use the same list, as Envoy does.
 */
export const DEFAULT_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
].join(':');

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
    minVersion: version(tls.minVersion, 'TLSv1.2'),
    maxVersion: version(tls.maxVersion, 'TLSv1.3'),
    ciphers: tls.cipherSuites.length > 0 ? tls.cipherSuites.join(':') : DEFAULT_CIPHERS,
    ecdhCurve: DEFAULT_ECDH_CURVES,
    ...(tls.trustedCaPem !== undefined ? { ca: tls.trustedCaPem } : {}),
  };
}
