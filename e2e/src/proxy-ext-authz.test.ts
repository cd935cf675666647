/**
 * envoy.filters.http.ext_authz end to end, with real processes on loopback: control plane ←
 * ferryctl apply → ADS → ferry-proxy → an echo backend, and an authorization service in its own
 * process (ext-authz-service.ts: the gRPC Authorization service and a raw HTTP service, deciding
 * by the x-authz request header). Four listeners:
 * - grpc: ext_authz with the gRPC service, with_request_body, context_extensions on the virtual
 *   host and on /ctx, disabled on /public, an access log of flags and response code details;
 * - http: ext_authz with the HTTP service (path_prefix, allowed headers, upstream and client
 *   headers from the service), with_request_body;
 * - open / closed: a gRPC service that is down (connection refused), with failure_mode_allow
 *   (and its header) and with status_on_error 503.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { refusedPort } from '@ferry/shared/testing/refused-port';
import {
  eventually,
  ferryctl,
  freePort,
  hcmFilter,
  listenerResource,
  proxyBootstrap,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  tempDir,
  type ControlPlane,
  type Json,
  type Proxy,
} from './harness.js';

const T = 'type.googleapis.com/';
const EXT_AUTHZ = `${T}envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`;
const PER_ROUTE = `${T}envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute`;
const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` },
};
const SERVICE_SCRIPT = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'ext-authz-service.js',
);

interface AuthService {
  readonly proc: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
}

/** Starts ext-authz-service.js and reads the ports it printed. */
async function startAuthService(): Promise<AuthService> {
  const proc = spawn(process.execPath, [SERVICE_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
  const ports = await new Promise<{ grpcPort: number; httpPort: number }>((resolve, reject) => {
    const onExit = (code: number | null): void =>
      reject(new Error(`the authorization service exited (${code}): ${stderr.join('')}`));
    proc.once('exit', onExit);
    readline.createInterface({ input: proc.stdout }).once('line', (line) => {
      proc.off('exit', onExit);
      resolve(JSON.parse(line) as { grpcPort: number; httpPort: number });
    });
  });
  return { proc, ...ports };
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function startEcho(): Promise<{ port: number; seen: Seen[]; close(): void }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('echo');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

interface Result {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  port: number,
  urlPath: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method: options.method ?? 'GET',
        agent: false,
        headers: options.headers,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function extAuthz(name: string, config: Json): Json {
  return { name, typed_config: { '@type': EXT_AUTHZ, ...config } };
}

function perRoute(config: Json): Json {
  return { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE, ...config } };
}

function routeConfig(routes: Json[], vhostExtra: Json = {}): Json {
  return {
    name: 'local',
    virtual_hosts: [{ name: 'all', domains: ['*'], routes, ...vhostExtra }],
  };
}

const TO_ECHO = { route: { cluster: 'echo' } };

describe('ferry-proxy ext_authz', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let auth: AuthService;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let logPath: string;
  const port = { grpc: 0, http: 0, open: 0, closed: 0 };

  before(async () => {
    [cp, auth, echo] = await Promise.all([startControlPlane(), startAuthService(), startEcho()]);
    for (const key of Object.keys(port) as (keyof typeof port)[]) port[key] = await freePort();
    logPath = path.join(tempDir('ext-authz-log'), 'access.log');
    const down = await refusedPort();
    const grpcListener = listenerResource('grpc', port.grpc, [
      {
        filters: [
          hcmFilter(
            {
              routeConfig: routeConfig(
                [
                  {
                    match: { prefix: '/public' },
                    ...TO_ECHO,
                    typed_per_filter_config: perRoute({ disabled: true }),
                  },
                  {
                    match: { prefix: '/ctx' },
                    ...TO_ECHO,
                    typed_per_filter_config: perRoute({
                      check_settings: { context_extensions: { tier: 'route', route: 'ctx' } },
                    }),
                  },
                  { match: { prefix: '/' }, ...TO_ECHO },
                ],
                {
                  typed_per_filter_config: perRoute({
                    check_settings: { context_extensions: { tier: 'vhost', vhost: 'main' } },
                  }),
                },
              ),
            },
            {
              stat_prefix: 'grpc_authz',
              access_log: [
                {
                  name: 'envoy.access_loggers.file',
                  typed_config: {
                    '@type': `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
                    path: logPath,
                    log_format: {
                      text_format:
                        '%REQ(X-TEST-ID)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n',
                    },
                  },
                },
              ],
              http_filters: [
                extAuthz('envoy.filters.http.ext_authz', {
                  grpc_service: { envoy_grpc: { cluster_name: 'authz-grpc' }, timeout: '3s' },
                  transport_api_version: 'V3',
                  with_request_body: { max_request_bytes: 1024 },
                  stat_prefix: 'edge',
                }),
                ROUTER,
              ],
            },
          ),
        ],
      },
    ]);
    const httpListener = listenerResource('http', port.http, [
      {
        filters: [
          hcmFilter(
            { routeConfig: routeConfig([{ match: { prefix: '/' }, ...TO_ECHO }]) },
            {
              stat_prefix: 'http_authz',
              http_filters: [
                extAuthz('envoy.filters.http.ext_authz', {
                  http_service: {
                    server_uri: { uri: 'http://authz-http', cluster: 'authz-http', timeout: '3s' },
                    path_prefix: '/auth',
                    authorization_request: {
                      allowed_headers: { patterns: [{ exact: 'x-authz' }, { exact: 'x-user' }] },
                    },
                    authorization_response: {
                      allowed_upstream_headers: { patterns: [{ prefix: 'x-auth-' }] },
                      allowed_client_headers_on_success: {
                        patterns: [{ exact: 'x-auth-checked' }],
                      },
                    },
                  },
                  with_request_body: { max_request_bytes: 1024 },
                }),
                ROUTER,
              ],
            },
          ),
        ],
      },
    ]);
    const downListener = (name: string, listenPort: number, config: Json): Json =>
      listenerResource(name, listenPort, [
        {
          filters: [
            hcmFilter(
              { routeConfig: routeConfig([{ match: { prefix: '/' }, ...TO_ECHO }]) },
              {
                stat_prefix: name,
                http_filters: [
                  extAuthz('envoy.filters.http.ext_authz', {
                    grpc_service: { envoy_grpc: { cluster_name: 'authz-down' }, timeout: '3s' },
                    ...config,
                  }),
                  ROUTER,
                ],
              },
            ),
          ],
        },
      ]);
    const http2 = {
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    };
    const resources = [
      grpcListener,
      httpListener,
      downListener('open', port.open, {
        failure_mode_allow: true,
        failure_mode_allow_header_add: true,
      }),
      downListener('closed', port.closed, { status_on_error: { code: 'ServiceUnavailable' } }),
      staticClusterResource('echo', [echo.port]),
      staticClusterResource('authz-grpc', [auth.grpcPort], http2),
      staticClusterResource('authz-http', [auth.httpPort]),
      staticClusterResource('authz-down', [down], http2),
    ];
    const applied = await ferryctl(
      cp.apiUrl,
      ['apply', '-f', '-'],
      resources.map((r) => JSON.stringify(r)).join('\n---\n'),
    );
    assert.equal(applied.code, 0, applied.stderr);
    proxy = await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'ext-authz-e2e', xdsAddress: cp.xdsAddress }),
      concurrency: 2,
    });
    await eventually(async () => {
      // Any answer from every listener, and the echo cluster behind the unchecked route.
      await Promise.all(Object.values(port).map((p) => request(p, '/public')));
      return (await request(port.grpc, '/public')).status === 200 ? true : undefined;
    }, 'the proxy to serve the four listeners');
  });

  after(async () => {
    await stopAll();
    auth?.proc.kill('SIGKILL');
    echo?.close();
  });

  const lastSeen = (): Seen => echo.seen.at(-1)!;

  test('gRPC allow: the service’s headers reach upstream, x-secret is removed, the client gets x-auth-checked', async () => {
    const res = await request(port.grpc, '/things', {
      headers: { 'x-authz': 'allow', 'x-user': 'alice', 'x-secret': 'hunter2' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'echo');
    assert.equal(res.headers['x-auth-checked'], 'grpc');
    const seen = lastSeen();
    assert.equal(seen.url, '/things');
    assert.equal(seen.headers['x-auth-user'], 'alice');
    assert.equal(seen.headers['x-secret'], undefined);
    assert.equal(seen.headers['x-auth-context'], '{"tier":"vhost","vhost":"main"}');
  });

  test('gRPC: the request body goes to the service and then upstream', async () => {
    const res = await request(port.grpc, '/upload', {
      method: 'POST',
      headers: { 'x-authz': 'allow', 'content-type': 'text/plain' },
      body: 'hello body',
    });
    assert.equal(res.status, 200);
    const seen = lastSeen();
    assert.equal(seen.headers['x-auth-body'], 'hello body');
    assert.equal(seen.body, 'hello body');
    // Above max_request_bytes (1024) without allow_partial_message: 413, nothing goes upstream.
    const before = echo.seen.length;
    const large = await request(port.grpc, '/upload', {
      method: 'POST',
      headers: { 'x-authz': 'allow' },
      body: 'x'.repeat(4096),
    });
    assert.equal(large.status, 413);
    assert.equal(echo.seen.length, before);
  });

  test('gRPC deny: the service’s status, body and headers; nothing reaches upstream; UAEX ext_authz_denied', async () => {
    const before = echo.seen.length;
    const res = await request(port.grpc, '/things', {
      headers: { 'x-authz': 'deny', 'x-test-id': 'denied-1' },
    });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'denied by authz');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="ferry"');
    assert.equal(res.headers['x-deny-reason'], 'grpc');
    assert.equal(echo.seen.length, before);
    const line = await eventually(
      () =>
        fs.existsSync(logPath)
          ? fs
              .readFileSync(logPath, 'utf8')
              .split('\n')
              .find((l) => l.startsWith('denied-1 '))
          : undefined,
      'the access log line of the denied request',
    );
    assert.equal(line, 'denied-1 401 UAEX ext_authz_denied');
  });

  test('context extensions merge from the virtual host and the route; a disabled route is not checked', async () => {
    const ctx = await request(port.grpc, '/ctx/a', { headers: { 'x-authz': 'allow' } });
    assert.equal(ctx.status, 200);
    assert.equal(
      lastSeen().headers['x-auth-context'],
      '{"route":"ctx","tier":"route","vhost":"main"}',
    );
    const checked = await request(port.grpc, '/private');
    assert.equal(checked.status, 403, 'the service denies requests without x-authz');
    const open = await request(port.grpc, '/public/page');
    assert.equal(open.status, 200);
    assert.equal(lastSeen().headers['x-auth-user'], undefined);
  });

  test('service errors and timeouts: status_on_error (403), UAEX ext_authz_error', async () => {
    const failed = await request(port.grpc, '/x', {
      headers: { 'x-authz': 'fail', 'x-test-id': 'fail-1' },
    });
    assert.equal(failed.status, 403);
    const slow = await request(port.grpc, '/x', {
      headers: { 'x-authz': 'hang', 'x-test-id': 'hang-1' },
    });
    assert.equal(slow.status, 403);
    const lines = await eventually(() => {
      const all = fs.readFileSync(logPath, 'utf8').split('\n');
      const found = ['fail-1 ', 'hang-1 '].map((id) => all.find((l) => l.startsWith(id)));
      return found.every((l) => l !== undefined) ? found : undefined;
    }, 'the access log lines of the failed checks');
    assert.deepEqual(lines, ['fail-1 403 UAEX ext_authz_error', 'hang-1 403 UAEX ext_authz_error']);
  });

  test('HTTP service: allow sends method, prefixed path, allowed headers and body; upstream and client headers come back', async () => {
    const res = await request(port.http, '/things?q=1', {
      method: 'POST',
      headers: { 'x-authz': 'allow', 'x-user': 'bob', 'x-secret': 's', 'x-not-allowed': 'n' },
      body: 'payload',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-auth-checked'], 'http');
    const seen = lastSeen();
    assert.equal(seen.headers['x-auth-user'], 'bob');
    assert.equal(seen.headers['x-auth-request'], 'POST /auth/things?q=1');
    assert.equal(seen.headers['x-auth-body'], 'payload');
    assert.equal(seen.headers['x-secret'], undefined);
    assert.equal(seen.body, 'payload');
  });

  test('HTTP service: a non-200 answer denies with its status, body and headers', async () => {
    const res = await request(port.http, '/things', { headers: { 'x-authz': 'deny' } });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'denied by authz');
    assert.equal(res.headers['www-authenticate'], 'Basic realm="ferry"');
    assert.equal(res.headers['x-deny-reason'], 'http');
    const failed = await request(port.http, '/things', { headers: { 'x-authz': 'fail' } });
    assert.equal(failed.status, 403, 'a 5xx from the service is an error, not its answer');
  });

  test('service down: failure_mode_allow lets requests through, marked; otherwise status_on_error', async () => {
    const open = await request(port.open, '/anything');
    assert.equal(open.status, 200);
    assert.equal(lastSeen().headers['x-envoy-auth-failure-mode-allowed'], 'true');
    const closed = await request(port.closed, '/anything');
    assert.equal(closed.status, 503);
  });

  test('stats: ext_authz_ok / denied / error / failure_mode_allowed', async () => {
    /** The value of `name` for the series with these labels (0 when absent). */
    const value = (text: string, name: string, labels: Record<string, string>): number => {
      for (const line of text.split('\n')) {
        if (!line.startsWith(`ferry_${name}{`)) continue;
        const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
        if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return 0;
    };
    const text = await eventually(async () => {
      const body = await (await fetch(`${proxy.adminUrl}/stats/prometheus`)).text();
      return value(body, 'ext_authz_failure_mode_allowed', { stat_prefix: 'open' }) >= 1
        ? body
        : undefined;
    }, 'the ext_authz stats');
    const edge = { stat_prefix: 'grpc_authz', ext_authz_prefix: 'edge' };
    assert.ok(value(text, 'ext_authz_ok', edge) >= 3);
    assert.ok(value(text, 'ext_authz_denied', edge) >= 2);
    assert.ok(value(text, 'ext_authz_error', edge) >= 2);
    assert.ok(value(text, 'ext_authz_error', { stat_prefix: 'closed' }) >= 1);
  });
});
