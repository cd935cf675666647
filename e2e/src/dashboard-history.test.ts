/**
 * What the dashboard (headless Chromium, real control plane, real ferry-proxy, real backend)
 * shows of the past: traffic through the proxy before the page was opened is drawn by the Health
 * and load charts as soon as the page opens (the control plane keeps an hour of LRS load; the
 * browser sampled nothing), errors (a cluster whose endpoint refuses connections) included; an
 * endpoint the proxy's outlier detection ejected (a backend answering 503, consecutive_5xx 2) is
 * listed by GET /v1/load/history and the Health and load view as ejected by that one proxy; and
 * with tracing on and --jaeger-ui-url set, each history row links to its write's trace in Jaeger
 * by the trace id the history API names, and the Fleet view links each proxy's last push of a type
 * to the `xds.push` trace the node row names. Any console or page error fails the test, and so
 * does any accessibility violation axe-core finds on those views.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Page } from 'playwright-core';
import type {
  HistoryJson,
  LoadHistoryJson,
  NodesPageJson,
  OutlierEventJson,
} from '@ferry/shared/api-wire';
import { readEventStream } from '@ferry/shared/event-stream';
import { nextEvent } from '@ferry/shared/testing/event-stream';
import { apiCall, DashboardBrowser, expectNoA11yViolations } from './dashboard-browser.js';
import {
  eventually,
  freePort,
  hcmFilter,
  httpRequest,
  listenerResource,
  proxyBootstrap,
  startBackend,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  type Backend,
  type ControlPlane,
} from './harness.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

const ADMIN = 'dashboard-history-admin-secret';
const JAEGER = 'http://jaeger.test:16686';
const OK_REQUESTS = 20;
const FAILED_REQUESTS = 5;

void describe('dashboard: load history and trace links', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let receiver: OtlpReceiver;
  let backend: Backend;
  let browser: DashboardBrowser;
  let listenerPort = 0;
  /** Answers every request 503: the proxy's outlier detection ejects it from cluster "flaky". */
  let failing: http.Server;
  let failingPort = 0;

  const api = <T>(method: string, p: string, body?: unknown): Promise<T> =>
    apiCall<T>(cp.apiUrl, ADMIN, method, p, body);
  const signIn = (view: string): Promise<Page> => browser.signIn(cp.apiUrl, ADMIN, view);
  const screenshot = (page: Page, name: string): Promise<void> => browser.screenshot(page, name);

  before(async () => {
    receiver = await startOtlpReceiver();
    backend = await startBackend('web');
    failing = http.createServer((req, res) => {
      req.resume();
      res.writeHead(503, { 'x-backend': 'failing' }).end('failing');
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    failingPort = (failing.address() as { port: number }).port;
    cp = await startControlPlane({
      args: [
        '--lrs-interval-ms',
        '200',
        '--otlp-endpoint',
        receiver.grpcAddress,
        '--otlp-protocol',
        'grpc',
        '--jaeger-ui-url',
        JAEGER,
      ],
      env: { FERRY_API_TOKEN: ADMIN, OTEL_BSP_SCHEDULE_DELAY: '100' },
    });
    listenerPort = await freePort();
    // Nothing listens on `refused`: every request to cluster "dead" fails to connect (a 503).
    const refused = await freePort();
    const route = {
      name: 'main',
      virtual_hosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            { match: { prefix: '/dead' }, route: { cluster: 'dead' } },
            { match: { prefix: '/flaky' }, route: { cluster: 'flaky' } },
            { match: { prefix: '/' }, route: { cluster: 'web' } },
          ],
        },
      ],
    };
    await api('POST', '/v1/apply', {
      message: 'load history setup',
      resources: [
        staticClusterResource('web', [backend.port], { lrs_server: { self: {} } }),
        staticClusterResource('dead', [refused], { lrs_server: { self: {} } }),
        staticClusterResource('flaky', [backend.port, failingPort], {
          lrs_server: { self: {} },
          outlier_detection: {
            consecutive_5xx: 2,
            interval: '0.2s',
            // Ejected for the rest of the test, however slow the machine.
            base_ejection_time: '300s',
            // Envoy's default 10% would allow no ejection among two hosts.
            max_ejection_percent: 50,
          },
        }),
        listenerResource('http', listenerPort, [{ filters: [hcmFilter({ routeConfig: route })] }]),
      ],
    });
    await startProxy({
      bootstrap: proxyBootstrap({ nodeId: 'history-proxy', xdsAddress: cp.xdsAddress }),
    });
    browser = await DashboardBrowser.launch();
  });

  after(async () => {
    await browser?.close();
    await stopAll();
    await backend?.close();
    if (failing)
      await new Promise<void>((resolve) => {
        failing.close(() => resolve());
        failing.closeAllConnections();
      });
    await receiver?.close();
  });

  test('traffic from before the page was opened is drawn at once', async () => {
    await eventually(async () => {
      const res = await httpRequest(`http://127.0.0.1:${listenerPort}/warmup`);
      return res.status === 200 ? res : undefined;
    }, 'the proxy listener to answer');
    for (let i = 1; i < OK_REQUESTS; i++) {
      assert.equal((await httpRequest(`http://127.0.0.1:${listenerPort}/r${i}`)).status, 200);
    }
    for (let i = 0; i < FAILED_REQUESTS; i++) {
      assert.equal((await httpRequest(`http://127.0.0.1:${listenerPort}/dead/${i}`)).status, 503);
    }
    const sum = (list: readonly number[]): number => list.reduce((a, b) => a + b, 0);
    // The proxy reports every 200 ms; the control plane keeps the reports in its history.
    await eventually(async () => {
      const history = await api<LoadHistoryJson>('GET', '/v1/load/history');
      const web = history.clusters.find((c) => c.cluster === 'web');
      const dead = history.clusters.find((c) => c.cluster === 'dead');
      return web && dead && sum(web.requests) >= OK_REQUESTS && sum(dead.errors) >= FAILED_REQUESTS
        ? true
        : undefined;
    }, 'the load reports in GET /v1/load/history');

    // Only now does a browser look: it has sampled nothing of that traffic itself.
    const page = await signIn('health');
    const chart = (label: string) => page.locator(`svg[aria-label^="${label}"]`);
    const peakOf = async (label: string): Promise<number> =>
      Number(await chart(label).getAttribute('data-peak', { timeout: 10_000 }));
    await chart('Requests per second to default/web').waitFor({ timeout: 10_000 });
    assert.ok((await peakOf('Requests per second to default/web')) > 0, 'requests drawn');
    assert.ok((await peakOf('Errors per second of default/dead')) > 0, 'errors drawn');
    assert.equal(await peakOf('Errors per second of default/web'), 0, 'web had no errors');
    const latency = await chart(
      'Mean upstream latency in milliseconds of default/web',
    ).getAttribute('aria-label');
    assert.doesNotMatch(latency ?? '', /no data yet/, 'a mean upstream latency point');
    await expectNoA11yViolations(page, 'Health and load with load charts');
    await screenshot(page, 'load-history');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('an endpoint the proxy ejected is listed as ejected by that proxy, in the API and the open view', async () => {
    const failingAddress = `127.0.0.1:${failingPort}`;
    const flaky = (history: LoadHistoryJson) =>
      history.clusters.find((c) => c.cluster === 'flaky')?.outlier_endpoints ?? [];
    // The view is open and an event stream is read before anything is ejected: the ejection has
    // to arrive as an event (load history buckets end only every 30 s).
    const page = await signIn('health');
    await page.getByRole('heading', { name: /^Outlier ejections/ }).waitFor();
    const controller = new AbortController();
    const res = await fetch(`${cp.apiUrl}/v1/events?types=outlier`, {
      headers: { authorization: `Bearer ${ADMIN}` },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const events = readEventStream(res);
    // Round robin sends the failing backend every other request: two 503s in a row eject it.
    // Requests go on until the proxy's load report (every 200 ms) says so.
    let sent = 0;
    const ejected = await eventually(async () => {
      sent++;
      await httpRequest(`http://127.0.0.1:${listenerPort}/flaky/${sent}`);
      const endpoints = flaky(await api<LoadHistoryJson>('GET', '/v1/load/history'));
      return endpoints.find((e) => e.address === failingAddress && e.ejected_by > 0);
    }, 'GET /v1/load/history to list the failing backend ejected');
    assert.equal(ejected.ejected_by, 1);
    assert.deepEqual(ejected.ejected_nodes, ['history-proxy']);
    const event = await nextEvent(
      events,
      'an outlier event naming the failing backend',
      (e) =>
        e.type === 'outlier' &&
        (JSON.parse(e.data) as OutlierEventJson).endpoints.some(
          (x) => x.address === failingAddress && x.ejected_by === 1,
        ),
      10_000,
    );
    const data = JSON.parse(event.data) as OutlierEventJson;
    assert.deepEqual([data.group, data.cluster], ['default', 'flaky']);
    controller.abort();
    assert.ok(ejected.ejections.reduce((a, b) => a + b, 0) >= 1, 'the ejection counted');
    const endpoints = flaky(await api<LoadHistoryJson>('GET', '/v1/load/history'));
    assert.deepEqual(
      endpoints.map((e) => e.address),
      [failingAddress],
      'the healthy backend is not listed',
    );

    const row = page.locator(`tr[data-endpoint="default/flaky/${failingAddress}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.equal(await row.getByRole('rowheader').textContent(), 'flaky');
    assert.match((await row.textContent()) ?? '', /ejected by 1 proxy — history-proxy/);
    assert.match((await row.locator('td').last().textContent()) ?? '', /^[1-9]\d*$/);
    const total = page.locator('tr[data-outlier-total="default/flaky"]');
    assert.match((await total.textContent()) ?? '', /1 endpoint ejected/);
    await screenshot(page, 'outlier-ejections');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('history rows link to their trace by the id the history API names', async () => {
    const history = await api<HistoryJson>('GET', '/v1/history');
    const setup = history.entries.find((e) => e.message === 'load history setup');
    assert.ok(setup, 'the setup revision in history');
    assert.match(setup.trace_id ?? '', /^[0-9a-f]{32}$/);
    const href = `${JAEGER}/trace/${setup.trace_id}`;

    const page = await signIn('traces');
    const row = page.getByRole('row').filter({ hasText: 'load history setup' });
    await row.waitFor({ timeout: 10_000 });
    assert.equal(await row.getByRole('link').getAttribute('href'), href);
    await expectNoA11yViolations(page, 'Traces with trace links');

    await page.getByRole('link', { name: 'Config', exact: true }).click();
    const configRow = page.locator(`tr[data-revision="${setup.revision}"]`);
    await configRow.waitFor({ timeout: 10_000 });
    assert.equal(await configRow.getByRole('link', { name: /^Trace / }).getAttribute('href'), href);
    await expectNoA11yViolations(page, 'Config (admin) with trace links');
    await screenshot(page, 'history-trace-links');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test("the fleet links a proxy's last push to the xds.push trace its row names", async () => {
    const history = await api<HistoryJson>('GET', '/v1/history');
    const setup = history.entries.find((e) => e.message === 'load history setup');
    assert.ok(setup, 'the setup revision in history');
    const lds = await eventually(async () => {
      const nodes = await api<NodesPageJson>('GET', '/v1/nodes?q=history-proxy');
      return nodes.nodes[0]?.types.find((t) => t.type_url.endsWith('.Listener'));
    }, 'the proxy and its LDS row in GET /v1/nodes');
    const traceId = lds.push_trace_id;
    assert.match(traceId ?? '', /^[0-9a-f]{32}$/);
    // The push's span is exported once the proxy ACKed it.
    const spans = await receiver.waitForSpans((all) =>
      all.some((s) => s.name === 'xds.push' && s.traceId === traceId),
    );
    const push = spans.find((s) => s.name === 'xds.push' && s.traceId === traceId)!;
    assert.equal(push.attributes['xds.node.id'], 'history-proxy');
    assert.equal(push.attributes['xds.type_url'], lds.type_url);
    assert.equal(push.attributes['ferry.revision'], setup.revision);

    const page = await signIn('fleet');
    const link = page.locator('tr[data-node="history-proxy"] li[data-type="LDS"] a[data-trace-id]');
    await link.waitFor({ timeout: 10_000 });
    assert.equal(await link.getAttribute('href'), `${JAEGER}/trace/${traceId}`);
    await screenshot(page, 'fleet-push-trace-links');
    assert.deepEqual(browser.consoleErrors, []);
  });
});
