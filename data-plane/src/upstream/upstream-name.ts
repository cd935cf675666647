/**
 * auto_sni / auto_san_validation (HttpProtocolOptions.upstream_http_protocol_options): the name
 * an upstream connection is opened for, taken per request as Envoy's router does. The name is
 * the request's Host/:authority as the upstream gets it (after the route's host rewrite), or the
 * override_auto_sni_header when present and non-empty, without its port. An IP address sets no
 * SNI (SNI carries DNS names only) but is still the name auto_san_validation checks.
 */
import { isIP } from 'node:net';
import type { ClusterModel } from '../config/model.js';
import type { UpstreamConnectionName } from './upstream-pool.js';

/** The host part of an authority (`[v6]:port`, `name:port`, `name`), brackets removed. */
export function authorityHost(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end > 0 ? authority.slice(1, end) : authority;
  }
  const colon = authority.lastIndexOf(':');
  // More than one colon without brackets: a bare IPv6 address, not host:port.
  if (colon < 0 || authority.indexOf(':') !== colon) return authority;
  return authority.slice(0, colon);
}

/**
 * The name for a request to `cluster`, or undefined when the cluster does not take names from
 * requests (then every connection uses the configured sni). `authority` is the Host the upstream
 * request carries; `header` reads a request header.
 */
export function upstreamConnectionName(
  cluster: ClusterModel,
  headers: { get(name: string): string | undefined },
  authority: string = headers.get('host') ?? '',
): UpstreamConnectionName | undefined {
  const options = cluster.upstreamHostName;
  if (options === undefined || cluster.tls === undefined) return undefined;
  let value = authority;
  if (options.header !== '') {
    const override = headers.get(options.header);
    if (override !== undefined && override !== '') value = override;
  }
  const host = authorityHost(value).toLowerCase();
  if (host === '') return undefined;
  return {
    ...(options.autoSni && isIP(host) === 0 ? { sni: host } : {}),
    ...(options.autoSanValidation ? { san: host } : {}),
  };
}

/** The key of a pool for `name` (pools are kept per name). */
export function connectionNameKey(name: UpstreamConnectionName): string {
  return `${name.sni ?? ''}|${name.san ?? ''}`;
}
