/**
 * Downstream TLS: one SecureContext per TLS filter chain, and SNI selection among the chains by
 * filter_chain_match.server_names (exact name first, then the longest `*.suffix` wildcard, then
 * a chain without server names), as Envoy's filter chain matcher does.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { DownstreamTlsModel, FilterChainModel } from '../config/model.js';

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

export function secureContextFor(tls: DownstreamTlsModel): SecureContext {
  return createSecureContext({
    cert: tls.certificates.map((c) => c.certificateChainPem),
    key: tls.certificates.map((c) => c.privateKeyPem),
    minVersion: version(tls.minVersion, 'TLSv1.2'),
    maxVersion: version(tls.maxVersion, 'TLSv1.3'),
    ciphers: tls.cipherSuites.length > 0 ? tls.cipherSuites.join(':') : DEFAULT_CIPHERS,
    ...(tls.trustedCaPem !== undefined ? { ca: tls.trustedCaPem } : {}),
  });
}

interface TlsChainEntry {
  readonly chainIndex: number;
  readonly context: SecureContext;
}

/** Chooses the TLS filter chain (and its certificate) for a server name. */
export class TlsChainSelector {
  readonly #exact = new Map<string, TlsChainEntry>();
  /** Wildcards as [suffix including the dot, entry], longest suffix first. */
  readonly #wildcards: [string, TlsChainEntry][] = [];
  readonly #fallback: TlsChainEntry | undefined;
  readonly alpnProtocols: readonly string[];
  readonly requestClientCertificate: boolean;

  /** `chains[i]` is filter chain i of the listener (the default chain, if any, comes last). */
  constructor(chains: readonly FilterChainModel[]) {
    let fallback: TlsChainEntry | undefined;
    const alpn = new Set<string>();
    let requestCert = false;
    chains.forEach((chain, chainIndex) => {
      if (chain.tls === undefined) return;
      const entry = { chainIndex, context: secureContextFor(chain.tls) };
      for (const protocol of chain.tls.alpnProtocols) alpn.add(protocol);
      requestCert ||= chain.tls.requireClientCertificate;
      if (chain.serverNames.length === 0) {
        fallback ??= entry;
        return;
      }
      for (const raw of chain.serverNames) {
        const name = raw.toLowerCase();
        if (name.startsWith('*')) this.#wildcards.push([name.slice(1), entry]);
        else if (!this.#exact.has(name)) this.#exact.set(name, entry);
      }
    });
    this.#wildcards.sort((a, b) => b[0].length - a[0].length);
    // Without a catch-all chain, a client without SNI (or with an unknown name) gets the first
    // TLS chain's certificate, as Envoy does when the default chain is that one.
    this.#fallback = fallback ?? this.#exact.values().next().value ?? this.#wildcards[0]?.[1];
    // Envoy negotiates no ALPN when none is configured; Ferry offers h2 and http/1.1 so that
    // AUTO listeners serve both, which is what an Envoy HCM with codec AUTO accepts as well.
    this.alpnProtocols = alpn.size > 0 ? [...alpn] : ['h2', 'http/1.1'];
    this.requestClientCertificate = requestCert;
  }

  get defaultContext(): SecureContext | undefined {
    return this.#fallback?.context;
  }

  #entryFor(serverName: string | undefined | false): TlsChainEntry | undefined {
    if (typeof serverName === 'string' && serverName !== '') {
      const name = serverName.toLowerCase();
      const exact = this.#exact.get(name);
      if (exact !== undefined) return exact;
      for (const [suffix, entry] of this.#wildcards) {
        if (name.endsWith(suffix) && name.length > suffix.length) return entry;
      }
    }
    return this.#fallback;
  }

  contextFor(serverName: string): SecureContext | undefined {
    return this.#entryFor(serverName)?.context;
  }

  /** Filter chain index for a TLS connection's SNI (undefined when no TLS chain matches). */
  chainIndexFor(serverName: string | undefined | false): number | undefined {
    return this.#entryFor(serverName)?.chainIndex;
  }
}
