/**
 * Upgrade (WebSocket) pass-through: after routing, the request head is written as received to a
 * new upstream connection and the two sockets are piped both ways; the 101 (or any refusal) goes
 * back byte for byte. Envoy's upgrade_configs decide which upgrade types are allowed.
 */
import type { IncomingMessage } from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { CompiledChain, RequestScope } from './forwarder.js';
import { copyForwardableHeaders, HeaderMap } from './header-map.js';
import { applyClientIdentity } from './client-identity.js';

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}

export function proxyUpgrade(
  chain: CompiledChain,
  scope: RequestScope,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  socket.on('error', () => undefined);
  const upgradeType = (req.headers.upgrade ?? '').toLowerCase();
  const headers = req.headers;
  const authority = (headers.host ?? '').toLowerCase();
  const lookup = {
    get: (name: string): string | undefined => {
      const value = headers[name];
      return Array.isArray(value) ? value.join(',') : value;
    },
  };
  const routeRequest = {
    authority,
    path: req.url ?? '/',
    method: req.method ?? 'GET',
    headers: lookup,
  };
  const match = chain.routeTable?.match(routeRequest);
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
  const upstreamHeaders = new HeaderMap();
  copyForwardableHeaders(req.rawHeaders, upstreamHeaders);
  const scheme = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  applyClientIdentity(upstreamHeaders, req, chain.hcm, scheme);
  upstreamHeaders.set('host', match.hostRewrite(lookup) ?? headers.host ?? '');
  upstreamHeaders.set('connection', 'upgrade');
  upstreamHeaders.set('upgrade', req.headers.upgrade ?? upgradeType);
  let headText = `${req.method} ${match.rewritePath(req.url ?? '/')} HTTP/1.1\r\n`;
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
    if (head.length > 0) upstream.write(head);
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
