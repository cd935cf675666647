/**
 * The dashboard's files as the management API serves them under /ui/: without credentials (the
 * login screen is one of them) while every API route still needs a token, with the policy headers,
 * revalidation, and clear answers to what is not a file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/store-memory.js';
import { Authenticator } from './authenticator.js';
import { HttpApi } from './http-api.js';
import { ManagementService } from './management-service.js';
import { UI_CONTENT_SECURITY_POLICY, UiAssets } from './ui-assets.js';

void describe('dashboard files under /ui/', () => {
  let api: HttpApi;
  let base: string;

  before(async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    api = new HttpApi({
      service,
      authenticator: new Authenticator({
        tokens: service.tokens,
        openOnLoopback: true,
        bootstrapToken: 'ui-assets-test-token',
      }),
      ui: await UiAssets.load({ jaegerUiUrl: 'http://jaeger.test:16686' }),
    });
    const { port } = await api.listen('127.0.0.1', 0);
    base = `http://127.0.0.1:${port}`;
  });

  after(() => api.close());

  test('the index, modules and styles without credentials, with their types and policy', async () => {
    for (const [file, type] of [
      ['/ui/', /^text\/html/],
      ['/ui/main.js', /^text\/javascript/],
      ['/ui/vendor/preact.js', /^text\/javascript/],
      ['/ui/app.css', /^text\/css/],
    ] as const) {
      const res = await fetch(`${base}${file}`);
      assert.equal(res.status, 200, file);
      assert.match(res.headers.get('content-type') ?? '', type, file);
      assert.equal(res.headers.get('content-security-policy'), UI_CONTENT_SECURITY_POLICY);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      await res.arrayBuffer();
    }
    // The API itself still needs the token.
    assert.equal((await fetch(`${base}/v1/whoami`)).status, 401);
  });

  test('package modules: no bare import or source map reference left', async () => {
    for (const file of ['preact.js', 'preact-hooks.js', 'event-stream.js']) {
      const text = await (await fetch(`${base}/ui/vendor/${file}`)).text();
      assert.ok(text.length > 0, file);
      assert.doesNotMatch(text, /from\s*["'](?!\.\/)/, `${file}: a bare import`);
      assert.doesNotMatch(text, /sourceMappingURL/, file);
    }
  });

  test('the settings carry the Jaeger UI URL', async () => {
    const res = await fetch(`${base}/ui/settings.json`);
    assert.deepEqual(await res.json(), { jaeger_ui_url: 'http://jaeger.test:16686' });
  });

  test('an unchanged file revalidates to 304; HEAD has no body', async () => {
    const first = await fetch(`${base}/ui/main.js`);
    const etag = first.headers.get('etag') ?? '';
    await first.arrayBuffer();
    assert.match(etag, /^"[\w-]+"$/);
    const again = await fetch(`${base}/ui/main.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const head = await fetch(`${base}/ui/main.js`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  test('what is not a file: redirect, 404, 405; no unit test or declaration is served', async () => {
    const bare = await fetch(`${base}/ui`, { redirect: 'manual' });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), '/ui/');
    for (const missing of ['/ui/nope.js', '/ui/yaml.test.js', '/ui/main.d.ts'])
      assert.equal((await fetch(`${base}${missing}`)).status, 404, missing);
    const post = await fetch(`${base}/ui/main.js`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});
