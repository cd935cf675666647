/**
 * When may the CA validate? Only once every proxy of the serving group that is connected to this
 * replica runs route configurations carrying the challenge: the published RDS and LDS snapshots
 * carry every token (the overlay says so per resource version; listeners without an inline route
 * configuration need none), and each proxy has ACKed, for each of those types, exactly the
 * version this replica would send it for that snapshot (wildcard and delta streams: the
 * snapshot's version; SotW streams that name their route configurations: the version of that
 * selection, as stream-sotw.ts computes it).
 */
import { combinedVersion } from '@ferry/proto';
import type { FleetNodeView } from '../xds/fleet.js';
import type { SnapshotCache, TypeSnapshot } from '../xds/snapshot-cache.js';
import { LDS_TYPE, RDS_TYPE, type AcmeChallengeOverlay } from './acme-challenge-overlay.js';

export interface ChallengeReadiness {
  readonly ready: boolean;
  /** Why not, for the error an operator sees when the wait times out. */
  readonly waitingFor: string;
}

export function challengeReadiness(
  cache: SnapshotCache,
  overlay: AcmeChallengeOverlay,
  nodes: readonly FleetNodeView[],
  group: string,
  tokens: readonly string[],
): ChallengeReadiness {
  // The types whose served resources carry routes (RDS, and LDS when a listener has inline ones).
  const snapshots: TypeSnapshot[] = [];
  for (const snapshot of [cache.snapshot(group, RDS_TYPE), cache.snapshot(group, LDS_TYPE)]) {
    let routes = false;
    for (const r of snapshot.resources.values()) {
      if (!overlay.carries(group, snapshot.typeUrl, r.name, r.version, tokens)) {
        return notReady(`the challenge routes to be published in group "${group}"`);
      }
      routes ||= overlay.servesRoutes(group, snapshot.typeUrl, r.name);
    }
    if (routes) snapshots.push(snapshot);
  }
  if (snapshots.length === 0) {
    return notReady(
      `group "${group}" has no route configuration (RDS, or inline in a listener) to serve the HTTP-01 challenge`,
    );
  }
  const connected = nodes.filter((n) => n.connected && n.group === group);
  if (connected.length === 0) {
    return notReady(`a proxy of group "${group}" to connect to this control plane`);
  }
  const late: string[] = [];
  for (const n of connected) {
    for (const snapshot of snapshots) {
      const t = n.types.get(snapshot.typeUrl);
      if (!t || !acceptableVersions(snapshot, t.subscription).has(t.versionAcked)) {
        late.push(n.node.id);
        break;
      }
    }
  }
  if (late.length > 0) {
    return notReady(`proxies of group "${group}" to ACK the challenge routes: ${late.join(', ')}`);
  }
  return { ready: true, waitingFor: '' };
}

function notReady(waitingFor: string): ChallengeReadiness {
  return { ready: false, waitingFor };
}

function acceptableVersions(
  snapshot: TypeSnapshot,
  subscription: { readonly wildcard: boolean; readonly names: ReadonlySet<string> } | undefined,
): Set<string> {
  const versions = new Set([snapshot.version]);
  if (subscription && !subscription.wildcard) {
    const chosen: Array<readonly [string, string]> = [];
    for (const name of subscription.names) {
      const r = snapshot.resources.get(name);
      if (r) chosen.push([r.name, r.version]);
    }
    versions.add(combinedVersion(chosen));
  }
  return versions;
}
