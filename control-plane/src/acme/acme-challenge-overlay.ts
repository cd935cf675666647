/**
 * HTTP-01 through the fleet (RFC 8555 section 8.3): while an AcmeChallenge record is in a group's
 * store content, every RouteConfiguration served to that group (over RDS, or inline in a
 * listener's HTTP connection manager) answers
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
import { HCM_TYPE_URL } from '../validation/json-walk.js';
import {
  ACME_CHALLENGE_TYPE,
  decodeAcmeChallenge,
  type AcmeChallengeRecord,
} from './acme-records.js';

export const RDS_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const RDS_MESSAGE = 'envoy.config.route.v3.RouteConfiguration';
export const LDS_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const LDS_MESSAGE = 'envoy.config.listener.v3.Listener';
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
  readonly typeUrls: ReadonlySet<string> = new Set([RDS_TYPE, LDS_TYPE]);
  /** group → token → challenge. */
  readonly #challenges = new Map<string, Map<string, AcmeChallengeRecord>>();
  /**
   * `type|group|name` → the last output and the tokens it was built with; `carried` is false for
   * a listener without an inline route configuration (it has nothing to carry).
   */
  readonly #served = new Map<
    string,
    { inputVersion: string; tokens: string; carried: boolean; out: Served }
  >();
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
      return [
        [m.group, RDS_TYPE],
        [m.group, LDS_TYPE],
      ];
    }
    if (!byToken) this.#challenges.set(m.group, (byToken = new Map<string, AcmeChallengeRecord>()));
    byToken.set(m.name, decodeAcmeChallenge(m.value));
    return [
      [m.group, RDS_TYPE],
      [m.group, LDS_TYPE],
    ];
  }

  /**
   * Whether the served form of resource `name` of `typeUrl` (RDS, or LDS for listeners with an
   * inline route configuration) in `group` at `version` carries every token of `tokens` (the
   * ordering code waits for proxies to ACK such a version). A listener without an inline route
   * configuration needs nothing: true.
   */
  carries(
    group: string,
    typeUrl: string,
    name: string,
    version: string,
    tokens: readonly string[],
  ): boolean {
    const served = this.#served.get(`${typeUrl}|${group}|${name}`);
    if (served?.out.version !== version) return false;
    if (!served.carried) return true;
    const have = new Set(served.tokens.split(','));
    return tokens.every((t) => have.has(t));
  }

  /** Whether `name` of `typeUrl` in `group` serves routes (RDS, or a listener's inline ones). */
  servesRoutes(group: string, typeUrl: string, name: string): boolean {
    return (
      typeUrl === RDS_TYPE || this.#served.get(`${typeUrl}|${group}|${name}`)?.carried === true
    );
  }

  transform(group: string, typeUrl: string, resource: Served): Served {
    const challenges = this.#challenges.get(group);
    const id = `${typeUrl}|${group}|${resource.name}`;
    if (!this.typeUrls.has(typeUrl) || !challenges || challenges.size === 0) {
      this.#served.delete(id);
      return resource;
    }
    const sorted = [...challenges.values()].sort((a, b) => (a.token < b.token ? -1 : 1));
    const tokens = sorted.map((c) => c.token).join(',');
    const memo = this.#served.get(id);
    if (memo?.inputVersion === resource.version && memo.tokens === tokens) return memo.out;
    const built = this.#build(typeUrl, resource, sorted);
    if (built) this.#served.set(id, { inputVersion: resource.version, tokens, ...built });
    return built?.out ?? resource;
  }

  /**
   * What `transform` would serve for `resource` (one that may never be stored: the pre-flight's),
   * without recording it: `carries` keeps answering for what is actually served.
   */
  preview(group: string, typeUrl: string, resource: Served): Served {
    const challenges = this.#challenges.get(group);
    if (!this.typeUrls.has(typeUrl) || !challenges || challenges.size === 0) return resource;
    const sorted = [...challenges.values()].sort((a, b) => (a.token < b.token ? -1 : 1));
    return this.#build(typeUrl, resource, sorted)?.out ?? resource;
  }

  /** The served form; undefined when it cannot be encoded (reported, served unchanged). */
  #build(
    typeUrl: string,
    resource: Served,
    sorted: readonly AcmeChallengeRecord[],
  ): { carried: boolean; out: Served } | undefined {
    const message = typeUrl === RDS_TYPE ? RDS_MESSAGE : LDS_MESSAGE;
    const json = binaryToJson(message, resource.value) as Json;
    const routeConfigs = typeUrl === RDS_TYPE ? [json] : inlineRouteConfigs(json);
    if (routeConfigs.length === 0) return { carried: false, out: resource };
    for (const rc of routeConfigs) addChallengeRoutes(rc, sorted);
    const bytes = jsonToBinary(message, sortKeysDeep(json));
    if (!bytes.ok) {
      this.#onInvalid(`ACME challenge routes in ${resource.name}: ${bytes.errors.join('; ')}`);
      return undefined;
    }
    const value = Buffer.from(bytes.value);
    return { carried: true, out: { name: resource.name, version: contentVersion(value), value } };
  }
}

/** Prepends each challenge's route to the virtual host Envoy selects for its domain. */
function addChallengeRoutes(rc: Json, challenges: readonly AcmeChallengeRecord[]): void {
  const vhosts = ((rc.virtual_hosts as Json[] | undefined) ?? []).slice();
  for (const c of challenges) {
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
}

/** The inline `route_config`s of a listener's HTTP connection managers (every filter chain). */
function inlineRouteConfigs(listener: Json): Json[] {
  const chains = [
    ...((listener.filter_chains as Json[] | undefined) ?? []),
    ...(listener.default_filter_chain ? [listener.default_filter_chain as Json] : []),
  ];
  const out: Json[] = [];
  for (const chain of chains) {
    for (const filter of (chain.filters as Json[] | undefined) ?? []) {
      const config = filter.typed_config as Json | undefined;
      if (config?.['@type'] !== HCM_TYPE_URL) continue;
      const rc = config.route_config as Json | undefined;
      if (rc) out.push(rc);
    }
  }
  return out;
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
