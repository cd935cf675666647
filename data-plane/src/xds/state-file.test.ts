import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CDS, EDS, LDS, RDS, edsServiceNames, rdsRouteNames, replaceType } from './resource-set.js';
import { StateFile, STATE_FILE_NAME } from './state-file.js';

test('replaceType keeps lastUpdated for unchanged resources and drops absent ones', () => {
  let set = replaceType(new Map(), CDS, 'v1', [{ name: 'a', type: 'EDS' }, { name: 'b' }], 't1');
  set = replaceType(set, CDS, 'v2', [{ name: 'a', type: 'EDS' }, { name: 'c' }], 't2');
  const cds = set.get(CDS);
  assert.equal(cds?.version, 'v2');
  assert.deepEqual([...(cds?.resources.keys() ?? [])], ['a', 'c']);
  assert.equal(cds?.resources.get('a')?.lastUpdated, 't1');
  assert.equal(cds?.resources.get('c')?.lastUpdated, 't2');
  const eds = replaceType(set, EDS, 'e1', [{ cluster_name: 'a' }], 't3').get(EDS);
  assert.deepEqual([...(eds?.resources.keys() ?? [])], ['a']);
});

test('EDS and RDS names come from EDS clusters and HCM rds settings', () => {
  assert.deepEqual(
    edsServiceNames([
      { name: 'web', type: 'EDS' },
      { name: 'api', type: 'EDS', eds_cluster_config: { service_name: 'api-svc' } },
      { name: 'static', type: 'STATIC' },
    ]),
    ['api-svc', 'web'],
  );
  const hcm = (rds: string): Record<string, unknown> => ({
    filters: [
      {
        name: 'hcm',
        typed_config: {
          '@type':
            'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          rds: { route_config_name: rds },
        },
      },
    ],
  });
  assert.deepEqual(
    rdsRouteNames([
      { name: 'l1', filter_chains: [hcm('main'), hcm('other')], default_filter_chain: hcm('dflt') },
      { name: 'l2', filter_chains: [hcm('main')] },
    ]),
    ['dflt', 'main', 'other'],
  );
});

test('StateFile saves atomically and loads what it saved', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-state-'));
  try {
    const file = new StateFile(path.join(dir, 'node-1'), 'node-1');
    assert.equal(file.load().ok, false, 'absent file');
    let set = replaceType(new Map(), LDS, 'l1', [{ name: 'http', address: {} }], 't1');
    set = replaceType(set, RDS, 'r1', [{ name: 'main' }], 't2');
    await Promise.all([file.save(new Map()), file.save(set)]);
    assert.deepEqual(fs.readdirSync(file.dir), [STATE_FILE_NAME], 'no temp files left');
    const loaded = file.load();
    assert.ok(loaded.ok);
    assert.equal(loaded.set.get(LDS)?.version, 'l1');
    assert.deepEqual(loaded.set.get(LDS)?.resources.get('http')?.json, {
      name: 'http',
      address: {},
    });
    assert.equal(loaded.set.get(RDS)?.resources.get('main')?.lastUpdated, 't2');

    fs.writeFileSync(file.path, '{"format": 99}');
    const bad = file.load();
    assert.equal(bad.ok, false);
    fs.writeFileSync(file.path, 'not json');
    assert.equal(file.load().ok, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
