import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryStore } from '../store/store-memory.js';
import { Authenticator } from '../api/authenticator.js';
import { HttpApi } from '../api/http-api.js';
import { ManagementService } from '../api/management-service.js';
import { HealthAggregate } from '../health/health-aggregate.js';
import type { HealthJson } from '../health/health-json.js';

const BIN = fileURLToPath(new URL('../../bin/ferryctl', import.meta.url));

function ferryctl(
  args: string[],
  server: string,
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--server', server, ...args], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

describe('ferryctl health', () => {
  let api: HttpApi;
  let server: string;
  const health = new HealthAggregate({ now: () => Date.UTC(2026, 0, 1) });

  before(async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    api = new HttpApi({
      service,
      authenticator: new Authenticator({ tokens: service.tokens, openOnLoopback: true }),
      health,
    });
    const { port } = await api.listen('127.0.0.1', 0);
    server = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await api.close();
  });

  test('says so when nothing was reported', async () => {
    const run = await ferryctl(['health'], server);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /no health reports/);
  });

  test('shows the aggregate and each proxy view; -o json and --group filter', async () => {
    health.report('p1', 'edge', [
      {
        cluster: 'web',
        endpoints: new Map([
          ['10.0.0.1:80', 'HEALTHY'],
          ['10.0.0.2:80', 'UNHEALTHY'],
        ]),
      },
    ]);
    health.report('p2', 'internal', [
      { cluster: 'api', endpoints: new Map([['10.0.1.1:80', 'HEALTHY']]) },
    ]);
    const table = await ferryctl(['health'], server);
    assert.equal(table.code, 0);
    assert.match(
      table.stdout,
      /edge\s+web\s+10\.0\.0\.2:80\s+UNHEALTHY\s+0\/1\s+1\/1\s+-\s+2026-01-01T/,
    );
    assert.match(table.stdout, /p1\s+edge\s+web\s+10\.0\.0\.1:80\s+HEALTHY/);
    const json = await ferryctl(['health', '-o', 'json', '--group', 'edge'], server);
    const body = JSON.parse(json.stdout) as HealthJson;
    assert.deepEqual(
      body.clusters.map((c) => [c.group, c.cluster, c.endpoints.length]),
      [['edge', 'web', 2]],
    );
    assert.deepEqual(body.clusters[0]?.endpoints[1], {
      address: '10.0.0.2:80',
      status: 'UNHEALTHY',
      healthy: 0,
      unhealthy: 1,
      proxies: 1,
      since: '2026-01-01T00:00:00.000Z',
      unhealthy_nodes: ['p1'],
    });
    assert.deepEqual(
      body.nodes.map((n) => n.node_id),
      ['p1'],
    );
  });
});
