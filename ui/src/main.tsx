/**
 * The dashboard's shell: sign-in with an API token, the caller's role, the live feed and the
 * views. Served by the control plane at /ui/ (docs/architecture.md, "The dashboard").
 */
import { h, render } from './vendor/preact.js';
import { useEffect, useLayoutEffect, useMemo, useState } from './vendor/preact-hooks.js';
import { Api, ApiError, errorText, saveToken, savedToken } from './api.js';
import { EventFeed, type FeedState } from './events.js';
import { readEventStream } from './vendor/event-stream.js';
import { FeedHub } from './feed-hub.js';
import type { ViewContext } from './context.js';
import type { UiSettingsJson, WhoamiJson } from './wire.js';
import { FleetView } from './fleet-view.js';
import { ConfigView } from './config-view.js';
import { HealthView } from './health-view.js';
import { CertificatesView } from './certificates-view.js';
import { RolloutsView } from './rollouts-view.js';
import { TracesView } from './traces-view.js';

const VIEWS = [
  { id: 'fleet', label: 'Fleet', view: FleetView },
  { id: 'config', label: 'Config', view: ConfigView },
  { id: 'health', label: 'Health and load', view: HealthView },
  { id: 'certificates', label: 'Certificates', view: CertificatesView },
  { id: 'rollouts', label: 'Rollouts', view: RolloutsView },
  { id: 'traces', label: 'Traces', view: TracesView },
] as const;

type ViewId = (typeof VIEWS)[number]['id'];

/** The view of `#/<view>` or `#/<view>?<its state>` (the Fleet view keeps its filters there). */
function viewFromHash(): ViewId {
  const id = location.hash.replace(/^#\/?/, '').replace(/\?.*$/, '');
  return VIEWS.find((v) => v.id === id)?.id ?? 'fleet';
}

function Login(props: { onToken: (token: string) => void; error: string }) {
  const [token, setToken] = useState('');
  return (
    <main class="login">
      <h1>Ferry</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          props.onToken(token.trim());
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby="token-help"
        />
        <p id="token-help" class="help">
          A viewer, operator or admin token (<code>ferryctl token create</code>). It stays in this
          tab only. Leave it empty for a control plane in the loopback development mode.
        </p>
        <button type="submit">Sign in</button>
        {props.error !== '' && (
          <p role="alert" class="error">
            {props.error}
          </p>
        )}
      </form>
    </main>
  );
}

function Shell(props: {
  api: Api;
  who: WhoamiJson;
  settings: UiSettingsJson;
  onSignOut: () => void;
}) {
  const hub = useMemo(() => new FeedHub(), []);
  const [view, setView] = useState<ViewId>(viewFromHash());
  const [feed, setFeed] = useState<{ state: FeedState; detail: string }>({
    state: 'connecting',
    detail: '',
  });
  useEffect(() => {
    const onHash = (): void => setView(viewFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    const f = new EventFeed(
      props.api.headers(),
      {
        event: (e) => hub.publish(e),
        state: (state, detail) => setFeed({ state, detail }),
      },
      readEventStream,
    );
    f.start();
    return () => f.stop();
  }, [props.api, hub]);
  const ctx: ViewContext = { api: props.api, who: props.who, hub, settings: props.settings };
  const current = VIEWS.find((v) => v.id === view) ?? VIEWS[0];
  // The tab's title names the view, as a page of its own would (WCAG 2.4.2): it is what a screen
  // reader announces first and what the browser's tab and history list show. Set in the same
  // commit as the view's content (a layout effect), never a frame after it.
  useLayoutEffect(() => {
    document.title = `${current.label} · Ferry dashboard`;
  }, [current.label]);
  const View = current.view;
  return (
    <div class="shell">
      <header>
        <span class="brand">Ferry</span>
        <nav aria-label="Views">
          <ul>
            {VIEWS.map((v) => (
              <li key={v.id}>
                <a href={`#/${v.id}`} aria-current={v.id === view ? 'page' : undefined}>
                  {v.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`feed feed-${feed.state}`} role="status" title={feed.detail}>
          {feed.state === 'live'
            ? 'Live'
            : feed.state === 'unavailable'
              ? 'Not live'
              : 'Reconnecting…'}
        </span>
        <span class="who" data-role={props.who.role}>
          {props.who.name || 'local'} ({props.who.role})
        </span>
        <button type="button" class="secondary" onClick={props.onSignOut}>
          Sign out
        </button>
      </header>
      <main id="view" aria-label={current.label}>
        <View ctx={ctx} />
      </main>
    </div>
  );
}

function App() {
  const [session, setSession] = useState<{ api: Api; who: WhoamiJson } | undefined>(undefined);
  const [settings, setSettings] = useState<UiSettingsJson>({});
  const [error, setError] = useState('');
  const [checking, setChecking] = useState(savedToken() !== undefined);

  const signIn = async (token: string): Promise<void> => {
    const api = new Api(token);
    try {
      const who = await api.get<WhoamiJson>('/v1/whoami');
      saveToken(token);
      setError('');
      setSession({ api, who });
    } catch (err) {
      saveToken(undefined);
      setError(
        err instanceof ApiError && err.status === 401
          ? 'That token was not accepted (unknown, revoked or expired).'
          : errorText(err),
      );
    } finally {
      setChecking(false);
    }
  };

  useEffect(() => {
    void fetch('settings.json', { cache: 'no-store' })
      .then((r) => r.json() as Promise<UiSettingsJson>)
      .then(setSettings, () => setSettings({}));
    const saved = savedToken();
    if (saved !== undefined) void signIn(saved);
  }, []);

  if (checking) return <p class="loading">Signing in…</p>;
  if (!session) return <Login onToken={(t) => void signIn(t)} error={error} />;
  return (
    <Shell
      api={session.api}
      who={session.who}
      settings={settings}
      onSignOut={() => {
        saveToken(undefined);
        setSession(undefined);
      }}
    />
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
