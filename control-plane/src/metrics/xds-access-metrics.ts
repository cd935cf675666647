/**
 * Refusals of the xDS server's access control (docs/architecture.md, "Who may connect"), by
 * reason: `handshake` (no client certificate, or one the client CA does not sign), `no_identity`
 * (a verified certificate without SAN URI or DNS name), `group` (the identity may not join the
 * claimed group as the claimed node), `node_changed`, `admin` (CSDS without an admin identity),
 * `forwarded` (a forwarded rate limit check from an identity not matching --xds-admin-san),
 * `revoked` (an open call the group's changed policy no longer admits).
 */
import { processMetrics, type MetricChild, type MetricsRegistry } from './registry.js';

export function xdsAccessRefusals(
  registry: MetricsRegistry = processMetrics,
): (reason: string) => MetricChild {
  const refused = registry.counter(
    'ferry_xds_access_refused_total',
    'xDS connections and calls refused by the access control, by reason.',
    'reason',
  );
  return (reason) => refused.child(reason);
}
