/**
 * The xDS layer's metrics. Byte counters separate what is encoded once per version
 * (the cost that does not grow with the fleet) from what is written to streams (the cost that
 * does), so a fan-out that re-encodes per stream shows up as encoded ≈ sent.
 */
import { resourceTypeByUrl } from '@ferry/proto';
import {
  processMetrics,
  type HistogramChild,
  type MetricChild,
  type MetricsRegistry,
} from './registry.js';

/**
 * Push-to-ACK latency bounds in seconds: a proxy on the same host ACKs within milliseconds; a
 * loaded fleet or a slow config compile takes seconds.
 */
export const PUSH_ACK_SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

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
  /**
   * Seconds from writing a response to receiving the ACK of its nonce, by short type name
   * (NACKed and superseded responses are not observed).
   */
  pushAckSeconds(typeUrl: string): HistogramChild;
  /** Connected proxies (nodes with at least one open stream) of one group. */
  connectedProxies(group: string): MetricChild;
  /**
   * Streams the server ended for breaking a limit: `request` (no node, too many names),
   * `slow_reader` (responses left unread past --xds-max-pending-bytes).
   */
  refusedStreams(reason: 'request' | 'slow_reader'): MetricChild;
  /** Times a stream was paused for sending requests faster than --xds-max-requests-per-second. */
  readonly throttledStreams: MetricChild;
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
  const pushAck = registry.histogram(
    'ferry_xds_push_ack_seconds',
    'Seconds from sending an xDS response to receiving its ACK, by resource type.',
    PUSH_ACK_SECONDS_BUCKETS,
    'type',
  );
  const connected = registry.gauge(
    'ferry_xds_connected_proxies',
    'Connected proxies (nodes with an open xDS stream), by group.',
    'group',
  );
  const refused = registry.counter(
    'ferry_xds_streams_refused_total',
    'xDS streams ended by the server for breaking a limit, by reason (request, slow_reader).',
    'reason',
  );
  return {
    refusedStreams: (reason) => refused.child(reason),
    throttledStreams: registry.counter(
      'ferry_xds_streams_throttled_total',
      'Times an xDS stream was paused for sending requests faster than its rate limit.',
    ),
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
    responses: byType((t) => responses.child(t)),
    nacks: byType((t) => nacks.child(t)),
    pushAckSeconds: byType((t) => pushAck.child(t)),
    // Groups are operator-chosen names (node.cluster), a bounded set; node ids never label.
    connectedProxies: (group) => connected.child(group),
  };
}

/** A per-type-URL view of a metric labelled by short type name, memoized per type URL. */
function byType<T>(child: (short: string) => T): (typeUrl: string) => T {
  const children = new Map<string, T>();
  return (typeUrl) => {
    let found = children.get(typeUrl);
    if (found === undefined) {
      const short = resourceTypeByUrl(typeUrl)?.short.toLowerCase() ?? 'unknown';
      children.set(typeUrl, (found = child(short)));
    }
    return found;
  };
}
