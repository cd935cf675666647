/**
 * What the dashboard's browser tests share: headless Chromium (Debian's chromium, driven by
 * playwright-core), one signed-in tab at a time that records console and page errors (each test
 * asserts they stay empty), screenshots under the test output directory (FERRY_TEST_OUTPUT_DIR,
 * default test-results/dashboard), bearer-token calls to the management API, axe-core's
 * accessibility check of a page, the keyboard user's moves (Tab to a control, where the focus is
 * and whether it shows), and the time a page drew something.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type Axe from 'axe-core';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Locator,
  type Page,
} from 'playwright-core';
import { ROOT } from './harness.js';

const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT_DIR =
  process.env.FERRY_TEST_OUTPUT_DIR ?? path.join(ROOT, 'test-results', 'dashboard');

/** axe-core's browser build: evaluated in the page, as the dashboard's CSP allows no inline script. */
const AXE_SOURCE = fs.readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);
/**
 * axe's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA, and its best practices (landmarks,
 * headings, regions), which the dashboard keeps as well.
 */
const AXE_RULE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

/**
 * Runs axe-core's WCAG 2 A/AA rules and best practices on `page` as it is now (the whole
 * document, an open dialog included) and throws naming each violation: rule id, impact, the
 * elements (CSS targets) and what to do. `what` says which view or state was checked.
 */
export async function expectNoA11yViolations(page: Page, what: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async (tags) => {
    const axe = (globalThis as unknown as { axe: typeof Axe }).axe;
    // No context: the whole document.
    const result = await axe.run({
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  }, AXE_RULE_TAGS);
  if (violations.length === 0) return;
  const lines = violations.map(
    (v) =>
      `${v.id} (${v.impact ?? 'no impact'}): ${v.help}\n` +
      v.nodes.map((n) => `    at ${JSON.stringify(n.target)}`).join('\n'),
  );
  throw new Error(`accessibility violations on ${what}:\n  ${lines.join('\n  ')}`);
}

/** What the page functions below read of the DOM (this package compiles without its types). */
interface FocusStyle {
  readonly outlineStyle: string;
  readonly outlineWidth: string;
  readonly boxShadow: string;
}
interface PageDom {
  readonly document: { readonly activeElement: unknown };
  getComputedStyle(element: unknown): FocusStyle;
}

/**
 * When (epoch ms, the machine's clock as read in the page) every one of `selectors` matches an
 * element: checked on each animation frame, so the time is that of the frame that drew them,
 * not of a later poll. Throws after `timeoutMs`.
 */
export async function shownAt(
  page: Page,
  selectors: readonly string[],
  timeoutMs: number,
): Promise<number> {
  const shown = await page
    .waitForFunction(
      (all: readonly string[]) => {
        const dom = globalThis as unknown as { document: { querySelector(s: string): unknown } };
        return all.every((selector) => dom.document.querySelector(selector) !== null) && Date.now();
      },
      selectors,
      { polling: 'raf', timeout: timeoutMs },
    )
    .catch((err: unknown) => {
      throw new Error(`not all of ${selectors.join(', ')} shown within ${timeoutMs} ms`, {
        cause: err,
      });
    });
  return (await shown.jsonValue()) as number;
}

/**
 * Presses `key` (Tab, or Shift+Tab to go back) until `target` has the focus, as a keyboard user
 * moves through the page; throws naming `what` after `maxPresses` presses.
 */
export async function tabTo(
  page: Page,
  target: Locator,
  what: string,
  key: 'Tab' | 'Shift+Tab' = 'Tab',
  maxPresses = 40,
): Promise<void> {
  for (let presses = 0; presses < maxPresses; presses++) {
    await page.keyboard.press(key);
    if (await hasFocus(target)) return;
  }
  throw new Error(`${what} got no focus after ${maxPresses} presses of ${key}`);
}

/** Whether `target` has the focus now, or with `within` whether an element inside it has. */
export function hasFocus(target: Locator, within = false): Promise<boolean> {
  return target.evaluate((element: unknown, inside: boolean) => {
    const active = (globalThis as unknown as PageDom).document.activeElement;
    return inside
      ? (element as { contains(e: unknown): boolean }).contains(active)
      : element === active;
  }, within);
}

/**
 * Throws unless the focused element draws a focus indicator (a visible outline or a box shadow,
 * as computed), so a keyboard user sees where they are (WCAG 2.4.7).
 */
export async function expectFocusVisible(page: Page, what: string): Promise<void> {
  const style = await page.evaluate(() => {
    const dom = globalThis as unknown as PageDom;
    const focused = dom.document.activeElement;
    if (focused === null) return undefined;
    const { outlineStyle, outlineWidth, boxShadow } = dom.getComputedStyle(focused);
    return { outlineStyle, outlineWidth, boxShadow };
  });
  if (style === undefined) throw new Error(`nothing has the focus on ${what}`);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  if (!outline && style.boxShadow === 'none')
    throw new Error(`no focus indicator on ${what}: ${JSON.stringify(style)}`);
}

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
    const page = await this.open(apiUrl, view);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.feed-live').waitFor({ timeout: 10_000 });
    return page;
  }

  /** Closes the previous tab and opens `view` of the dashboard at `apiUrl` in a new one, signed out. */
  async open(apiUrl: string, view: string): Promise<Page> {
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
