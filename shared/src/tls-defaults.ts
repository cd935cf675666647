/**
 * Ferry's TLS defaults, the same for every TLS server and client it runs: the proxy's listeners
 * and upstream connections, and the control plane's xDS and management APIs.
 *
 * TLS 1.2 minimum, and Envoy's default cipher suites (TlsParameters.cipher_suites): for TLS 1.2,
 * ECDHE key exchange with AES-GCM or CHACHA20-POLY1305 only, in Envoy's order (Node's default
 * list still offers RSA key exchange and CBC); the TLS 1.3 suites, all AEAD, always on.
 */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** An OpenSSL cipher list (Node's `ciphers` option), TLS 1.3 suites first. */
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
