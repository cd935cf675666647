/**
 * Filter chain selection, as Envoy's FilterChainMatch documents it: the criteria are applied in
 * order (destination port, destination IP, server name, transport protocol, application
 * protocols, directly connected source IP, source type, source IP, source port); at each step
 * only the chains that match the connection *most specifically* go on to the next (a chain
 * without a value for the criterion matches anything, least specifically). There is no
 * backtracking: a chain that wins a step and loses a later one leaves no chain, and the listener
 * uses its default_filter_chain (or closes the connection).
 *
 * Most specific: an exact port over no port; the longest containing CIDR prefix over shorter
 * ones and over no ranges; an exact server name, then the longest `*.suffix` wildcard, then no
 * server_names; an exact transport protocol over none; the chains listing the first protocol
 * the client offers (in the client's order) that any chain lists, over none; SAME_IP_OR_LOOPBACK
 * or EXTERNAL (whichever the connection is) over ANY.
 *
 * Pure: no I/O; translation guarantees at most one chain survives (see
 * config/translate-filter-chain-match.ts).
 */
import type { CidrRangeModel, FilterChainMatchModel, SourceTypeModel } from '../config/model.js';
import {
  cidrContains,
  isLoopback,
  parseCidr,
  parseIp,
  sameIp,
  type Cidr,
  type IpBytes,
} from './cidr.js';
import type { ConnectionProperties } from './connection-properties.js';

/** Score of a chain for one criterion: -1 does not match, 0 matches as "any", higher wins. */
type Score = number;
const NO_MATCH = -1;
const ANY = 0;
/** Above any wildcard suffix length (a DNS name has at most 253 characters). */
const EXACT_SERVER_NAME = 1000;

interface CompiledMatch {
  readonly destinationPort: number | undefined;
  readonly prefixRanges: readonly Cidr[];
  /** Exact names, and wildcard suffixes including the dot ("*.example.com" → ".example.com"). */
  readonly exactNames: ReadonlySet<string>;
  readonly wildcardSuffixes: readonly string[];
  readonly transportProtocol: string;
  readonly applicationProtocols: ReadonlySet<string>;
  readonly directSourcePrefixRanges: readonly Cidr[];
  readonly sourceType: SourceTypeModel;
  readonly sourcePrefixRanges: readonly Cidr[];
  readonly sourcePorts: ReadonlySet<number>;
}

/** What one connection is matched on, its addresses parsed once. */
interface Subject {
  readonly properties: ConnectionProperties;
  readonly local: IpBytes | undefined;
  readonly remote: IpBytes | undefined;
  /** Whether the source is loopback or the destination's own address (Envoy's isSameIpOrLoopback). */
  readonly isLocal: boolean;
}

function cidrs(ranges: readonly CidrRangeModel[]): Cidr[] {
  return ranges.flatMap((range) => {
    const cidr = parseCidr(range.address, range.prefixLen);
    // Translation checked every range; a bad one here can only match nothing.
    return typeof cidr === 'string' ? [] : [cidr];
  });
}

function compile(match: FilterChainMatchModel): CompiledMatch {
  const exactNames = new Set<string>();
  const wildcardSuffixes: string[] = [];
  for (const name of match.serverNames) {
    if (name.startsWith('*.')) wildcardSuffixes.push(name.slice(1));
    else exactNames.add(name);
  }
  return {
    destinationPort: match.destinationPort,
    prefixRanges: cidrs(match.prefixRanges),
    exactNames,
    wildcardSuffixes,
    transportProtocol: match.transportProtocol,
    applicationProtocols: new Set(match.applicationProtocols),
    directSourcePrefixRanges: cidrs(match.directSourcePrefixRanges),
    sourceType: match.sourceType,
    sourcePrefixRanges: cidrs(match.sourcePrefixRanges),
    sourcePorts: new Set(match.sourcePorts),
  };
}

function portScore(port: number | undefined, actual: number): Score {
  if (port === undefined) return ANY;
  return port === actual ? 1 : NO_MATCH;
}

/** 1 + the longest containing prefix (so a /0 beats "no ranges"), ANY without ranges. */
function rangeScore(ranges: readonly Cidr[], ip: IpBytes | undefined): Score {
  if (ranges.length === 0) return ANY;
  let best = NO_MATCH;
  if (ip === undefined) return best;
  for (const range of ranges)
    if (range.prefixLen + 1 > best && cidrContains(range, ip)) best = range.prefixLen + 1;
  return best;
}

function serverNameScore(match: CompiledMatch, serverName: string): Score {
  if (match.exactNames.size === 0 && match.wildcardSuffixes.length === 0) return ANY;
  if (serverName === '') return NO_MATCH;
  if (match.exactNames.has(serverName)) return EXACT_SERVER_NAME;
  let best = NO_MATCH;
  for (const suffix of match.wildcardSuffixes)
    if (suffix.length > best && serverName.length > suffix.length && serverName.endsWith(suffix))
      best = suffix.length;
  return best;
}

function transportScore(match: CompiledMatch, transportProtocol: string): Score {
  if (match.transportProtocol === '') return ANY;
  return match.transportProtocol === transportProtocol ? 1 : NO_MATCH;
}

/** Higher for a protocol earlier in the client's list. */
function applicationScore(match: CompiledMatch, offered: readonly string[]): Score {
  if (match.applicationProtocols.size === 0) return ANY;
  for (let i = 0; i < offered.length; i++)
    if (match.applicationProtocols.has(offered[i]!)) return offered.length - i;
  return NO_MATCH;
}

function sourceTypeScore(match: CompiledMatch, isLocal: boolean): Score {
  switch (match.sourceType) {
    case 'ANY':
      return ANY;
    case 'SAME_IP_OR_LOOPBACK':
      return isLocal ? 1 : NO_MATCH;
    case 'EXTERNAL':
      return isLocal ? NO_MATCH : 1;
  }
}

type Criterion = (match: CompiledMatch, subject: Subject) => Score;

/** Envoy's order of criteria. */
const CRITERIA: readonly Criterion[] = [
  (m, s) => portScore(m.destinationPort, s.properties.localPort),
  (m, s) => rangeScore(m.prefixRanges, s.local),
  (m, s) => serverNameScore(m, s.properties.serverName),
  (m, s) => transportScore(m, s.properties.transportProtocol),
  (m, s) => applicationScore(m, s.properties.applicationProtocols),
  // Without a listener filter that rewrites the source (proxy protocol), the directly connected
  // source is the source.
  (m, s) => rangeScore(m.directSourcePrefixRanges, s.remote),
  (m, s) => sourceTypeScore(m, s.isLocal),
  (m, s) => rangeScore(m.sourcePrefixRanges, s.remote),
  (m, s) =>
    m.sourcePorts.size === 0 ? ANY : m.sourcePorts.has(s.properties.remotePort) ? 1 : NO_MATCH,
];

/** Selects a listener's filter chain for a connection. Immutable; built per listener version. */
export class FilterChainMatcher {
  readonly #matches: readonly CompiledMatch[];

  /** `chains` are the listener's filter_chains (not the default chain), in config order. */
  constructor(chains: readonly FilterChainMatchModel[]) {
    this.#matches = chains.map(compile);
  }

  /** The index of the chain for `connection`, or -1 when none matches. */
  match(connection: ConnectionProperties): number {
    const local = parseIp(connection.localAddress);
    const remote = parseIp(connection.remoteAddress);
    const subject: Subject = {
      properties: connection,
      local,
      remote,
      isLocal:
        remote !== undefined &&
        (isLoopback(remote) || (local !== undefined && sameIp(local, remote))),
    };
    let candidates: number[] = this.#matches.map((_, i) => i);
    for (const criterion of CRITERIA) {
      let best = NO_MATCH;
      let kept: number[] = [];
      for (const index of candidates) {
        const score = criterion(this.#matches[index]!, subject);
        if (score < best || score === NO_MATCH) continue;
        if (score > best) {
          best = score;
          kept = [];
        }
        kept.push(index);
      }
      if (kept.length === 0) return -1;
      candidates = kept;
    }
    return candidates[0]!;
  }
}
