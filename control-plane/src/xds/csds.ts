/**
 * Client Status Discovery Service (envoy.service.status.v3.ClientStatusDiscoveryService): one
 * ClientConfig per known node, with a GenericXdsConfig per resource it subscribes to. The
 * status is the control plane's view, per resource: SYNCED when the version sent was ACKed, STALE
 * while an answer is outstanding, ERROR (client_status NACKED, with error_state) when the
 * response that carried it was NACKed, NOT_SENT before anything was.
 */
import type { ClientStatusRequest, StringMatcherMessage } from '@ferry/proto/grpc';
import type { FleetNodeView, FleetTracker } from './fleet.js';
import type { SnapshotCache } from './snapshot-cache.js';

type ConfigStatus = 'SYNCED' | 'NOT_SENT' | 'STALE' | 'ERROR';

function timestamp(iso: string): { seconds: string; nanos: number } | undefined {
  if (!iso) return undefined;
  return timestampMs(Date.parse(iso));
}

function timestampMs(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/**
 * envoy.type.matcher.v3.StringMatcher without safe_regex: a client-supplied regex would run on the
 * control plane's event loop (RE2 semantics are not available), so it matches nothing.
 */
function stringMatches(matcher: StringMatcherMessage | undefined, value: string): boolean {
  if (!matcher || typeof matcher !== 'object') return true;
  const fold = (s: string): string => (matcher.ignore_case ? s.toLowerCase() : s);
  const v = fold(value);
  if (typeof matcher.exact === 'string') return v === fold(matcher.exact);
  if (typeof matcher.prefix === 'string') return v.startsWith(fold(matcher.prefix));
  if (typeof matcher.suffix === 'string') return v.endsWith(fold(matcher.suffix));
  if (typeof matcher.contains === 'string') return v.includes(fold(matcher.contains));
  if (matcher.safe_regex !== undefined) return false;
  return true;
}

/** A node is reported when any matcher matches its id (no matchers: every node). */
function selected(
  view: FleetNodeView,
  matchers: NonNullable<ClientStatusRequest['node_matchers']>,
): boolean {
  if (matchers.length === 0) return true;
  return matchers.some((m) => stringMatches(m?.node_id, view.node.id));
}

type TypeView = FleetNodeView['types'] extends ReadonlyMap<string, infer T> ? T : never;

/**
 * One resource's status. A NACK concerns the resources its response carried (NACKs are recorded
 * per resource); the others keep the status of the last response that carried them: on a SotW
 * stream they were not in the rejected response at all, on a delta stream they came in an
 * earlier response, ACKed when anything was ACKed since.
 */
function resourceStatus(t: TypeView, name: string): { status: ConfigStatus; nacked: boolean } {
  if (t.versionSent === '') return { status: 'NOT_SENT', nacked: false };
  const nack = t.lastNack;
  if (nack && nack.version === t.versionSent) {
    if (!nack.resources || nack.resources.includes(name)) return { status: 'ERROR', nacked: true };
    return { status: t.versionAcked !== '' ? 'SYNCED' : 'STALE', nacked: false };
  }
  return { status: t.versionAcked === t.versionSent ? 'SYNCED' : 'STALE', nacked: false };
}

function clientConfig(view: FleetNodeView, cache: SnapshotCache, withContents: boolean): unknown {
  const generic: unknown[] = [];
  for (const [typeUrl, t] of view.types) {
    const snapshot = cache.snapshotFor({ group: view.group, node: view.node }, typeUrl);
    const sub = t.subscription;
    if (!sub) continue;
    const names = sub.wildcard ? new Set([...snapshot.resources.keys(), ...sub.names]) : sub.names;
    for (const name of names) {
      const r = snapshot.resources.get(name);
      const { status, nacked } = resourceStatus(t, name);
      const clientStatus =
        status === 'ERROR' ? 'NACKED' : status === 'SYNCED' ? 'ACKED' : 'REQUESTED';
      generic.push({
        type_url: typeUrl,
        name,
        version_info: t.versionSent,
        ...(r && withContents ? { xds_config: r.resource } : {}),
        ...(t.lastSent ? { last_updated: timestampMs(t.lastSent) } : {}),
        config_status: status,
        client_status: r || nacked ? clientStatus : 'DOES_NOT_EXIST',
        ...(nacked && t.lastNack
          ? {
              error_state: {
                last_update_attempt: timestamp(t.lastNack.time),
                details: t.lastNack.error,
                version_info: t.lastNack.version,
              },
            }
          : {}),
      });
    }
  }
  return { node: view.node, generic_xds_configs: generic };
}

/** Builds a ClientStatusResponse for a ClientStatusRequest (plain proto-loader objects). */
export function clientStatus(
  request: ClientStatusRequest | undefined,
  fleet: FleetTracker,
  cache: SnapshotCache,
): { config: unknown[] } {
  const matchers = Array.isArray(request?.node_matchers) ? request.node_matchers : [];
  const withContents = request?.exclude_resource_contents !== true;
  return {
    config: fleet
      .views()
      .filter((v) => selected(v, matchers))
      .map((v) => clientConfig(v, cache, withContents)),
  };
}
