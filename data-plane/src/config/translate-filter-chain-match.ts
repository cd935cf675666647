/**
 * FilterChain.filter_chain_match → FilterChainMatchModel, and the listener-wide checks Envoy
 * makes on a listener's matches: no two filter chains with the same matching rules, and no two
 * whose rules overlap (some connection would match both equally). listener/filter-chain-match.ts
 * applies the model at run time.
 */
import type { JsonValue } from '@ferry/proto';
import {
  NOT_SUPPORTED,
  checkFields,
  enumField,
  int,
  join,
  messageSpec,
  objectsOf,
  sortedKeysJson,
  str,
  strings,
  type Issues,
  type JsonObject,
} from './translate-common.js';
import { formatIp, parseCidr } from '../listener/cidr.js';
import { TRANSPORT_RAW_BUFFER, TRANSPORT_TLS } from '../listener/connection-properties.js';
import type { CidrRangeModel, FilterChainMatchModel, SourceTypeModel } from './model.js';

export const FILTER_CHAIN_MATCH_SPEC = messageSpec('envoy.config.listener.v3.FilterChainMatch', {
  destination_port: 'the local port (matches only the listener’s own port without original dst)',
  prefix_ranges: 'destination (local) IP, longest prefix wins',
  server_names: 'SNI from tls_inspector: exact, then the longest *.suffix wildcard',
  transport_protocol: '"tls" (tls_inspector saw a ClientHello) or "raw_buffer"',
  application_protocols: 'ALPN from tls_inspector, first client-offered protocol listed wins',
  direct_source_prefix_ranges: 'source IP of the TCP connection, longest prefix wins',
  source_type: 'ANY, SAME_IP_OR_LOOPBACK (loopback or the local address), EXTERNAL',
  source_prefix_ranges: 'source IP, longest prefix wins',
  source_ports: 'source port',
});

export const CIDR_RANGE_SPEC = messageSpec('envoy.config.core.v3.CidrRange', {
  address_prefix: 'IPv4 or IPv6 address',
  prefix_len: 'default 0',
});

const SOURCE_TYPES = ['ANY', 'SAME_IP_OR_LOOPBACK', 'EXTERNAL'] as const;

/** The match of a chain without filter_chain_match: matches every connection. */
export const MATCH_ANY: FilterChainMatchModel = Object.freeze({
  prefixRanges: [],
  serverNames: [],
  transportProtocol: '',
  applicationProtocols: [],
  directSourcePrefixRanges: [],
  sourceType: 'ANY',
  sourcePrefixRanges: [],
  sourcePorts: [],
});

function cidrRanges(obj: JsonObject, key: string, path: string, issues: Issues): CidrRangeModel[] {
  return objectsOf(obj, key, path).flatMap(([range, rangePath]) => {
    checkFields(range, CIDR_RANGE_SPEC, rangePath, issues);
    const cidr = parseCidr(str(range.address_prefix), int(range.prefix_len, 0));
    if (typeof cidr === 'string') {
      issues.add(rangePath, cidr);
      return [];
    }
    return [{ address: formatIp(cidr.bytes), prefixLen: cidr.prefixLen }];
  });
}

function serverNames(value: JsonValue | undefined, path: string, issues: Issues): string[] {
  return strings(value).flatMap((raw, i) => {
    const name = raw.toLowerCase();
    const namePath = join(path, i);
    if (name === '*') {
      issues.add(namePath, '"*" is not supported: omit server_names to match any server name');
      return [];
    }
    const wildcard = name.startsWith('*.');
    if (name.slice(wildcard ? 1 : 0).includes('*') || (wildcard && name.length === 2)) {
      issues.add(
        namePath,
        `partial wildcards are not supported in "server_names" (${JSON.stringify(raw)}); use an exact name or *.domain`,
      );
      return [];
    }
    return [name];
  });
}

export function translateFilterChainMatch(
  match: JsonObject | undefined,
  path: string,
  issues: Issues,
): FilterChainMatchModel {
  if (!match) return MATCH_ANY;
  checkFields(match, FILTER_CHAIN_MATCH_SPEC, path, issues, {
    address_suffix: `${NOT_SUPPORTED} (Envoy does not implement it either)`,
    suffix_len: `${NOT_SUPPORTED} (Envoy does not implement it either)`,
  });
  const transportProtocol = str(match.transport_protocol);
  if (!['', TRANSPORT_TLS, TRANSPORT_RAW_BUFFER].includes(transportProtocol))
    issues.add(
      join(path, 'transport_protocol'),
      `${transportProtocol} is ${NOT_SUPPORTED} (supported: tls, raw_buffer)`,
    );
  const destinationPort = match.destination_port;
  return {
    ...(destinationPort !== undefined ? { destinationPort: int(destinationPort, 0) } : {}),
    prefixRanges: cidrRanges(match, 'prefix_ranges', path, issues),
    serverNames: serverNames(match.server_names, join(path, 'server_names'), issues),
    transportProtocol,
    applicationProtocols: strings(match.application_protocols),
    directSourcePrefixRanges: cidrRanges(match, 'direct_source_prefix_ranges', path, issues),
    sourceType: enumField<SourceTypeModel>(
      match.source_type,
      SOURCE_TYPES,
      'ANY',
      join(path, 'source_type'),
      issues,
    ),
    sourcePrefixRanges: cidrRanges(match, 'source_prefix_ranges', path, issues),
    sourcePorts: (Array.isArray(match.source_ports) ? match.source_ports : []).map((p) =>
      int(p, 0),
    ),
  };
}

/**
 * The keys Envoy files a chain under at each level of its matching tree (an empty list is the
 * "any" key); two chains whose keys intersect at every level would both be the most specific
 * match of some connection.
 */
function levelKeys(match: FilterChainMatchModel): string[][] {
  const or = (values: readonly string[]): string[] => (values.length > 0 ? [...values] : ['']);
  const ranges = (list: readonly CidrRangeModel[]): string[] =>
    or(list.map((r) => `${r.address}/${r.prefixLen}`));
  return [
    [String(match.destinationPort ?? 0)],
    ranges(match.prefixRanges),
    or(match.serverNames.map((n) => (n.startsWith('*.') ? n.slice(1) : n))),
    [match.transportProtocol],
    or(match.applicationProtocols),
    ranges(match.directSourcePrefixRanges),
    [match.sourceType],
    ranges(match.sourcePrefixRanges),
    or(match.sourcePorts.map(String)),
  ];
}

function overlaps(a: readonly string[][], b: readonly string[][]): boolean {
  return a.every((keys, level) => keys.some((key) => b[level]!.includes(key)));
}

/**
 * Envoy refuses a listener with two chains of identical filter_chain_match ("has the same
 * matching rules defined as") or with overlapping ones ("multiple filter chains with overlapping
 * matching rules are defined"): either would make the choice between them arbitrary.
 * `raw[i]` is chain i's filter_chain_match as received (identity is decided on it, as Envoy
 * compares the messages).
 */
export function checkDistinctMatches(
  raw: readonly (JsonObject | undefined)[],
  matches: readonly FilterChainMatchModel[],
  issues: Issues,
): void {
  const identical = new Map<string, number>();
  const keys = matches.map(levelKeys);
  matches.forEach((_, i) => {
    const path = join('filter_chains', i);
    const text = sortedKeysJson(raw[i] ?? {});
    const first = identical.get(text);
    if (first !== undefined) {
      issues.add(
        path,
        `has the same filter_chain_match as filter_chains[${first}] (Envoy: filter chains with the same matching rules)`,
      );
      return;
    }
    identical.set(text, i);
    const other = keys.findIndex((k, j) => j < i && overlaps(k, keys[i]!));
    if (other >= 0)
      issues.add(
        path,
        `its filter_chain_match overlaps filter_chains[${other}]'s: a connection could match both equally (Envoy: multiple filter chains with overlapping matching rules)`,
      );
  });
}

/** The filter_chain_match fields a chain sets that only a listener filter can give a value. */
export function detectedFieldsUsed(
  match: FilterChainMatchModel,
): ('server_names' | 'transport_protocol' | 'application_protocols')[] {
  const used: ('server_names' | 'transport_protocol' | 'application_protocols')[] = [];
  if (match.serverNames.length > 0) used.push('server_names');
  if (match.transportProtocol === TRANSPORT_TLS) used.push('transport_protocol');
  if (match.applicationProtocols.length > 0) used.push('application_protocols');
  return used;
}
