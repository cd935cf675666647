/**
 * ACME across control-plane crashes, with real processes sharing one SQLite store: an order
 * interrupted by SIGKILL (while it waits for a proxy of its second serving group to connect) is
 * resumed by the next replica from the stored order URL, not ordered again; a later replica finds the Secret
 * valid and adopts it without ordering. Each replica takes the ordering lease once the killed
 * holder's lease has lapsed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  apiApply,
  eventually,
  ferryctl,
  freePort,
  httpRequest,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  stopAll,
  tempDir,
  type Backend,
  type ControlPlane,
} from './harness.js';
import { FAST_ACME_ARGS, acmeSiteResources, startPebble, type Pebble } from './pebble.js';

const DOMAIN = 'restart.ferry.test';
const GROUP = 'restart';
/** A second serving group, whose proxy connects only after the crash. */
const LATE_GROUP = 'restart-late';

interface CertificateState {
  status: string;
  serial: string;
  order_url: string;
  replica: string;
  last_error: string;
}

async function state(cp: ControlPlane): Promise<CertificateState | undefined> {
  const res = await httpRequest(`${cp.apiUrl}/v1/certificates?group=${GROUP}`);
  assert.equal(res.status, 200, res.body);
  const body = JSON.parse(res.body) as {
    acme_certificates: Array<CertificateState & { name: string }>;
  };
  return body.acme_certificates.find((c) => c.name === 'web');
}

function acmeYaml(pebble: Pebble, email: string): string {
  return `
'@type': type.googleapis.com/ferry.v1.AcmeCertificate
name: web
domains: [${DOMAIN}]
directory_url: ${pebble.directoryUrl}
directory_ca_pem: |
${pebble.apiCaPem.trimEnd().replace(/^/gm, '  ')}
email: ${email}
groups: [${GROUP}, ${LATE_GROUP}]
secret_name: web-tls
`;
}

function logged(cp: ControlPlane, msg: string): number {
  return cp.logs.filter((line) => line.includes(`"msg":"${msg}"`)).length;
}

void describe('ACME across control-plane restarts (Pebble)', { timeout: 180_000 }, () => {
  let pebble: Pebble;
  let backend: Backend;
  let httpPort: number;
  let latePort: number;
  let xdsPort: number;
  const store = `sqlite:${path.join(tempDir('acme-restart'), 'ferry.db')}`;
  // Every replica listens on the same xDS port, so that proxies reconnect to the next one.
  const replica = (id: string): Promise<ControlPlane> =>
    startControlPlane({
      store,
      args: [
        '--xds-address',
        `127.0.0.1:${xdsPort}`,
        '--replica-id',
        id,
        '--acme-lease-ttl-ms',
        '1500',
        ...FAST_ACME_ARGS,
      ],
    });

  before(async () => {
    httpPort = await freePort();
    latePort = await freePort();
    xdsPort = await freePort();
    pebble = await startPebble({ httpPort });
    backend = await startBackend('web');
  });

  after(async () => {
    await pebble?.stop();
    await backend?.close();
    await stopAll();
  });

  test('an order interrupted by a crash is resumed by the next replica, and a valid Secret is adopted', async () => {
    const a = await replica('cp-a');
    for (const [group, port] of [
      [GROUP, httpPort],
      [LATE_GROUP, latePort],
    ] as const) {
      await apiApply(a.apiUrl, acmeSiteResources(DOMAIN, port, backend.port), group);
    }
    // The proxy Pebble validates through serves the domain before anything is ordered.
    await startProxy({
      bootstrap: proxyBootstrap({
        nodeId: 'restart-0',
        nodeCluster: GROUP,
        xdsAddress: a.xdsAddress,
      }),
    });
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${httpPort}/`, { host: DOMAIN });
      return res.status === 200 ? true : undefined;
    }, `the proxy serving ${DOMAIN}`);

    // Replica A creates the order, then waits for a proxy of the second serving group, which has
    // none yet: it is still waiting when it is killed.
    const applied = await ferryctl(
      a.apiUrl,
      ['apply', '-f', '-', '-g', GROUP],
      acmeYaml(pebble, 'ops@ferry.test'),
    );
    assert.equal(applied.code, 0, applied.stderr);
    const pending = await eventually(
      async () => {
        const s = await state(a);
        return s?.status === 'PENDING' && s.order_url ? s : undefined;
      },
      'replica A to create the order',
      60_000,
    );
    await eventually(
      () => (logged(a, 'ACME order created') === 1 ? true : undefined),
      'the order log line',
    );
    await a.kill();

    // Replica B takes the lease once A's lapses and resumes the same order; the second group's
    // proxy connects to it.
    const b = await replica('cp-b');
    await startProxy({
      bootstrap: proxyBootstrap({
        nodeId: 'late-0',
        nodeCluster: LATE_GROUP,
        xdsAddress: b.xdsAddress,
      }),
    });
    const issued = await eventually(
      async () => {
        const s = await state(b);
        if (s?.status === 'FAILED') throw new Error(`order failed: ${s.last_error}`);
        return s?.status === 'VALID' ? s : undefined;
      },
      'replica B to finish the order',
      90_000,
    );
    assert.equal(issued.replica, 'cp-b');
    assert.equal(
      logged(b, 'ACME order created'),
      0,
      `B created an order instead of resuming ${pending.order_url}:\n${b.logs.filter((l) => l.includes('ACME')).join('\n')}`,
    );
    const secrets = await httpRequest(`${b.apiUrl}/v1/certificates`);
    const inGroups = (
      JSON.parse(secrets.body) as {
        secrets: Array<{ group: string; name: string; serial: string }>;
      }
    ).secrets
      .filter((s) => s.name === 'web-tls' && s.serial === issued.serial)
      .map((s) => s.group)
      .sort();
    assert.deepEqual(inGroups, [GROUP, LATE_GROUP].sort(), 'the Secret is in both serving groups');
    await b.kill();

    // Replica C finds a valid Secret for the changed spec: adopted, nothing ordered.
    const c = await replica('cp-c');
    const changed = await ferryctl(
      c.apiUrl,
      ['apply', '-f', '-', '-g', GROUP],
      acmeYaml(pebble, 'security@ferry.test'),
    );
    assert.equal(changed.code, 0, changed.stderr);
    const adopted = await eventually(
      async () => {
        const s = await state(c);
        return s?.status === 'VALID' && s.replica === 'cp-c' ? s : undefined;
      },
      'replica C to adopt the Secret',
      30_000,
    );
    assert.equal(adopted.serial, issued.serial);
    assert.equal(logged(c, 'ACME: ordering'), 0);
  });
});
