/**
 * The dashboard's static files, served by the management API under /ui/ (docs/architecture.md,
 * "The dashboard"). Everything is read once into memory from the @ferry/ui package: its
 * hand-written files (static/), its compiled TypeScript (dist/) and the package modules it runs
 * on (VENDOR_MODULES), taken from the lockfile-pinned node_modules, so the dashboard works
 * offline and never loads anything from another origin. No file needs a credential: the data comes from the API,
 * which authenticates every call.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface UiAsset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator of the body (RFC 9110 section 8.8.3). */
  readonly etag: string;
}

/** What the dashboard learns from the control plane's flags before it has a token. */
export interface UiSettings {
  /** Jaeger's UI, for links to traces (--jaeger-ui-url); absent: no links. */
  readonly jaegerUiUrl?: string;
}

/**
 * Scripts and styles only from this origin, no inline script or style, no framing, no plugins,
 * requests only to the API itself. Charts are inline SVG elements, which need no style-src.
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The modules the dashboard imports from packages, by the name it imports them under: Preact, and
 * the workspace's event-stream reader (the one ferryctl and the tests use). Preact's hooks module
 * imports "preact" by its bare name, which a browser cannot resolve without an import map (an
 * inline script the policy forbids); it is rewritten to the sibling file.
 */
const VENDOR_MODULES: ReadonlyArray<{ readonly file: string; readonly specifier: string }> = [
  { file: 'preact.js', specifier: 'preact' },
  { file: 'preact-hooks.js', specifier: 'preact/hooks' },
  { file: 'event-stream.js', specifier: '@ferry/shared/event-stream' },
];

export class UiAssets {
  private constructor(private readonly files: ReadonlyMap<string, UiAsset>) {}

  /** Reads the @ferry/ui package's files; fails with what is missing and how to build it. */
  static async load(settings: UiSettings = {}): Promise<UiAssets> {
    const require = createRequire(import.meta.url);
    const uiRoot = path.dirname(require.resolve('@ferry/ui/package.json'));
    const files = new Map<string, UiAsset>();
    const add = (name: string, body: Buffer): void => {
      const type = CONTENT_TYPES[path.extname(name)];
      if (type === undefined) return;
      files.set(name, { body, contentType: type, etag: etagOf(body) });
    };
    for (const dir of ['static', 'dist']) {
      const root = path.join(uiRoot, dir);
      let names: string[];
      try {
        names = await listFiles(root);
      } catch (err) {
        throw new Error(
          `dashboard: cannot read ${root} (${(err as Error).message}); build the workspace with "npx tsc -b"`,
        );
      }
      for (const name of names) {
        // Compiled modules only: not declarations, maps or the pure modules' unit tests.
        if (dir === 'dist' && (!name.endsWith('.js') || name.endsWith('.test.js'))) continue;
        add(name, await readFile(path.join(root, name)));
      }
    }
    const uiRequire = createRequire(path.join(uiRoot, 'package.json'));
    for (const { file, specifier } of VENDOR_MODULES) {
      const source = await readFile(uiRequire.resolve(specifier), 'utf8');
      // Their source maps are not served: no reference to a file that would 404.
      const rewritten = source
        .replace(/\bfrom\s*(["'])preact\1/g, 'from"./preact.js"')
        .replace(/^\/\/# sourceMappingURL=.*$/gm, '');
      add(`vendor/${file}`, Buffer.from(rewritten));
    }
    add('settings.json', Buffer.from(JSON.stringify(settingsJson(settings))));
    if (!files.has('index.html') || !files.has('main.js'))
      throw new Error(
        `dashboard: ${uiRoot} has no index.html or compiled main.js; build the workspace with "npx tsc -b"`,
      );
    return new UiAssets(files);
  }

  /** `rest` is the path under /ui/ ("" for the index). */
  get(rest: string): UiAsset | undefined {
    return this.files.get(rest === '' ? 'index.html' : rest);
  }
}

function settingsJson(settings: UiSettings): Record<string, string> {
  return settings.jaegerUiUrl === undefined ? {} : { jaeger_ui_url: settings.jaegerUiUrl };
}

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Paths under `root`, "/"-separated. */
async function listFiles(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(root, prefix), { withFileTypes: true })) {
    const name = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listFiles(root, name)));
    else if (e.isFile()) out.push(name);
  }
  return out;
}
