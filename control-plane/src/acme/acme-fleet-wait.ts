/**
 * When may the CA validate? Only once every proxy of the serving group that is connected to this
 * replica runs route configurations carrying the challenge: the published RDS snapshot carries
 * every token (the overlay says so per resource version), and each proxy has ACKed exactly the
 * version this replica would send it for that snapshot (wildcard and delta streams: the
 * snapshot's version; SotW streams that name their route configurations: the version of that
 * selection, as stream-sotw.ts computes it).
 */
import { combinedVersion } from '@ferry/proto';
import type { FleetNodeView } from '../xds/fleet.js';
import type { SnapshotCache, TypeSnapshot } from '../xds/snapshot-cache.js';
import { RDS_TYPE, type AcmeChallengeOverlay } from './acme-challenge-overlay.js';

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
  const snapshot = cache.snapshot(group, RDS_TYPE);
  if (snapshot.resources.size === 0) {
    return notReady(
      `group "${group}" has no RouteConfiguration to serve the HTTP-01 challenge (the challenge is answered through RDS route configurations)`,
    );
  }
  for (const r of snapshot.resources.values()) {
    if (!overlay.carries(group, r.name, r.version, tokens)) {
      return notReady(`the challenge routes to be published in group "${group}"`);
    }
  }
  const connected = nodes.filter((n) => n.connected && n.group === group);
  if (connected.length === 0) {
    return notReady(`a proxy of group "${group}" to connect to this control plane`);
  }
  const late: string[] = [];
  for (const n of connected) {
    const rds = n.types.get(RDS_TYPE);
    if (!rds || !acceptableVersions(snapshot, rds.subscription).has(rds.versionAcked)) {
      late.push(n.node.id);
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
