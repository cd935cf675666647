/**
 * Name resolution for STRICT_DNS and LOGICAL_DNS clusters. Uses dns.lookup (getaddrinfo, so
 * /etc/hosts and the system resolver apply, as Envoy's default getaddrinfo resolver does).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClusterModel, LocalityEndpointsModel } from '../config/model.js';

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

/**
 * A STRICT_DNS / LOGICAL_DNS cluster's localities with every endpoint name replaced by the
 * addresses it resolves to (LOGICAL_DNS: the first only); `hostname` keeps the name
 * (auto_host_rewrite). Rejects when a name does not resolve. Used by the workers' load balancing
 * and the primary's health checks alike, so both key hosts the same way.
 */
export async function resolveLocalities(
  model: Pick<ClusterModel, 'type' | 'dnsLookupFamily' | 'localities'>,
  resolve: typeof resolveHost = resolveHost,
): Promise<LocalityEndpointsModel[]> {
  const logical = model.type === 'LOGICAL_DNS';
  return Promise.all(
    model.localities.map(async (locality) => {
      const endpoints = await Promise.all(
        locality.endpoints.map(async (endpoint) => {
          const addresses = await resolve(endpoint.host, model.dnsLookupFamily);
          const used = logical ? addresses.slice(0, 1) : addresses;
          return used.map((address) => ({
            ...endpoint,
            host: address,
            hostname: endpoint.hostname !== '' ? endpoint.hostname : endpoint.host,
          }));
        }),
      );
      return { ...locality, endpoints: endpoints.flat() };
    }),
  );
}
