/**
 * The xDS layer's metrics (DESIGN.md D8). Byte counters separate what is encoded once per version
 * (the cost that does not grow with the fleet) from what is written to streams (the cost that
 * does), so a fan-out that re-encodes per stream shows up as encoded ≈ sent.
 */
import { resourceTypeByUrl } from '@ferry/proto';
import { processMetrics, type MetricChild, type Metric, type MetricsRegistry } from './registry.js';

export interface XdsMetrics {
  /** Bytes of response sections encoded for sharing (once per version and selection). */
  readonly bytesEncoded: MetricChild;
  /** Bytes of DiscoveryResponses written to streams. */
  readonly bytesSent: MetricChild;
  /** Connected xDS streams (SotW and delta, ADS and per-type). */
  readonly connectedStreams: MetricChild;
  /** The latest store revision the snapshot cache has seen. */
  readonly storeRevision: MetricChild;
  /** Responses sent, by short type name (lds, cds, ...). */
  responses(typeUrl: string): MetricChild;
  /** NACKs received, by short type name. */
  nacks(typeUrl: string): MetricChild;
}

/** Registers (or finds) the xDS metrics in `registry`. */
export function xdsMetrics(registry: MetricsRegistry = processMetrics): XdsMetrics {
  const responses = registry.counter(
    'ferry_xds_responses_total',
    'xDS responses sent to proxies, by resource type.',
    'type',
  );
  const nacks = registry.counter(
    'ferry_xds_nacks_total',
    'xDS NACKs received from proxies, by resource type.',
    'type',
  );
  return {
    bytesEncoded: registry.counter(
      'ferry_xds_bytes_encoded_total',
      'Bytes of xDS response sections encoded once per version and shared by every stream.',
    ),
    bytesSent: registry.counter(
      'ferry_xds_bytes_sent_total',
      'Bytes of xDS responses written to streams.',
    ),
    connectedStreams: registry.gauge(
      'ferry_xds_connected_streams',
      'Connected xDS streams (ADS and per-type, state of the world and delta).',
    ),
    storeRevision: registry.gauge(
      'ferry_store_revision',
      'Latest store revision seen by the xDS snapshot cache.',
    ),
    responses: byType(responses),
    nacks: byType(nacks),
  };
}

function byType(metric: Metric): (typeUrl: string) => MetricChild {
  const children = new Map<string, MetricChild>();
  return (typeUrl) => {
    let child = children.get(typeUrl);
    if (!child) {
      const short = resourceTypeByUrl(typeUrl)?.short.toLowerCase() ?? 'unknown';
      children.set(typeUrl, (child = metric.child(short)));
    }
    return child;
  };
}
