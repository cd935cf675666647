/**
 * What the dashboard's browser tests share: headless Chromium (Debian's chromium, driven by
 * playwright-core), one signed-in tab at a time that records console and page errors (each test
 * asserts they stay empty), screenshots under the test output directory (FERRY_TEST_OUTPUT_DIR,
 * default test-results/dashboard), and bearer-token calls to the management API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './harness.js';

const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT_DIR =
  process.env.FERRY_TEST_OUTPUT_DIR ?? path.join(ROOT, 'test-results', 'dashboard');

/** `method path` on the API at `apiUrl` with `token`; the parsed JSON, or throws with the body. */
export async function apiCall<T>(
  apiUrl: string,
  token: string,
  method: string,
  p: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${apiUrl}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** One Chromium for a test file; `signIn` opens a fresh tab (its own context) each time. */
export class DashboardBrowser {
  readonly #browser: Browser;
  #context: BrowserContext | undefined;
  #consoleErrors: string[] = [];

  private constructor(browser: Browser) {
    this.#browser = browser;
  }

  static async launch(): Promise<DashboardBrowser> {
    return new DashboardBrowser(
      await chromium.launch({ executablePath: CHROMIUM, headless: true }),
    );
  }

  /** Console and page errors of the tab last opened by `signIn`. */
  get consoleErrors(): readonly string[] {
    return this.#consoleErrors;
  }

  /**
   * Closes the previous tab, opens `view` of the dashboard at `apiUrl` in a new one, signs in
   * with `token` and waits for the live event feed.
   */
  async signIn(apiUrl: string, token: string, view: string): Promise<Page> {
    await this.#context?.close();
    this.#context = await this.#browser.newContext({ viewport: { width: 1366, height: 768 } });
    const page = await this.#context.newPage();
    const errors: string[] = [];
    this.#consoleErrors = errors;
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${apiUrl}/ui/#/${view}`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.feed-live').waitFor({ timeout: 10_000 });
    return page;
  }

  async screenshot(page: Page, name: string): Promise<void> {
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}.png`), fullPage: true });
  }

  async close(): Promise<void> {
    await this.#context?.close();
    await this.#browser.close();
  }
}
