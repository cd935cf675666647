/**
 * Builds the OTLP span exporter for one export target: OTLP/gRPC
 * (@opentelemetry/exporter-trace-otlp-grpc) or OTLP/HTTP with a protobuf body (OtlpHttpExporter
 * below: @opentelemetry/otlp-transformer's serializer, sent with undici). The packages (and
 * gRPC) are imported on first use, so a worker whose config traces nothing never loads them.
 *
 * Why not the OTel OTLP/HTTP exporter: it sends with node:http's client, whose objects
 * (ClientRequest, IncomingMessage, its socket's parser) then run through the same stream
 * functions as the proxied traffic. With an export every second (1% sampling), V8 deoptimized
 * those hot functions again and again (--trace-deopt: "wrong map" in writevGeneric,
 * onStreamRead, Writable.cork …), which cost about 25% CPU per request at 1% sampling, as much
 * as 100% sampling did.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { formatHostPort, type Logger } from '@ferry/shared';
import type { Pool } from 'undici';
import type { UpstreamTlsModel } from '../config/model.js';
import { X509Certificate } from 'node:crypto';
import { tlsConnector } from './undici-tls-connector.js';
import { upstreamTlsPolicy, upstreamTlsTarget } from '../upstream/upstream-tls.js';

/** undici's default connect timeout, kept for the exporters' TLS connector. */
const EXPORT_CONNECT_TIMEOUT_MS = 10_000;
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

export async function createOtlpExporter(
  target: ExportTarget,
  logger?: Logger,
): Promise<SpanExportTarget> {
  const scheme = target.tls ? 'https' : 'http';
  const base = `${scheme}://${formatHostPort(target.host, target.port)}`;
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
    let credentials = grpc.credentials.createInsecure();
    if (tls !== undefined) {
      const policy = upstreamTlsPolicy(tls);
      if (policy.verifies && tls.trustedCaPem === undefined)
        logger?.warn(
          { host: target.host },
          'tracing: OTLP/gRPC checks SAN matchers and certificate pins only after a trusted_ca ' +
            'verified the chain; add trusted_ca to the collector cluster, or use OTLP/HTTP',
        );
      credentials = grpc.credentials.createSsl(
        tls.trustedCaPem !== undefined ? Buffer.from(tls.trustedCaPem) : null,
        tls.certificate !== undefined ? Buffer.from(tls.certificate.privateKeyPem) : null,
        tls.certificate !== undefined ? Buffer.from(tls.certificate.certificateChainPem) : null,
        {
          // Called once grpc-js verified the chain against trusted_ca; Envoy's other checks here.
          checkServerIdentity: (_host, peer) =>
            policy.verifyCertificate(new X509Certificate(peer.raw), true, undefined),
          rejectUnauthorized: tls.trustedCaPem !== undefined,
        },
      );
    }
    return new OTLPTraceExporter({
      url: base,
      metadata,
      timeoutMillis: target.timeoutMs,
      credentials,
    });
  }
  const [{ ProtobufTraceSerializer }, { Pool }] = await Promise.all([
    import('@opentelemetry/otlp-transformer'),
    import('undici'),
  ]);
  const pool = new Pool(base, {
    connections: 2,
    ...(target.tls
      ? {
          connect: tlsConnector(
            upstreamTlsTarget(target.tls, target.host),
            EXPORT_CONNECT_TIMEOUT_MS,
            ['http/1.1'],
          ),
        }
      : {}),
  });
  return new OtlpHttpExporter(
    pool,
    (spans) => ProtobufTraceSerializer.serializeRequest(spans),
    target,
  );
}

/** OTLP/HTTP with a protobuf body (opentelemetry-proto's OTLP/HTTP spec), sent with undici. */
export class OtlpHttpExporter implements SpanExportTarget {
  readonly #pool: Pick<Pool, 'request' | 'close'>;
  readonly #serialize: (spans: ReadableSpan[]) => Uint8Array | undefined;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;

  constructor(
    pool: Pick<Pool, 'request' | 'close'>,
    serialize: (spans: ReadableSpan[]) => Uint8Array | undefined,
    target: Pick<ExportTarget, 'httpPath' | 'headers' | 'timeoutMs'>,
  ) {
    this.#pool = pool;
    this.#serialize = serialize;
    this.#path = target.httpPath;
    this.#headers = {
      ...Object.fromEntries(target.headers.map((h) => [h.key, h.value])),
      'content-type': 'application/x-protobuf',
      'user-agent': 'ferry-proxy',
    };
    this.#timeoutMs = target.timeoutMs;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const body = this.#serialize(spans);
    if (body === undefined) {
      done({ code: ExportResultCode.FAILED, error: new Error('spans could not be serialized') });
      return;
    }
    void this.#send(body).then(done);
  }

  async #send(body: Uint8Array): Promise<ExportResult> {
    try {
      const { statusCode, body: response } = await this.#pool.request({
        method: 'POST',
        path: this.#path,
        headers: this.#headers,
        body,
        // undici's own timers (as the upstream pools use), not an AbortSignal.timeout per export.
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      await response.dump();
      if (statusCode >= 200 && statusCode < 300) return { code: ExportResultCode.SUCCESS };
      return {
        code: ExportResultCode.FAILED,
        error: new Error(`OTLP collector answered HTTP ${statusCode}`),
      };
    } catch (err) {
      return {
        code: ExportResultCode.FAILED,
        error: err instanceof Error ? err : new Error(String(err)),
      };
    }
  }

  shutdown(): Promise<void> {
    return this.#pool.close();
  }
}
