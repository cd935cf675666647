/**
 * HTTP-01 through the fleet (RFC 8555 section 8.3): while an AcmeChallenge record is in a group's
 * store content, every RouteConfiguration served to that group answers
 * `GET /.well-known/acme-challenge/<token>` for the challenge's domain with 200 and the key
 * authorization. The route goes first in the virtual host Envoy would select for the domain
 * (exact name, then the longest `*.suffix`, then the longest `prefix*`, then `*`); a route
 * configuration with no such virtual host gets a dedicated one. The user's stored resources are
 * never written: this is a SnapshotOverlay (../xds/snapshot-cache.ts), a pure function of the
 * store's content, so every replica serves the same bytes and versions.
 */
import { binaryToJson, contentVersion, jsonToBinary, sortKeysDeep } from '@ferry/proto';
import type { Mutation } from '../store/store.js';
import type { SnapshotOverlay } from '../xds/snapshot-cache.js';
import {
  ACME_CHALLENGE_TYPE,
  decodeAcmeChallenge,
  type AcmeChallengeRecord,
} from './acme-records.js';

export const RDS_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const RDS_MESSAGE = 'envoy.config.route.v3.RouteConfiguration';
export const CHALLENGE_PATH_PREFIX = '/.well-known/acme-challenge/';
/** The name of the routes (and dedicated virtual hosts) this overlay adds. */
export const CHALLENGE_ROUTE_NAME = 'ferry-acme-http-01';

type Json = Record<string, unknown>;

interface Served {
  readonly name: string;
  readonly version: string;
  readonly value: Buffer;
}

export interface AcmeChallengeOverlayOptions {
  /** A route configuration the overlay could not rewrite (served unchanged). */
  readonly onInvalid?: (message: string) => void;
}

export class AcmeChallengeOverlay implements SnapshotOverlay {
  readonly typeUrls: ReadonlySet<string> = new Set([RDS_TYPE]);
  /** group → token → challenge. */
  readonly #challenges = new Map<string, Map<string, AcmeChallengeRecord>>();
  /** `group|name` → the last output and the tokens it carries. */
  readonly #served = new Map<string, { inputVersion: string; tokens: string; out: Served }>();
  readonly #onInvalid: (message: string) => void;

  constructor(options: AcmeChallengeOverlayOptions = {}) {
    this.#onInvalid = options.onInvalid ?? (() => {});
  }

  observe(m: Mutation): ReadonlyArray<readonly [string, string]> {
    if (m.typeUrl !== ACME_CHALLENGE_TYPE) return [];
    let byToken = this.#challenges.get(m.group);
    if (m.op === 'delete') {
      if (!byToken?.delete(m.name)) return [];
      if (byToken.size === 0) this.#challenges.delete(m.group);
      return [[m.group, RDS_TYPE]];
    }
    if (!byToken) this.#challenges.set(m.group, (byToken = new Map<string, AcmeChallengeRecord>()));
    byToken.set(m.name, decodeAcmeChallenge(m.value));
    return [[m.group, RDS_TYPE]];
  }

  /**
   * Whether the served form of route configuration `name` in `group` at `version` carries every
   * token of `tokens` (the ordering code waits for proxies to ACK such a version).
   */
  carries(group: string, name: string, version: string, tokens: readonly string[]): boolean {
    const served = this.#served.get(`${group}|${name}`);
    if (served?.out.version !== version) return false;
    const have = new Set(served.tokens.split(','));
    return tokens.every((t) => have.has(t));
  }

  transform(group: string, typeUrl: string, resource: Served): Served {
    const challenges = this.#challenges.get(group);
    const id = `${group}|${resource.name}`;
    if (typeUrl !== RDS_TYPE || !challenges || challenges.size === 0) {
      this.#served.delete(id);
      return resource;
    }
    const sorted = [...challenges.values()].sort((a, b) => (a.token < b.token ? -1 : 1));
    const tokens = sorted.map((c) => c.token).join(',');
    const memo = this.#served.get(id);
    if (memo?.inputVersion === resource.version && memo.tokens === tokens) return memo.out;
    const rc = binaryToJson(RDS_MESSAGE, resource.value) as Json;
    const vhosts = ((rc.virtual_hosts as Json[] | undefined) ?? []).slice();
    for (const c of sorted) {
      const route = challengeRoute(c);
      const i = selectVirtualHost(vhosts, c.domain);
      if (i === undefined) {
        vhosts.push({
          name: `${CHALLENGE_ROUTE_NAME}-${c.domain}`,
          domains: [c.domain],
          routes: [route],
        });
      } else {
        const vh = { ...vhosts[i] };
        vh.routes = [route, ...((vh.routes as Json[] | undefined) ?? [])];
        vhosts[i] = vh;
      }
    }
    rc.virtual_hosts = vhosts;
    const bytes = jsonToBinary(RDS_MESSAGE, sortKeysDeep(rc));
    if (!bytes.ok) {
      this.#onInvalid(`ACME challenge routes in ${resource.name}: ${bytes.errors.join('; ')}`);
      return resource;
    }
    const value = Buffer.from(bytes.value);
    const out = { name: resource.name, version: contentVersion(value), value };
    this.#served.set(id, { inputVersion: resource.version, tokens, out });
    return out;
  }
}

function challengeRoute(c: AcmeChallengeRecord): Json {
  return {
    name: CHALLENGE_ROUTE_NAME,
    match: { path: CHALLENGE_PATH_PREFIX + c.token },
    direct_response: { status: 200, body: { inline_string: c.keyAuthorization } },
  };
}

/**
 * The index of the virtual host Envoy selects for `host` (route.v3.VirtualHost.domains: exact,
 * then suffix wildcards, then prefix wildcards, longest first, then `*`), or undefined.
 */
export function selectVirtualHost(vhosts: readonly Json[], host: string): number | undefined {
  let best: { rank: number; length: number; index: number } | undefined;
  vhosts.forEach((vh, index) => {
    for (const d of (vh.domains as string[] | undefined) ?? []) {
      const domain = d.toLowerCase();
      let rank: number;
      if (domain === host) rank = 4;
      else if (domain === '*') rank = 1;
      else if (
        domain.startsWith('*') &&
        host.endsWith(domain.slice(1)) &&
        host.length > domain.length - 1
      )
        rank = 3;
      else if (
        domain.endsWith('*') &&
        host.startsWith(domain.slice(0, -1)) &&
        host.length > domain.length - 1
      )
        rank = 2;
      else continue;
      if (!best || rank > best.rank || (rank === best.rank && domain.length > best.length)) {
        best = { rank, length: domain.length, index };
      }
    }
  });
  return best?.index;
}
