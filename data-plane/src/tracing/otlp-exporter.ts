/**
 * Builds the OTLP span exporter for one export target: OTLP/gRPC
 * (@opentelemetry/exporter-trace-otlp-grpc) or OTLP/HTTP with a protobuf body
 * (@opentelemetry/exporter-trace-otlp-proto). The packages (and gRPC) are imported on first use,
 * so a worker whose config traces nothing never loads them.
 */
import type { Logger } from '@ferry/shared';
import type { UpstreamTlsModel } from '../config/model.js';
import { upstreamTlsOptions } from '../upstream/upstream-pool.js';
import type { SpanExportTarget } from './span-batcher.js';

/** Where and how one exporter sends spans (resolved from the provider and its cluster). */
export interface ExportTarget {
  readonly transport: 'grpc' | 'http';
  /** host:port of the collector endpoint picked from the cluster. */
  readonly host: string;
  readonly port: number;
  /** OTLP/HTTP path (e.g. /v1/traces). */
  readonly httpPath: string;
  readonly timeoutMs: number;
  readonly headers: readonly { readonly key: string; readonly value: string }[];
  /** The collector cluster's upstream TLS (absent: plaintext). */
  readonly tls?: UpstreamTlsModel;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function createOtlpExporter(
  target: ExportTarget,
  logger?: Logger,
): Promise<SpanExportTarget> {
  const scheme = target.tls ? 'https' : 'http';
  const base = `${scheme}://${hostForUrl(target.host)}:${target.port}`;
  if (target.transport === 'grpc') {
    const [{ OTLPTraceExporter }, grpc] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-grpc'),
      import('@grpc/grpc-js'),
    ]);
    const metadata = new grpc.Metadata();
    for (const { key, value } of target.headers) metadata.add(key, value);
    const tls = target.tls;
    if (tls !== undefined && tls.sni !== '' && tls.sni !== target.host)
      logger?.warn(
        { sni: tls.sni, host: target.host },
        'tracing: OTLP/gRPC sends the endpoint host as TLS SNI, not the cluster sni; ' +
          'give the collector cluster an endpoint with that host name to send it',
      );
    const options = tls === undefined ? undefined : upstreamTlsOptions(tls, target.host);
    return new OTLPTraceExporter({
      url: base,
      metadata,
      timeoutMillis: target.timeoutMs,
      credentials:
        tls === undefined || options === undefined
          ? grpc.credentials.createInsecure()
          : grpc.credentials.createSsl(
              tls.trustedCaPem !== undefined ? Buffer.from(tls.trustedCaPem) : null,
              tls.certificate !== undefined ? Buffer.from(tls.certificate.privateKeyPem) : null,
              tls.certificate !== undefined
                ? Buffer.from(tls.certificate.certificateChainPem)
                : null,
              {
                ...(options.checkServerIdentity !== undefined
                  ? { checkServerIdentity: options.checkServerIdentity }
                  : {}),
                rejectUnauthorized: options.rejectUnauthorized ?? true,
              },
            ),
    });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({
    url: base + target.httpPath,
    headers: Object.fromEntries(target.headers.map((h) => [h.key, h.value])),
    timeoutMillis: target.timeoutMs,
    ...(target.tls
      ? { httpAgentOptions: { keepAlive: true, ...upstreamTlsOptions(target.tls, target.host) } }
      : {}),
  });
}
