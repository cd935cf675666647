/**
 * Upgrade (WebSocket) pass-through: after routing, the request head is written as received to a
 * new upstream connection and the two sockets are piped both ways; the 101 (or any refusal) goes
 * back byte for byte. Envoy's upgrade_configs decide which upgrade types are allowed.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { CompiledHcm, RequestScope } from './connection-manager.js';
import type { DownstreamConnectionInfo } from './codec/codec.js';
import type { RequestHeaderMap } from './header-map.js';
import { applyClientIdentity } from './client-identity.js';

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}

/**
 * `head` is the request as the codec delivered it (hop-by-hop fields removed), `upgrade` the
 * Upgrade header's value, `rest` bytes the client sent after the head.
 */
export function proxyUpgrade(
  chain: CompiledHcm,
  scope: RequestScope,
  head: RequestHeaderMap,
  upgrade: string,
  connection: DownstreamConnectionInfo,
  socket: Duplex,
  rest: Buffer,
): void {
  socket.on('error', () => undefined);
  const upgradeType = upgrade.toLowerCase();
  const match = chain.routeTable?.match(head);
  if (match === undefined || match.action.kind !== 'route') {
    chain.downstreamRq.record(404);
    refuse(socket, 404, 'Not Found');
    return;
  }
  const allowed =
    match.action.upgradeTypes.some((t) => t.toLowerCase() === upgradeType) ||
    chain.hcm.upgradeTypes.some((t) => t.toLowerCase() === upgradeType);
  if (!allowed) {
    chain.downstreamRq.record(403);
    refuse(socket, 403, 'Forbidden');
    return;
  }
  const cluster =
    match.clusterName === undefined ? undefined : scope.clusters.get(match.clusterName);
  const host = cluster?.pickHost(undefined, undefined);
  if (cluster === undefined || host === undefined) {
    chain.downstreamRq.record(503);
    refuse(socket, 503, 'Service Unavailable');
    return;
  }
  const upstreamHeaders = head;
  applyClientIdentity(upstreamHeaders, connection.socket, chain.hcm, head.scheme);
  upstreamHeaders.set('host', match.hostRewrite(head) ?? head.authority);
  upstreamHeaders.set('connection', 'upgrade');
  upstreamHeaders.set('upgrade', upgrade);
  let headText = `${head.method} ${match.rewritePath(head.path)} HTTP/1.1\r\n`;
  for (let i = 0; i < upstreamHeaders.names.length; i++) {
    headText += `${upstreamHeaders.names[i]}: ${upstreamHeaders.values[i]}\r\n`;
  }
  headText += '\r\n';

  const model = cluster.model;
  const options = { host: host.host, port: host.port };
  const upstream: net.Socket =
    model.tls === undefined
      ? net.connect(options)
      : tls.connect({
          ...options,
          servername: model.tls.sni !== '' ? model.tls.sni : host.hostname || undefined,
          rejectUnauthorized: model.tls.trustedCaPem !== undefined,
          ca: model.tls.trustedCaPem,
          ALPNProtocols: ['http/1.1'],
        });
  host.activeRequests++;
  const timer = setTimeout(
    () => upstream.destroy(new Error('connect timeout')),
    model.connectTimeoutMs || 5000,
  );
  let connected = false;
  upstream.once(model.tls === undefined ? 'connect' : 'secureConnect', () => {
    connected = true;
    clearTimeout(timer);
    upstream.write(headText);
    if (rest.length > 0) upstream.write(rest);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  upstream.on('error', () => {
    if (!connected) {
      cluster.stats.upstreamCxConnectFail.inc();
      chain.downstreamRq.record(503);
      refuse(socket, 503, 'Service Unavailable');
    } else {
      socket.destroy();
    }
  });
  upstream.once('close', () => {
    clearTimeout(timer);
    host.activeRequests--;
    if (connected) chain.downstreamRq.record(101);
    socket.destroy();
  });
  socket.once('close', () => upstream.destroy());
}
