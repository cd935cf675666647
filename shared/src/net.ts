/** Parses `HOST:PORT`, `[::1]:PORT` or `:PORT`; throws a usage message naming the flag. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `${flag}: expected HOST:PORT (e.g. 127.0.0.1:18000), got ${JSON.stringify(value)}`,
    );
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/**
 * `host:port` as Envoy prints a socket address (admin /clusters, access logs) and as URLs and
 * gRPC targets want it: an IPv6 literal goes in brackets (`[::1]:80`); a host already in
 * brackets is kept. The inverse of parseHostPort. Per-host state is keyed by this string, so
 * every place that names a host:port must format it here.
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
