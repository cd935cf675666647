/**
 * Reference point of the proxy bench, not a product: the plain Node reverse proxy, a node:http
 * server forwarding each request through an undici Pool (the HTTP client of ferry-proxy's
 * upstream pools) and streaming the response back. No routing, stats or header rewriting beyond
 * dropping hop-by-hop headers; an upstream failure is a 502 or a reset.
 *
 * Usage: node undici-proxy.js LISTEN_PORT BACKEND_PORT WORKERS (node:cluster workers, as
 * ferry-proxy runs its own).
 */
import cluster from 'node:cluster';
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const [listenPort, backendPort, workers] = process.argv.slice(2, 5).map(Number);

/** Connection-scoped headers (RFC 9110 section 7.6.1 and 7.8), never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The request's [name, value, ...] without hop-by-hop headers. */
function requestHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2)
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** undici's response headers (lower-case names) as [name, value, ...] without hop-by-hop ones. */
function responseHeaders(headers: Dispatcher.StreamFactoryData['headers']): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const item of value) out.push(name, item);
  }
  return out;
}

function serve(pool: Pool, req: http.IncomingMessage, res: http.ServerResponse): void {
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] ?? '0') !== '0';
  const options: Dispatcher.RequestOptions = {
    path: req.url!,
    method: req.method as Dispatcher.HttpMethod,
    headers: requestHeaders(req.rawHeaders),
    body: hasBody ? req : null,
  };
  const onResponse = ({ statusCode, headers }: Dispatcher.StreamFactoryData): http.ServerResponse =>
    res.writeHead(statusCode, responseHeaders(headers));
  pool.stream(options, onResponse, (err) => {
    if (err === null) return;
    if (res.headersSent) res.destroy();
    else res.writeHead(502, { 'content-length': '0' }).end();
  });
}

if (!Number.isInteger(listenPort) || !Number.isInteger(backendPort) || !(workers! >= 1)) {
  process.stderr.write('usage: node undici-proxy.js LISTEN_PORT BACKEND_PORT WORKERS\n');
  process.exit(2);
} else if (cluster.isPrimary) {
  for (let i = 0; i < workers!; i++) cluster.fork();
} else {
  const pool = new Pool(`http://127.0.0.1:${backendPort}`);
  // Client connections stay open as long as the bench's nginx and HAProxy keep theirs.
  http
    .createServer({ keepAliveTimeout: 300_000 }, (req, res) => serve(pool, req, res))
    .listen(listenPort, '127.0.0.1');
}
