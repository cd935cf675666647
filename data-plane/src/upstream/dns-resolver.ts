/**
 * Name resolution for STRICT_DNS and LOGICAL_DNS clusters. Uses dns.lookup (getaddrinfo, so
 * /etc/hosts and the system resolver apply, as Envoy's default getaddrinfo resolver does).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClusterModel } from '../config/model.js';

function familyOption(family: ClusterModel['dnsLookupFamily']): 0 | 4 | 6 {
  if (family === 'V4_ONLY') return 4;
  if (family === 'V6_ONLY') return 6;
  return 0;
}

/**
 * Addresses for one endpoint name. STRICT_DNS uses all of them, LOGICAL_DNS only the first.
 * IP literals resolve to themselves without a lookup. Rejects when the name does not resolve.
 */
export async function resolveHost(
  name: string,
  family: ClusterModel['dnsLookupFamily'],
): Promise<string[]> {
  if (isIP(name) !== 0) return [name];
  const results = await lookup(name, { all: true, family: familyOption(family) });
  let addresses = results.map((r) => r.address);
  if (family === 'V4_PREFERRED') {
    const v4 = results.filter((r) => r.family === 4).map((r) => r.address);
    if (v4.length > 0) addresses = v4;
  }
  return addresses;
}
