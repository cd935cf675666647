/**
 * Downstream TLS: the SecureContext of a filter chain's DownstreamTlsContext and Ferry's default
 * cipher list. Which chain (and so which certificate) a connection gets is decided before the
 * handshake, by filter chain matching (listener/filter-chain-match.ts).
 */
import type { SecureContextOptions } from 'node:tls';
import type { DownstreamTlsModel } from '../config/model.js';

/**
 * TLS 1.2 minimum and forward-secret AEAD suites only (Node's default list still
 * offers RSA key exchange and CBC). TLS 1.3 suites are all AEAD.
 */
export const DEFAULT_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

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
    ...(tls.trustedCaPem !== undefined ? { ca: tls.trustedCaPem } : {}),
  };
}
