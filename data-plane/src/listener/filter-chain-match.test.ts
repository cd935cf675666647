/**
 * Filter chain selection, table-driven, with chains written as Envoy's filter_chain_match JSON
 * (translated as the proxy translates them). The cases follow Envoy's FilterChainMatch
 * documentation: its order of criteria, "most specific wins" per criterion, the SNI example
 * (www.example.com → *.example.com → *.com → no server_names), the destination-port example
 * ("filter chains specifying the wrong port can never be the most specific match") and the
 * absence of backtracking.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../config/translate-common.js';
import { translateFilterChainMatch } from '../config/translate-filter-chain-match.js';
import type { ConnectionProperties } from './connection-properties.js';
import { FilterChainMatcher } from './filter-chain-match.js';

type Chains = Record<string, JsonObject>;

interface Case {
  readonly name: string;
  readonly chains: Chains;
  /** The connection (defaults: 10.0.0.1:443 ← 10.9.9.9:50000, raw_buffer, no SNI/ALPN). */
  readonly connection: Partial<ConnectionProperties>;
  /** The chain chosen; undefined: none (the default chain, or the connection is closed). */
  readonly expected: string | undefined;
}

const cidr = (range: string): JsonObject => {
  const [address, len] = range.split('/');
  return { address_prefix: address!, prefix_len: Number(len) };
};

const CASES: readonly Case[] = [
  // 1. Destination port.
  {
    name: 'port: the chain naming the connection’s port wins over one without a port',
    chains: { p443: { destination_port: 443 }, any: {} },
    connection: { localPort: 443 },
    expected: 'p443',
  },
  {
    name: 'port: without a chain for the port, chains without a port match',
    chains: { p443: { destination_port: 443 }, any: {} },
    connection: { localPort: 8080 },
    expected: 'any',
  },
  {
    name: 'port: a chain with the wrong port can never match',
    chains: { p8443: { destination_port: 8443 } },
    connection: { localPort: 443 },
    expected: undefined,
  },
  // 2. Destination IP.
  {
    name: 'destination IP: the longest containing prefix wins',
    chains: {
      wide: { prefix_ranges: [cidr('10.0.0.0/8')] },
      narrow: { prefix_ranges: [cidr('10.1.0.0/16')] },
      any: {},
    },
    connection: { localAddress: '10.1.2.3' },
    expected: 'narrow',
  },
  {
    name: 'destination IP: a shorter prefix when the longer one does not contain it',
    chains: {
      wide: { prefix_ranges: [cidr('10.0.0.0/8')] },
      narrow: { prefix_ranges: [cidr('10.1.0.0/16')] },
      any: {},
    },
    connection: { localAddress: '10.2.0.1' },
    expected: 'wide',
  },
  {
    name: 'destination IP: no prefix contains it, chains without ranges match',
    chains: { wide: { prefix_ranges: [cidr('10.0.0.0/8')] }, any: {} },
    connection: { localAddress: '192.168.1.1' },
    expected: 'any',
  },
  {
    name: 'destination IP: an IPv6 range, the address given in full',
    chains: { v6: { prefix_ranges: [cidr('2001:db8::/32')] }, any: {} },
    connection: { localAddress: '2001:0db8:0000:0000:0000:0000:0000:0001' },
    expected: 'v6',
  },
  // 3. Server name: Envoy's SNI example.
  ...(['www.example.com', 'api.example.com', 'example.com', 'example.org', ''] as const).map(
    (serverName, i): Case => ({
      name: `server name: ${serverName || 'no SNI'} → ${['exact', 'wildcard', 'tld', 'any', 'any'][i]}`,
      chains: {
        exact: { server_names: ['www.example.com'] },
        wildcard: { server_names: ['*.example.com'] },
        tld: { server_names: ['*.com'] },
        any: {},
      },
      connection: { serverName, transportProtocol: 'tls' },
      expected: ['exact', 'wildcard', 'tld', 'any', 'any'][i],
    }),
  ),
  {
    name: 'server name: the longest wildcard suffix wins over a shorter one',
    chains: {
      shallow: { server_names: ['*.example.com'] },
      deep: { server_names: ['*.eu.example.com'] },
    },
    connection: { serverName: 'shop.eu.example.com' },
    expected: 'deep',
  },
  {
    name: 'server name: a wildcard matches several labels',
    chains: { wildcard: { server_names: ['*.example.com'] } },
    connection: { serverName: 'a.b.example.com' },
    expected: 'wildcard',
  },
  {
    name: 'server name: a chain lists several names (Envoy’s SNI FAQ example)',
    chains: {
      site: { server_names: ['example.com', 'www.example.com'] },
      api: { server_names: ['api.example.com'] },
    },
    connection: { serverName: 'example.com' },
    expected: 'site',
  },
  {
    name: 'server name: no SNI and every chain needs one',
    chains: { a: { server_names: ['a.test'] } },
    connection: { serverName: '' },
    expected: undefined,
  },
  // 4. Transport protocol.
  {
    name: 'transport protocol: "tls" for a TLS connection',
    chains: { tls: { transport_protocol: 'tls' }, raw: { transport_protocol: 'raw_buffer' } },
    connection: { transportProtocol: 'tls' },
    expected: 'tls',
  },
  {
    name: 'transport protocol: "raw_buffer" for anything else',
    chains: { tls: { transport_protocol: 'tls' }, raw: { transport_protocol: 'raw_buffer' } },
    connection: { transportProtocol: 'raw_buffer' },
    expected: 'raw',
  },
  {
    name: 'transport protocol: an exact one wins over none',
    chains: { tls: { transport_protocol: 'tls' }, any: {} },
    connection: { transportProtocol: 'tls' },
    expected: 'tls',
  },
  // 5. Application protocols.
  {
    name: 'ALPN: the first protocol the client offers that a chain lists',
    chains: {
      h2: { application_protocols: ['h2'] },
      h1: { application_protocols: ['http/1.1'] },
      any: {},
    },
    connection: { applicationProtocols: ['http/1.1', 'h2'] },
    expected: 'h1',
  },
  {
    name: 'ALPN: nothing listed is offered, chains without protocols match',
    chains: { h2: { application_protocols: ['h2'] }, any: {} },
    connection: { applicationProtocols: ['h3'] },
    expected: 'any',
  },
  // 6. Directly connected source IP.
  {
    name: 'direct source IP: the longest prefix wins',
    chains: {
      lan: { direct_source_prefix_ranges: [cidr('10.0.0.0/8')] },
      host: { direct_source_prefix_ranges: [cidr('10.9.9.9/32')] },
    },
    connection: { remoteAddress: '10.9.9.9' },
    expected: 'host',
  },
  // 7. Source type.
  {
    name: 'source type: a loopback client is SAME_IP_OR_LOOPBACK',
    chains: {
      local: { source_type: 'SAME_IP_OR_LOOPBACK' },
      external: { source_type: 'EXTERNAL' },
    },
    connection: { localAddress: '127.0.0.1', remoteAddress: '127.0.0.1' },
    expected: 'local',
  },
  {
    name: 'source type: a client on the listener’s own address is SAME_IP_OR_LOOPBACK',
    chains: { local: { source_type: 'SAME_IP_OR_LOOPBACK' }, any: {} },
    connection: { localAddress: '10.0.0.1', remoteAddress: '10.0.0.1' },
    expected: 'local',
  },
  {
    name: 'source type: another host is EXTERNAL',
    chains: {
      local: { source_type: 'SAME_IP_OR_LOOPBACK' },
      external: { source_type: 'EXTERNAL' },
    },
    connection: { remoteAddress: '10.9.9.9' },
    expected: 'external',
  },
  {
    name: 'source type: a local client without a local chain falls back to ANY, not EXTERNAL',
    chains: { external: { source_type: 'EXTERNAL' }, any: {} },
    connection: { remoteAddress: '::1', localAddress: '::1' },
    expected: 'any',
  },
  // 8. Source IP.
  {
    name: 'source IP: the client’s range is chosen; another range is not',
    chains: {
      loopback: { source_prefix_ranges: [cidr('127.0.0.1/32')] },
      office: { source_prefix_ranges: [cidr('192.0.2.0/24')] },
    },
    connection: { remoteAddress: '127.0.0.1' },
    expected: 'loopback',
  },
  {
    name: 'source IP: no range contains the client and none is catch-all',
    chains: { office: { source_prefix_ranges: [cidr('192.0.2.0/24')] } },
    connection: { remoteAddress: '127.0.0.1' },
    expected: undefined,
  },
  {
    name: 'source IP: an IPv4-mapped IPv6 client matches IPv4 ranges',
    chains: { loopback: { source_prefix_ranges: [cidr('127.0.0.0/8')] } },
    connection: { remoteAddress: '::ffff:127.0.0.5' },
    expected: 'loopback',
  },
  // 9. Source port.
  {
    name: 'source port: the exact port wins over none',
    chains: { port: { source_ports: [50000] }, any: {} },
    connection: { remotePort: 50000 },
    expected: 'port',
  },
  {
    name: 'source port: another port falls back to chains without ports',
    chains: { port: { source_ports: [50000] }, any: {} },
    connection: { remotePort: 40000 },
    expected: 'any',
  },
  // Order of criteria and no backtracking.
  {
    name: 'order: destination port is decided before server name',
    chains: {
      byPort: { destination_port: 443 },
      byName: { server_names: ['a.test'] },
    },
    connection: { localPort: 443, serverName: 'a.test' },
    expected: 'byPort',
  },
  {
    name: 'no backtracking: the port’s chain fails on SNI, the other chain is not tried',
    chains: {
      byPort: { destination_port: 443, server_names: ['a.test'] },
      other: { server_names: ['b.test'] },
    },
    connection: { localPort: 443, serverName: 'b.test' },
    expected: undefined,
  },
  {
    name: 'no backtracking: the most specific SNI chain fails on source IP',
    chains: {
      exact: { server_names: ['a.test'], source_prefix_ranges: [cidr('192.0.2.0/24')] },
      wildcard: { server_names: ['*.test'] },
    },
    connection: { serverName: 'a.test', remoteAddress: '127.0.0.1' },
    expected: undefined,
  },
  {
    name: 'every criterion at once',
    chains: {
      full: {
        destination_port: 443,
        prefix_ranges: [cidr('10.0.0.0/24')],
        server_names: ['a.test'],
        transport_protocol: 'tls',
        application_protocols: ['h2'],
        direct_source_prefix_ranges: [cidr('10.9.0.0/16')],
        source_type: 'EXTERNAL',
        source_prefix_ranges: [cidr('10.9.9.0/24')],
        source_ports: [50000],
      },
      any: {},
    },
    connection: {
      serverName: 'a.test',
      transportProtocol: 'tls',
      applicationProtocols: ['h2'],
    },
    expected: 'full',
  },
];

function select(chains: Chains, connection: Partial<ConnectionProperties>): string | undefined {
  const names = Object.keys(chains);
  const issues = new Issues('test');
  const models = names.map((name) => translateFilterChainMatch(chains[name], name, issues));
  assert.deepEqual(issues.errors, []);
  const index = new FilterChainMatcher(models).match({
    localAddress: '10.0.0.1',
    localPort: 443,
    remoteAddress: '10.9.9.9',
    remotePort: 50000,
    serverName: '',
    transportProtocol: 'raw_buffer',
    applicationProtocols: [],
    ...connection,
  });
  return index < 0 ? undefined : names[index];
}

describe('FilterChainMatcher', () => {
  for (const c of CASES) {
    test(c.name, () => {
      assert.equal(select(c.chains, c.connection), c.expected);
    });
  }
});
