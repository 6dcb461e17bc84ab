/**
 * The Switchyard portal: sign in with an API token (kept in sessionStorage, so it goes with the tab),
 * find which collections the token may list (the OpenAPI document names them all; a 403 means a
 * provider collection, so the token is a tenant's), follow them live, and route by the URL's hash.
 * Every screen renders the Live cache of the API's answers; a 401 anywhere goes back to sign-in.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { AclDetail } from './acl.js';
import { Api } from './api.js';
import { Form, useSubmit } from './forms.js';
import { Live } from './live.js';
import { CollectionPage } from './pages.js';
import { titleOf } from './parts.js';
import { Topology } from './topology.js';
import './portal.css';

const TOKEN_KEY = 'switchyard.token';
/** the portal's own views first; any other collection the API serves follows, shown generically */
const KNOWN = ['virtualNetworks', 'accessControlLists', 'networkInterfaces', 'loadBalancers', 'publicIPAddresses', 'routeTables', 'servers', 'logicalNetworks', 'macPools', 'credentials'];

export interface Session {
  api: Api;
  live: Live;
  role: 'admin' | 'tenant';
}

function useLive(live: Live | undefined): void {
  const [, tick] = useState(0);
  useEffect(() => live?.subscribe(() => tick((n) => n + 1)), [live]);
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return hash;
}

async function openSession(token: string, onUnauthorized: (m: string) => void): Promise<Session> {
  const api = new Api(token, onUnauthorized);
  const { body } = await api.call('GET', '/openapi.json');
  const paths = Object.keys((body as { paths: Record<string, unknown> }).paths);
  const served = paths.map((p) => /^\/networking\/v1\/([A-Za-z]+)$/.exec(p)?.[1]).filter((c): c is string => !!c && !['watch', 'auditLog'].includes(c));
  const ordered = [...KNOWN.filter((c) => served.includes(c)), ...served.filter((c) => !KNOWN.includes(c))];
  const live = new Live(api, ordered, onUnauthorized);
  await live.start();
  // a tenant is refused the provider collections
  const role = live.state.visible.includes('servers') ? 'admin' : 'tenant';
  return { api, live, role };
}

function SignIn(props: { onToken: (t: string) => Promise<void>; notice?: string | undefined }) {
  const [token, setToken] = useState('');
  const s = useSubmit(['token']);
  return (
    <main id="main" class="signin">
      <h1>Switchyard portal</h1>
      <p>Sign in with a controller API token (made by <code>switchyard controller token create</code>).</p>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <Form title="Sign in" submit="Sign in" busy={s.busy} error={s.error} onSubmit={() => void s.run(() => props.onToken(token.trim()))}>
        <div class="field">
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autoComplete="off" autoFocus value={token} onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} />
        </div>
      </Form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [starting, setStarting] = useState(() => !!sessionStorage.getItem(TOKEN_KEY));
  const hash = useHash();
  const sessionRef = useRef<Session | undefined>(undefined);
  useLive(session?.live);

  const signOut = (why?: string) => {
    sessionRef.current?.live.stop();
    sessionRef.current = undefined;
    sessionStorage.removeItem(TOKEN_KEY);
    setSession(undefined);
    setStarting(false);
    setNotice(why);
  };
  const signIn = async (token: string) => {
    if (!token) throw new Error('Paste a token first');
    let refused: string | undefined;
    const s = await openSession(token, (m) => (sessionRef.current ? signOut(`Signed out: ${m}`) : (refused = m))).catch((e: unknown) => {
      throw new Error(refused ? `The controller refused this token: ${refused}` : e instanceof Error ? e.message : String(e));
    });
    sessionRef.current = s;
    sessionStorage.setItem(TOKEN_KEY, token);
    setNotice(undefined);
    setSession(s);
    if (!location.hash || location.hash === '#/') location.hash = '#/c/virtualNetworks';
  };
  useEffect(() => {
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved).catch((e: unknown) => signOut(`Signed out: ${e instanceof Error ? e.message : String(e)}`));
  }, []);

  useEffect(() => {
    const [, k, c, i] = hashParts(hash);
    document.title = `${session ? (k === 'topology' ? 'Topology' : c ? (i ?? titleOf(c)) : 'Switchyard') : 'Sign in'} · Switchyard portal`;
    // a page that replaced the focused element (a form that made a resource, then its page) gives the keyboard to the new page
    if (session && (!document.activeElement || document.activeElement === document.body)) document.getElementById('main')?.focus({ preventScroll: true });
  }, [hash, session]);

  if (!session) return starting ? <p class="loading">Loading…</p> : <SignIn onToken={signIn} notice={notice} />;
  const { live, role } = session;
  const tenant = role === 'tenant';
  const [, kind, collection, id] = hashParts(hash);
  const here = kind === 'topology' ? 'topology' : collection;
  return (
    <div class="shell">
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header>
        <span class="brand">Switchyard</span>
        <span class={`live ${live.state.connected ? 'on' : 'off'}`} role="status" title={live.state.error}>
          {live.state.connected ? 'live' : 'reconnecting…'}
        </span>
        <span class="who">{role === 'admin' ? 'admin' : 'tenant'}</span>
        <button type="button" onClick={() => signOut('Signed out')}>
          Sign out
        </button>
      </header>
      <nav aria-label="Sections">
        <ul>
          {live.state.visible.map((c) => (
            <li key={c}>
              <a href={`#/c/${c}`} aria-current={here === c ? 'page' : undefined}>
                {titleOf(c)}
              </a>
            </li>
          ))}
          <li>
            <a href="#/topology" aria-current={here === 'topology' ? 'page' : undefined}>
              Topology
            </a>
          </li>
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {kind === 'topology' ? (
          <Topology session={session} />
        ) : collection === 'accessControlLists' && id ? (
          <AclDetail key={id} session={session} id={id} />
        ) : collection && live.state.visible.includes(collection) ? (
          <CollectionPage key={`${collection}/${id ?? ''}`} session={session} collection={collection} id={id} showTenant={!tenant} />
        ) : (
          <p>Choose a section.</p>
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);

/** The location hash's parts (#/c/virtualNetworks/v1 → ['#', 'c', 'virtualNetworks', 'v1']); a malformed escape is no page. */
function hashParts(hash: string): (string | undefined)[] {
  try {
    return hash.split('/').map(decodeURIComponent);
  } catch {
    return [];
  }
}
