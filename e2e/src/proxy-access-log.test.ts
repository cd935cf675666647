/**
 * ferry-proxy access logs under load with log rotation, end to end: 2 workers append to one
 * file (envoy.access_loggers.file with %REQ(X-TEST-ID)%) while a client sends a few thousand
 * requests, each with a unique id. During the load the file is renamed several times, each time
 * followed by SIGUSR1 to the proxy or POST /reopen_logs on its admin endpoint (logrotate's
 * scheme). Afterwards every id appears exactly once across all the files and no line is partial.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  eventually,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  startProxy,
  staticBootstrap,
  stopAll,
  tempDir,
  type Proxy,
} from './harness.js';

const FILE_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const REQUESTS = 3000;
const CONCURRENCY = 16;
/** A rotation after every this many completed requests (6 rotations during the load). */
const ROTATE_EVERY = 400;

let proxy: Proxy;
let listenerPort: number;
let dir: string;
let logPath: string;

before(async () => {
  dir = tempDir('access-log');
  logPath = path.join(dir, 'access.log');
  listenerPort = await freePort();
  const routeConfig = {
    name: 'main',
    virtual_hosts: [
      {
        name: 'app',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }],
      },
    ],
  };
  const accessLog = [
    {
      name: 'envoy.access_loggers.file',
      typed_config: {
        '@type': FILE_LOG,
        path: logPath,
        log_format: {
          text_format:
            '%REQ(X-TEST-ID)% %RESPONSE_CODE% %RESPONSE_FLAGS% %CONNECTION_ID% %DOWNSTREAM_REMOTE_ADDRESS%\n',
        },
      },
    },
  ];
  proxy = await startProxy({
    concurrency: 2,
    bootstrap: staticBootstrap({
      nodeId: 'access-log',
      listeners: [
        listenerResource('http', listenerPort, [
          { filters: [hcmFilter({ routeConfig }, { access_log: accessLog })] },
        ]),
      ],
      clusters: [],
    }),
  });
});

after(async () => {
  await proxy?.stop();
  await stopAll();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function get(agent: http.Agent, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: listenerPort, path: '/', agent, headers: { 'x-test-id': id } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('rotation under load (rename + SIGUSR1, rename + POST /reopen_logs) loses no line', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  let completed = 0;
  let rotations = 0;
  let rotating: Promise<void> = Promise.resolve();
  const rotate = async (): Promise<void> => {
    rotations++;
    fs.renameSync(logPath, `${logPath}.${rotations}`);
    if (rotations % 2 === 1) proxy.proc.kill('SIGUSR1');
    else {
      const res = await httpRequest(`${proxy.adminUrl}/reopen_logs`, { method: 'POST' });
      assert.equal(res.status, 200);
    }
  };
  const client = async (): Promise<void> => {
    while (next < REQUESTS) {
      const id = `id-${next++}`;
      assert.equal(await get(agent, id), 200);
      completed++;
      // Only when the file exists (a worker created it): rename needs a source.
      if (completed % ROTATE_EVERY === 0 && fs.existsSync(logPath))
        rotating = rotating.then(rotate);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  await rotating;
  agent.destroy();
  assert.ok(rotations >= 4, `rotated ${rotations} times`);

  const files = (): string[] =>
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('access.log'))
      .map((f) => path.join(dir, f));
  const readAll = (): string[] =>
    files().flatMap((f) => {
      const text = fs.readFileSync(f, 'utf8');
      assert.ok(text === '' || text.endsWith('\n'), `${f} ends with a whole line`);
      return text === '' ? [] : text.slice(0, -1).split('\n');
    });
  // Workers write asynchronously: wait until every line has reached some file.
  const lines = await eventually(() => {
    const all = readAll();
    return all.length >= REQUESTS ? all : undefined;
  }, `${REQUESTS} access log lines`);

  assert.ok(files().length >= rotations, 'the renamed files and the current one');
  const seen = new Map<string, number>();
  /** %CONNECTION_ID% → the client addresses logged with it. */
  const addresses = new Map<string, Set<string>>();
  for (const line of lines) {
    const m = /^(id-\d+) 200 DR (\d+) (127\.0\.0\.1:\d+)$/.exec(line);
    assert.ok(m, `a whole line: ${JSON.stringify(line)}`);
    seen.set(m[1]!, (seen.get(m[1]!) ?? 0) + 1);
    const set = addresses.get(m[2]!) ?? new Set<string>();
    set.add(m[3]!);
    addresses.set(m[2]!, set);
  }
  // The keep-alive connections are spread over both workers; an id names one connection in the
  // whole proxy (per-worker numbering would give two connections the same small ids).
  for (const [id, from] of addresses)
    assert.equal(from.size, 1, `connection id ${id} used by ${[...from].join(', ')}`);
  assert.equal(lines.length, REQUESTS, 'no duplicates');
  for (let i = 0; i < REQUESTS; i++) assert.equal(seen.get(`id-${i}`), 1, `id-${i} once`);
  // The newest file got lines after the last reopen; the older ones kept theirs.
  for (const f of files()) assert.ok(fs.statSync(f).size > 0, `${f} is not empty`);
});
