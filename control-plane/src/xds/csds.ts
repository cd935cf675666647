/**
 * Client Status Discovery Service (envoy.service.status.v3.ClientStatusDiscoveryService): one
 * ClientConfig per known node, with a GenericXdsConfig per resource it subscribes to. The
 * status is the control plane's view, per resource (resource-status.ts): SYNCED when the version
 * sent was applied, STALE while an answer is outstanding, ERROR (client_status NACKED, with
 * error_state) when the client rejected it (by name, or the whole response that carried it),
 * NOT_SENT before anything was. version_info is the version whose copy of the resource the client
 * runs (a resource rejected alone runs an earlier one), or the version sent while it runs none.
 */
import type { ClientStatusRequest, StringMatcherMessage } from '@ferry/proto/grpc';
import type { FleetNodeView, FleetTracker } from './fleet.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { resourceState, statusNames } from './resource-status.js';

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

function clientConfig(view: FleetNodeView, cache: SnapshotCache, withContents: boolean): unknown {
  const generic: unknown[] = [];
  for (const [typeUrl, t] of view.types) {
    const snapshot = cache.snapshotFor({ group: view.group, node: view.node }, typeUrl);
    const sub = t.subscription;
    if (!sub) continue;
    const names = statusNames(t, snapshot.resources);
    for (const name of names) {
      const r = snapshot.resources.get(name);
      const state = resourceState(t, name, r !== undefined);
      generic.push({
        type_url: typeUrl,
        name,
        version_info: state.versionRunning || state.versionSent,
        ...(r && withContents ? { xds_config: r.resource } : {}),
        ...(t.lastSent ? { last_updated: timestampMs(t.lastSent) } : {}),
        config_status: state.configStatus,
        client_status: state.clientStatus,
        ...(state.error
          ? {
              error_state: {
                last_update_attempt: timestampMs(state.error.time),
                details: state.error.message,
                version_info: state.error.version,
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
