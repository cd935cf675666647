/**
 * The control plane's /metrics after a known sequence, with real processes: two raw ADS
 * clients (they ACK or NACK exactly as told), one valid apply, one invalid apply and one apply the
 * clients NACK. Every count is exact.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  eventually,
  ferryctl,
  httpRequest,
  startControlPlane,
  stopAll,
  type ControlPlane,
} from './harness.js';
import { RawAdsClient, type AdsResponse } from './raw-ads-client.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

function clusterYaml(name: string, extra = ''): string {
  return `"@type": ${CDS}
name: ${name}
type: STATIC
connect_timeout: 1s
load_assignment:
  cluster_name: ${name}
  endpoints:
    - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
${extra}`;
}

/** `series` → value, e.g. `ferry_xds_nacks_total{type="cds"}` → 2. */
async function scrape(cp: ControlPlane): Promise<Map<string, number>> {
  const res = await httpRequest(`${cp.apiUrl}/metrics`);
  assert.equal(res.status, 200);
  const values = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Waits until every series has its expected value (the ACKs are processed asynchronously). */
async function expectMetrics(cp: ControlPlane, expected: Record<string, number>): Promise<void> {
  let last = new Map<string, number>();
  await eventually(async () => {
    last = await scrape(cp);
    return Object.entries(expected).every(([k, v]) => last.get(k) === v) ? true : undefined;
  }, 'the expected metrics').catch(() => undefined);
  for (const [series, value] of Object.entries(expected))
    assert.equal(last.get(series), value, series);
}

async function ack(client: RawAdsClient): Promise<AdsResponse> {
  const response = await client.next();
  client.request(CDS, [], response);
  return response;
}

void describe('control-plane metrics', () => {
  let cp: ControlPlane;
  const clients: RawAdsClient[] = [];
  before(async () => {
    cp = await startControlPlane({ store: 'memory:' });
  });
  after(async () => {
    for (const c of clients) c.close();
    await stopAll();
  });

  void test('2 proxies, 1 valid apply, 1 invalid apply, 1 NACKed apply: exact counts', async () => {
    for (const id of ['m1', 'm2']) {
      const client = new RawAdsClient(cp.xdsAddress, id);
      clients.push(client);
      client.request(CDS, []);
    }
    // The first (empty) response of each, ACKed.
    for (const c of clients) await ack(c);
    await expectMetrics(cp, {
      'ferry_xds_connected_proxies{group="default"}': 2,
      'ferry_xds_responses_total{type="cds"}': 2,
      'ferry_xds_push_ack_seconds_count{type="cds"}': 2,
    });

    const valid = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], clusterYaml('c1'));
    assert.equal(valid.code, 0, valid.stderr);
    for (const c of clients) await ack(c);

    const invalid = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], clusterYaml('c2', 'bogus: 1'));
    assert.equal(invalid.code, 1, invalid.stderr);

    const rejected = await ferryctl(cp.apiUrl, ['apply', '-f', '-'], clusterYaml('c3'));
    assert.equal(rejected.code, 0, rejected.stderr);
    for (const c of clients) {
      const response = await c.next();
      c.request(CDS, [], response, 'c3: not supported by this proxy');
    }

    await expectMetrics(cp, {
      'ferry_xds_connected_proxies{group="default"}': 2,
      'ferry_xds_responses_total{type="cds"}': 6,
      'ferry_xds_push_ack_seconds_count{type="cds"}': 4,
      'ferry_xds_push_ack_seconds_bucket{type="cds",le="+Inf"}': 4,
      'ferry_xds_nacks_total{type="cds"}': 2,
      'ferry_api_applies_total{outcome="applied"}': 2,
      'ferry_api_applies_total{outcome="invalid"}': 1,
      'ferry_api_validation_failures_total{operation="apply"}': 1,
      ferry_store_revision: 2,
    });
    const metrics = await scrape(cp);
    assert.equal(metrics.get('ferry_api_applies_total{outcome="conflict"}'), undefined);
    assert.equal(metrics.get('ferry_xds_responses_total{type="lds"}'), undefined);
    // Tracing is off: no span was exported or dropped.
    assert.equal(metrics.get('ferry_tracing_spans_exported_total'), undefined);

    clients.pop()!.close();
    await expectMetrics(cp, { 'ferry_xds_connected_proxies{group="default"}': 1 });
  });
});
