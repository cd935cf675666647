/**
 * /certs in Envoy's shape (envoy.admin.v3.Certificates) and the certificate expiry stats, over
 * the TLS contexts of the config in force: one entry per context (a listener's filter chain, a
 * cluster), with its CA certificate (`ca_cert`) and its certificates (`cert_chain`, the leaf of
 * each), each with Envoy's CertificateDetails fields plus the subject. Certificates are parsed
 * when asked (admin and stats scrapes), never on the request path.
 */
import { X509Certificate } from 'node:crypto';
import type { ProxyConfig, TlsCertificateModel } from '../config/model.js';
import type { StatSample } from '../stats/stats.js';

const DAY_MS = 86_400_000;
const INLINE = '<inline>';

interface PemRef {
  readonly pem: string;
  readonly path?: string;
  /** The name for stats: the SDS secret, else the file, else "<inline>". */
  readonly name: string;
}

interface TlsContextCerts {
  readonly labels: Readonly<Record<string, string>>;
  readonly ca: readonly PemRef[];
  readonly chains: readonly PemRef[];
}

function certRef(cert: TlsCertificateModel): PemRef {
  return {
    pem: cert.certificateChainPem,
    ...(cert.certificateChainPath !== undefined ? { path: cert.certificateChainPath } : {}),
    name: cert.secretName ?? cert.certificateChainPath ?? INLINE,
  };
}

function caRef(pem: string | undefined, path: string | undefined): PemRef[] {
  if (pem === undefined) return [];
  return [{ pem, ...(path !== undefined ? { path } : {}), name: path ?? INLINE }];
}

/** Every TLS context of `config`: listeners' filter chains (default chain included), clusters. */
export function tlsContexts(config: ProxyConfig | undefined): TlsContextCerts[] {
  if (!config) return [];
  const out: TlsContextCerts[] = [];
  for (const listener of config.listeners) {
    const chains = [
      ...listener.filterChains,
      ...(listener.defaultFilterChain ? [listener.defaultFilterChain] : []),
    ];
    for (const chain of chains) {
      if (!chain.tls) continue;
      out.push({
        labels: { listener: listener.name },
        ca: caRef(chain.tls.trustedCaPem, chain.tls.trustedCaPath),
        chains: chain.tls.certificates.map(certRef),
      });
    }
  }
  for (const cluster of Object.values(config.clusters)) {
    if (!cluster.tls) continue;
    out.push({
      labels: { cluster: cluster.name },
      ca: caRef(cluster.tls.trustedCaPem, cluster.tls.trustedCaPath),
      chains: cluster.tls.certificate ? [certRef(cluster.tls.certificate)] : [],
    });
  }
  return out;
}

/** subjectAltName ("DNS:a, IP Address:1.2.3.4, URI:spiffe://x") → Envoy's SubjectAlternateName. */
function subjectAltNames(cert: X509Certificate): Record<string, string>[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  return text.split(', ').flatMap((entry): Record<string, string>[] => {
    const colon = entry.indexOf(':');
    const kind = entry.slice(0, colon);
    const value = entry.slice(colon + 1);
    if (kind === 'DNS') return [{ dns: value }];
    if (kind === 'URI') return [{ uri: value }];
    if (kind === 'IP Address') return [{ ip_address: value }];
    return [];
  });
}

function daysUntil(cert: X509Certificate, nowMs: number): number {
  return Math.max(0, Math.floor((Date.parse(cert.validTo) - nowMs) / DAY_MS));
}

function parse(ref: PemRef): X509Certificate | undefined {
  try {
    return new X509Certificate(ref.pem);
  } catch {
    // Translation checked every PEM; nothing to show for one that no longer parses.
    return undefined;
  }
}

function details(ref: PemRef, nowMs: number): Record<string, unknown> | undefined {
  const cert = parse(ref);
  if (!cert) return undefined;
  return {
    path: ref.path ?? INLINE,
    serial_number: cert.serialNumber.toLowerCase(),
    subject_alt_names: subjectAltNames(cert),
    // uint64 in Envoy's proto, hence a string in proto3 JSON.
    days_until_expiration: String(daysUntil(cert, nowMs)),
    valid_from: new Date(cert.validFrom).toISOString(),
    expiration_time: new Date(cert.validTo).toISOString(),
    subject: cert.subject.split('\n').join(', '),
  };
}

/** The /certs document (envoy.admin.v3.Certificates as JSON). */
export function certificatesDump(config: ProxyConfig | undefined, nowMs: number): unknown {
  return {
    certificates: tlsContexts(config).map((context) => ({
      ca_cert: context.ca.flatMap((ref) => details(ref, nowMs) ?? []),
      cert_chain: context.chains.flatMap((ref) => details(ref, nowMs) ?? []),
    })),
  };
}

/**
 * `server_days_until_first_cert_expiring` (Envoy's server.days_until_first_cert_expiring; absent
 * without certificates) and, per certificate of each context,
 * `ssl_certificate_expiration_unix_time_seconds` (Envoy's
 * `<listener|cluster>.ssl.certificate.<name>.expiration_unix_time_seconds`).
 */
export function certificateGauges(config: ProxyConfig | undefined, nowMs: number): StatSample[] {
  const gauges: StatSample[] = [];
  let first: number | undefined;
  const seen = new Set<string>();
  for (const context of tlsContexts(config)) {
    for (const ref of [...context.ca, ...context.chains]) {
      const cert = parse(ref);
      if (!cert) continue;
      const days = daysUntil(cert, nowMs);
      first = first === undefined ? days : Math.min(first, days);
      const labels = { ...context.labels, certificate: ref.name };
      const key = JSON.stringify(labels);
      if (seen.has(key)) continue;
      seen.add(key);
      gauges.push({
        name: 'ssl_certificate_expiration_unix_time_seconds',
        labels,
        value: Math.floor(Date.parse(cert.validTo) / 1000),
      });
    }
  }
  if (first !== undefined)
    gauges.push({ name: 'server_days_until_first_cert_expiring', labels: {}, value: first });
  return gauges;
}

/** /certs and the expiry gauges over the config the primary has accepted last. */
export class Certificates {
  constructor(private readonly config: () => ProxyConfig | undefined) {}

  dump(): unknown {
    return certificatesDump(this.config(), Date.now());
  }

  gauges(): StatSample[] {
    return certificateGauges(this.config(), Date.now());
  }
}
