/**
 * Upgrade (WebSocket) pass-through: after routing, the request head is written as received to a
 * new upstream connection and the two sockets are piped both ways; the 101 (or any refusal) goes
 * back byte for byte. Envoy's upgrade_configs decide which upgrade types are allowed.
 */
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  guardRequestHead,
  Refusal,
  type CompiledHcm,
  type RequestScope,
} from './connection-manager.js';
import type { DownstreamConnectionInfo } from './codec/codec.js';
import type { RequestHeaderMap } from './header-map.js';
import { applyClientIdentity } from './client-identity.js';
import { upstreamConnectionName } from '../upstream/upstream-name.js';
import { connectUpstreamTls, upstreamTlsTarget } from '../upstream/upstream-tls.js';

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
  // Path normalization and the underscore check hold for upgrades as for every request.
  const refusal = guardRequestHead(chain.hcm, head, chain.guardStats);
  if (refusal === Refusal.PathRedirect) {
    chain.guardStats.redirectedWithNormalizedPath.inc();
    chain.downstreamRq.record(307);
    socket.end(
      `HTTP/1.1 307 Temporary Redirect\r\nlocation: ${head.path}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
    return;
  }
  if (refusal !== Refusal.None) {
    if (refusal === Refusal.PathRejected) chain.guardStats.failedPathNormalization.inc();
    chain.downstreamRq.record(400);
    refuse(socket, 400, 'Bad Request');
    return;
  }
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
      : // Same TLS context, names and checks as the cluster's HTTP/1.1 pools.
        connectUpstreamTls(
          upstreamTlsTarget(
            model.tls,
            host.hostname,
            upstreamConnectionName(model, upstreamHeaders),
          ),
          { ...options, alpn: ['http/1.1'] },
          () => onConnected(),
        );
  host.activeRequests++;
  const timer = setTimeout(
    () => upstream.destroy(new Error('connect timeout')),
    model.connectTimeoutMs || 5000,
  );
  let connected = false;
  const onConnected = (): void => {
    connected = true;
    clearTimeout(timer);
    upstream.write(headText);
    if (rest.length > 0) upstream.write(rest);
    upstream.pipe(socket);
    socket.pipe(upstream);
  };
  if (model.tls === undefined) upstream.once('connect', onConnected);
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
