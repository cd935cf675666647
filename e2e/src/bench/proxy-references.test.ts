/**
 * The bench's reference proxies (splice-proxy.ts, undici-proxy.ts) relay faithfully: started as
 * the bench starts them, in front of a node:http backend on loopback. A yardstick that corrupts
 * or drops bytes would measure nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startServer, stopServer, waitForPort } from './proxy-processes.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
// More than loopback's socket buffers hold, so a slow client makes the proxy's writes wait.
const BIG = crypto.randomBytes(16 * 1024 * 1024);

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request; `slow` reads one chunk per timer turn, so the proxy's writes back up. */
function fetch(
  port: number,
  urlPath: string,
  options: { method?: string; body?: Buffer; slow?: boolean; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (options.slow === true) {
            res.pause();
            setTimeout(() => res.resume(), 1);
          }
        });
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`${urlPath}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

for (const script of ['splice-proxy.js', 'undici-proxy.js']) {
  describe(script, () => {
    let backend: http.Server;
    let proxy: ChildProcess;
    let port: number;
    let dir: string;

    before(async () => {
      backend = http.createServer((req, res) => {
        if (req.url === '/close') {
          // A body delimited by the end of the connection: only the close ends the response.
          req.socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello');
          return;
        }
        if (req.url === '/echo') {
          const chunks: Buffer[] = [];
          req.on('data', (chunk: Buffer) => chunks.push(chunk));
          req.on('end', () => {
            const body = Buffer.concat(chunks);
            res
              .writeHead(200, {
                'content-length': String(body.length),
                'set-cookie': ['a=1', 'b=2'],
              })
              .end(body);
          });
          return;
        }
        res.writeHead(200, { 'content-length': String(BIG.length) }).end(BIG);
      });
      await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-ref-'));
      port = await freePort();
      const backendPort = (backend.address() as { port: number }).port;
      proxy = startServer({
        name: script,
        command: process.execPath,
        args: [path.join(benchDir, script), String(port), String(backendPort), '2'],
        logFile: path.join(dir, 'proxy.log'),
      });
      await waitForPort(port, 15_000);
    });

    after(async () => {
      await stopServer(proxy);
      backend.closeAllConnections();
      await new Promise<void>((resolve) => backend.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('a large response to a slow client arrives intact', async () => {
      const reply = await fetch(port, '/big', { slow: true });
      assert.equal(reply.status, 200);
      assert.equal(reply.body.length, BIG.length);
      assert.ok(reply.body.equals(BIG), 'the body differs from what the backend sent');
    });

    test('keep-alive requests in a row on one connection', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 3; i++) {
          const reply = await fetch(port, '/big', { agent });
          assert.ok(reply.body.equals(BIG), `request ${i}: the body differs`);
        }
      } finally {
        agent.destroy();
      }
    });

    test('a request body goes upstream and repeated response headers come back', async () => {
      const body = BIG.subarray(0, 300_000);
      const reply = await fetch(port, '/echo', { method: 'POST', body });
      assert.equal(reply.status, 200);
      assert.ok(reply.body.equals(body), 'the echoed body differs');
      assert.deepEqual(reply.headers['set-cookie'], ['a=1', 'b=2']);
    });

    test('the backend closing its connection ends the response', async () => {
      const reply = await fetch(port, '/close');
      assert.equal(reply.status, 200);
      assert.equal(reply.body.toString(), 'hello');
    });

    test('wrong arguments are a usage error', () => {
      const run = spawnSync(process.execPath, [path.join(benchDir, script), 'x'], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 2);
      assert.match(run.stderr, /^usage: node /);
    });
  });
}
