/**
 * Test support for the request-path tests (proxy-*.test.ts): Envoy v3 resources written as plain
 * objects, translated with buildProxyConfig exactly as the primary does, loopback backends that
 * record what they receive, and a small HTTP/1.1 client. Not used by product code.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { createLogger } from '@ferry/shared';
import { freePort } from '@ferry/shared/testing/free-port';
import { buildProxyConfig, type JsonObject } from '../config/translate.js';
import { resourcesOf } from '../config/translate-test-fixtures.js';
import type { ProxyConfig } from '../config/model.js';

export const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = `${T}envoy.extensions.filters.http.router.v3.Router`;
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export const silentLogger = createLogger('proxy-request-path-test', 'silent');

/** A Listener on 127.0.0.1:`port` with one HCM whose inline route config has `virtualHosts`. */
export function listener(
  name: string,
  port: number,
  virtualHosts: JsonObject[],
  hcmExtra: JsonObject = {},
): JsonObject {
  return {
    '@type': 'envoy.config.listener.v3.Listener',
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              route_config: { name: `${name}-routes`, virtual_hosts: virtualHosts },
              http_filters: [
                { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } },
              ],
              ...hcmExtra,
            },
          },
        ],
      },
    ],
  };
}

/** A virtual host for every domain. */
export function anyHost(routes: JsonObject[]): JsonObject {
  return { name: 'any', domains: ['*'], routes };
}

/** A prefix route forwarding with `routeAction` (cluster, weighted_clusters, retry_policy ...). */
export function prefixRoute(prefix: string, routeAction: JsonObject): JsonObject {
  return { match: { prefix }, route: routeAction };
}

/** A cluster whose load_assignment lists `endpoints` (IPs or, for DNS types, names). */
export function cluster(
  name: string,
  endpoints: readonly { host: string; port: number }[],
  extra: JsonObject = {},
): JsonObject {
  return {
    '@type': 'envoy.config.cluster.v3.Cluster',
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: endpoints.map((e) => ({
            endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } },
          })),
        },
      ],
    },
    ...extra,
  };
}

export function local(...ports: number[]): { host: string; port: number }[] {
  return ports.map((port) => ({ host: '127.0.0.1', port }));
}

/** Translates resource documents into a ProxyConfig, failing the test on any NACK error. */
export function proxyConfig(docs: readonly JsonObject[]): ProxyConfig {
  const result = buildProxyConfig(resourcesOf(docs));
  if (!result.ok) assert.fail(result.errors.join('\n'));
  return result.value;
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly httpVersion: string;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** Records a request as a backend saw it. */
export function record(req: http.IncomingMessage): SeenRequest {
  return {
    method: req.method ?? '',
    url: req.url ?? '',
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    httpVersion: req.httpVersion,
  };
}

/**
 * An HTTP/1.1 backend on 127.0.0.1 answering `<name> <url>` with `x-backend: <name>`, or running
 * `handler` (after recording the request) when given.
 */
export async function backend(name: string, handler?: http.RequestListener): Promise<Backend> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    seen.push(record(req));
    if (handler !== undefined) {
      handler(req, res);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
    res.end(`${name} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port that was free a moment ago (for listeners that must keep a known address). */
export { freePort };

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
}

export interface RequestOptions {
  readonly path?: string;
  readonly host?: string;
  readonly method?: string;
  /** Flat `[name, value, ...]` keeps repeated names as separate header lines. */
  readonly headers?: http.OutgoingHttpHeaders | readonly string[];
  /** Default: a fresh connection per request (`agent: false`). */
  readonly agent?: http.Agent;
}

/** One HTTP/1.1 request to the proxy on 127.0.0.1:`port`. */
export function request(port: number, opts: RequestOptions = {}): Promise<Reply> {
  const host = opts.host ?? 'example.com';
  const headers: http.OutgoingHttpHeaders | string[] = Array.isArray(opts.headers)
    ? ['host', host, ...(opts.headers as string[])]
    : { host, ...(opts.headers as http.OutgoingHttpHeaders | undefined) };
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
            rawHeaders: res.rawHeaders,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export { until } from '../test-support/until.js';
