/**
 * The admin endpoint (Envoy's admin API, the parts ferry-proxy supports), served by the primary
 * on loopback by default (docs/architecture.md, "Security defaults"). Read-only endpoints answer
 * GET from one source each (admin-sources.ts); endpoints that change state require POST, as
 * Envoy's do, so a crawler or a stray link cannot drain a proxy.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@ferry/shared';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '../stats/prometheus.js';
import type { AdminControls, AdminSources } from './admin-sources.js';
import { renderClustersJson, renderClustersText } from './clusters.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Envoy spells some levels differently; accept both. */
const LEVEL_ALIASES: Record<string, string> = { warning: 'warn', critical: 'fatal', off: 'silent' };

const POST_ONLY = new Set([
  '/healthcheck/fail',
  '/healthcheck/ok',
  '/drain_listeners',
  '/quitquitquit',
  '/reopen_logs',
]);

const HELP = `admin commands are:
  /: this help
  /certs: print certs on machine
  /clusters: upstream cluster status (?format=json)
  /config_dump: dump current Envoy configs
  /drain_listeners (POST): drain listeners
  /healthcheck/fail (POST): cause the server to fail health checks
  /healthcheck/ok (POST): cause the server to pass health checks
  /logging: query/change logging levels (POST ?level=LEVEL)
  /quitquitquit (POST): exit the server (graceful)
  /ready: print server state, return 200 if LIVE, otherwise return 503
  /reopen_logs (POST): reopen access logs (after log rotation renamed them)
  /server_info: print server version/status information
  /stats/prometheus: print server stats in prometheus format
`;

export class AdminServer {
  private readonly server: http.Server;
  private closed = false;

  constructor(
    private readonly sources: AdminSources,
    private readonly controls: AdminControls,
    private readonly logger: Logger,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error({ err, url: req.url }, 'admin request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
        else res.destroy();
      });
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting and ends idle connections. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  destroy(): void {
    this.closed = true;
    this.server.close();
    this.server.closeAllConnections();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    const route = url.pathname;
    if (POST_ONLY.has(route) && method !== 'POST') {
      res.setHeader('allow', 'POST');
      send(res, 405, 'text/plain', `${route}: this endpoint requires POST\n`);
      return;
    }
    const { sources, controls } = this;
    switch (route) {
      case '/':
      case '/help':
        send(res, 200, 'text/plain', HELP);
        return;
      case '/ready': {
        const state = sources.serverInfo.state();
        send(res, state === 'LIVE' ? 200 : 503, 'text/plain', `${state}\n`);
        return;
      }
      case '/server_info':
        sendJson(res, 200, sources.serverInfo.info());
        return;
      case '/config_dump':
        sendJson(res, 200, sources.configDump.dump());
        return;
      case '/certs':
        sendJson(res, 200, sources.certs.dump());
        return;
      case '/clusters': {
        const rows = await sources.clusters.rows();
        if (url.searchParams.get('format') === 'json') sendJson(res, 200, renderClustersJson(rows));
        else send(res, 200, 'text/plain', renderClustersText(rows));
        return;
      }
      case '/stats/prometheus':
        send(res, 200, PROMETHEUS_CONTENT_TYPE, renderPrometheus(await sources.stats.snapshot()));
        return;
      case '/healthcheck/fail':
        controls.setHealthcheckFailing(true);
        send(res, 200, 'text/plain', 'OK\n');
        return;
      case '/healthcheck/ok':
        controls.setHealthcheckFailing(false);
        send(res, 200, 'text/plain', 'OK\n');
        return;
      case '/drain_listeners':
        controls.drainListeners();
        send(res, 200, 'text/plain', 'OK\n');
        return;
      case '/reopen_logs':
        controls.reopenLogs();
        send(res, 200, 'text/plain', 'OK\n');
        return;
      case '/quitquitquit':
        send(res, 200, 'text/plain', 'OK\n');
        // After the response is flushed: the caller learns the request was taken.
        res.once('finish', () => controls.quit());
        return;
      case '/logging':
        this.logging(method, url, res);
        return;
      default:
        send(res, 404, 'text/plain', `invalid path: ${route}\n\n${HELP}`);
    }
  }

  private logging(method: string, url: URL, res: http.ServerResponse): void {
    const requested = url.searchParams.get('level');
    if (requested !== null) {
      if (method !== 'POST') {
        res.setHeader('allow', 'POST');
        send(res, 405, 'text/plain', '/logging: changing the level requires POST\n');
        return;
      }
      const level = LEVEL_ALIASES[requested] ?? requested;
      if (!LOG_LEVELS.includes(level)) {
        send(
          res,
          400,
          'text/plain',
          `/logging: unknown level ${JSON.stringify(requested)}; use one of ${LOG_LEVELS.join(', ')}\n`,
        );
        return;
      }
      this.controls.setLogLevel(level);
    }
    const level = this.controls.logLevel();
    send(res, 200, 'text/plain', `active loggers:\n  ferry-proxy: ${level}\n`);
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache, max-age=0' });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body, null, 2) + '\n');
}
