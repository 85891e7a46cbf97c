// Settings: the profile, the Instagram account (with what the operator sets up at Meta),
// the devices logged in, logging out and deleting the account.
import { useEffect, useState } from 'preact/hooks';
import { AvatarPicker } from './avatar_picker.jsx';
import { Bots } from './bots.jsx';
import { api, auth, client } from './client.js';
import { ago } from './format.js';
import { ContinueWithInstagram } from './instagram_connect.jsx';
import { Notifications } from './push_settings.jsx';
import { Link } from './router.jsx';
import { STATUS_CHOICES } from './status_menu.jsx';
import { TimezoneField } from './timezone_field.jsx';
import { store, useStore } from './store.js';

function useAction() {
  const [state, setState] = useState({ busy: false, error: '', note: '', field: '' });
  const run = async (p, note) => {
    setState({ busy: true, error: '', note: '', field: '' });
    try {
      const r = await p;
      setState({ busy: false, error: '', note, field: '' });
      return r === undefined ? true : r;
    } catch (e) {
      setState({ busy: false, error: e.message || 'That did not work', note: '', field: e.field || '' });
      return null;
    }
  };
  return [state, run];
}

function Profile() {
  const s = useStore();
  const me = s.me || {};
  const [name, setName] = useState(me.name || '');
  const [status, setStatus] = useState(me.status || 'online');
  const [st, run] = useAction();
  useEffect(() => { setName(me.name || ''); setStatus(me.status || 'online'); }, [me.id, me.status]);
  return (
    <section class="card" aria-labelledby="profile-h">
      <h2 id="profile-h">Profile</h2>
      <AvatarPicker current={me.avatar_url || null} name={me.name} id={me.id || ''} label="your profile"
        testId="profile-avatar" save={async (attachmentId) => {
          const u = await api.setAvatar(attachmentId);
          store.me = u;
          store.changed();
        }} />
      <form onSubmit={async (e) => {
        e.preventDefault();
        const u = await run(api.updateProfile({ name: name.trim(), status }), 'Saved.');
        if (u && u.id) { store.me = u; store.changed(); }
      }}>
        <label for="profile-email">E-mail</label>
        <input id="profile-email" value={me.email || ''} disabled />
        {me.email_verified === false && (
          <p class="small" data-test="email-unverified">Not verified yet.{' '}
            <Link href="/verify-email">Enter the code we mailed you</Link></p>
        )}
        <label for="profile-name">Name</label>
        <input id="profile-name" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)}
          aria-invalid={st.field === 'name' ? 'true' : undefined} />
        <label for="profile-status">Status</label>
        <select id="profile-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          {STATUS_CHOICES.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
        </select>
        <p><button type="submit" class="primary" disabled={st.busy}>Save profile</button></p>
        <p aria-live="polite" class="muted">{st.note}</p>
        {st.error && <p class="error-text" role="alert">{st.error}</p>}
      </form>
    </section>
  );
}

function Instagram() {
  const [status, setStatus] = useState(null);
  const [st, run] = useAction();
  const [form, setForm] = useState({ ig_user_id: '', access_token: '', username: '' });
  const load = () => api.igStatus().then(setStatus).catch((e) => setStatus({ error: e.message }));
  useEffect(() => {
    load();
    // The account's health changes live (a refused token, a reconnect elsewhere).
    return client.on('instagram.status', (f) => setStatus({ connected: f.connected, status: f.status, account: f.account }));
  }, []);
  const [token, setToken] = useState('');
  const callback = `${location.origin}/api/webhook/instagram`;
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  return (
    <section class="card" aria-labelledby="ig-h">
      <h2 id="ig-h">Instagram</h2>
      {!status ? <p class="muted">Loading…</p> : status.error ? <p class="error-text">{status.error}</p> : status.status === 'reconnect_needed' ? (
        <div class="reconnect" data-test="ig-reconnect">
          <p role="alert"><strong>Reconnect needed.</strong> Instagram no longer accepts the access token of
            {' '}<strong>{status.account && status.account.username ? '@' + status.account.username : status.account && status.account.ig_user_id}</strong>
            {status.account && status.account.status_error ? ` (${status.account.status_error.message || status.account.status_error.code})` : ''}.
            {' '}Replies and flows are paused until you reconnect with a new token.</p>
          <ContinueWithInstagram label="Reconnect with Instagram" />
          <p class="small muted">Or paste a new token:</p>
          <form onSubmit={async (e) => {
            e.preventDefault();
            const body = { access_token: token.trim() };
            if (status.account && status.account.ig_user_id) body.ig_user_id = status.account.ig_user_id;
            if (await run(api.igConnect(body), 'Reconnected.')) { setToken(''); load(); }
          }}>
            <label for="ig-retoken">New access token</label>
            <input id="ig-retoken" type="password" value={token} onInput={(e) => setToken(e.currentTarget.value)} required autocomplete="off"
              aria-invalid={st.field === 'access_token' ? 'true' : undefined} data-test="ig-retoken" />
            <button type="submit" class="primary" disabled={st.busy} data-test="ig-reconnect-btn">Reconnect</button>
          </form>
        </div>
      ) : status.connected ? (
        <div>
          <p data-test="ig-connected">Connected: <strong>{status.account && status.account.username ? '@' + status.account.username : status.account && status.account.ig_user_id}</strong>
            {' '}(account id {status.account && status.account.ig_user_id})</p>
          <button class="danger" disabled={st.busy} onClick={async () => {
            if (!confirm('Disconnect this Instagram account? Incoming messages will stop.')) return;
            await run(api.igDisconnect(), 'Disconnected.');
            load();
          }}>Disconnect</button>
          <div class="ig-timezone" data-test="ig-timezone">
            <TimezoneField id="ig-tz" load={api.igStatus} save={api.igSetTimezone} buttonClass="primary" />
          </div>
        </div>
      ) : (
        <form onSubmit={async (e) => {
          e.preventDefault();
          const body = { ig_user_id: form.ig_user_id.trim(), access_token: form.access_token.trim() };
          if (form.username.trim()) body.username = form.username.trim();
          if (await run(api.igConnect(body), 'Connected.')) load();
        }}>
          <p>Connect the Instagram professional account whose direct messages Parley should receive.</p>
          <ContinueWithInstagram />
          <p class="small muted ig-oauth__or">Or connect with an access token:</p>
          <label for="ig-id">Instagram account id</label>
          <input id="ig-id" value={form.ig_user_id} onInput={set('ig_user_id')} inputMode="numeric" required
            aria-invalid={st.field === 'ig_user_id' ? 'true' : undefined} />
          <label for="ig-user">Username (optional)</label>
          <input id="ig-user" value={form.username} onInput={set('username')} />
          <label for="ig-token">Access token</label>
          <input id="ig-token" type="password" value={form.access_token} onInput={set('access_token')} required autocomplete="off"
            aria-invalid={st.field === 'access_token' ? 'true' : undefined} />
          <p class="small muted">The token is stored encrypted and never shown again.</p>
          <button type="submit" class="primary" disabled={st.busy}>Connect</button>
        </form>
      )}
      <p aria-live="polite" class="muted">{st.note}</p>
      {st.error && <p class="error-text" role="alert">{st.error}</p>}
      <h3>Webhook set-up (for the operator)</h3>
      <ol class="small">
        <li>In the Meta app's Instagram webhooks settings, set the callback URL to:
          <pre class="code" data-test="callback-url">{callback}</pre></li>
        <li>Set the verify token to the value of <code>PARLEY_IG_VERIFY_TOKEN</code> in the server's configuration,
          and <code>PARLEY_IG_APP_SECRET</code> to the app secret, so signatures are checked. Without them the webhook answers 503.</li>
        <li>Subscribe the app to the <code>messages</code> field. Meta calls the URL once with the verify token to confirm it.</li>
      </ol>
    </section>
  );
}

/** The team inbox: the owner adds Parley users as agents of the account and removes them. */
function Team() {
  const [agents, setAgents] = useState(null);
  const [q, setQ] = useState('');
  const [found, setFound] = useState([]);
  const [st, run] = useAction();
  const load = () => api.agents().then((r) => setAgents(r.agents)).catch((e) => setAgents({ error: e.message }));
  useEffect(() => { load(); }, []);
  const mine = Array.isArray(agents) ? agents : [];
  return (
    <section class="card" aria-labelledby="team-h" data-test="team">
      <h2 id="team-h">Team inbox</h2>
      <p class="small muted">Agents see and answer this account's Instagram conversations, each with their own unread counts.</p>
      {!agents ? <p class="muted">Loading…</p> : agents.error ? <p class="error-text">{agents.error}</p> : mine.length === 0
        ? <p class="muted" data-test="no-agents">No agents yet.</p>
        : (
          <ul class="plain" data-test="agents">
            {mine.map((a) => (
              <li key={a.id} class="row" data-test="agent">
                <span class="grow">{a.name || a.id}</span>
                <button class="danger" disabled={st.busy} data-test="remove-agent" aria-label={`Remove ${a.name || a.id}`}
                  onClick={async () => { await run(api.removeAgent(a.id), 'Removed.'); load(); }}>Remove</button>
              </li>
            ))}
          </ul>
        )}
      <form class="row" onSubmit={async (e) => {
        e.preventDefault();
        const r = await run(api.searchUsers(q.trim()), '');
        setFound(r && r !== true ? (r.users || r).filter((u) => store.me && u.id !== store.me.id) : []);
      }}>
        <label for="agent-q" class="sr-only">Find a user</label>
        <input id="agent-q" class="grow" placeholder="Name or email" value={q} onInput={(e) => setQ(e.currentTarget.value)} data-test="agent-q" />
        <button type="submit" disabled={st.busy || !q.trim()}>Find</button>
      </form>
      {found.length > 0 && (
        <ul class="plain" data-test="agent-candidates">
          {found.map((u) => (
            <li key={u.id} class="row">
              <span class="grow">{u.name}</span>
              <button class="primary" disabled={st.busy || mine.some((a) => a.id === u.id)} data-test="add-agent"
                onClick={async () => { if (await run(api.addAgent(u.id), `Added ${u.name}.`)) { setFound([]); setQ(''); load(); } }}>
                {mine.some((a) => a.id === u.id) ? 'Agent' : 'Add'}
              </button>
            </li>
          ))}
        </ul>
      )}
      <p aria-live="polite" class="muted">{st.note}</p>
      {st.error && <p class="error-text" role="alert">{st.error}</p>}
    </section>
  );
}

/** The user's logins: where each is, when it was last used; end one, or all but this one. */
function Sessions() {
  const [list, setList] = useState(null);
  const [st, run] = useAction();
  const load = () => api.sessions().then(setList).catch((e) => setList({ error: e.message }));
  useEffect(() => { load(); }, []);
  const mine = Array.isArray(list) ? list : [];
  const others = mine.filter((l) => !l.current).length;
  return (
    <section class="card" aria-labelledby="sessions-h" data-test="sessions">
      <h2 id="sessions-h">Devices</h2>
      <p class="small muted">Where your account is logged in. Ending a login signs that device out at once.</p>
      {!list ? <p class="muted">Loading…</p> : list.error ? <p class="error-text">{list.error}</p> : (
        <ul class="plain sessions" data-test="session-list">
          {mine.map((l) => (
            <li key={l.id} class="row session" data-test="session" data-current={l.current ? 'true' : 'false'}>
              <div class="grow">
                <div class="session-device">{l.device_name}{l.current && <span class="badge" data-test="this-device">This device</span>}</div>
                <div class="small muted">{l.ip} · last used {ago(l.last_used_at)} · since {new Date(l.created_at).toLocaleDateString()}</div>
              </div>
              {!l.current && (
                <button class="danger" disabled={st.busy} data-test="end-session" aria-label={`End the login on ${l.device_name}`}
                  onClick={async () => { if (await run(api.endSession(l.id), 'Signed out.')) load(); }}>End</button>
              )}
            </li>
          ))}
        </ul>
      )}
      {others > 0 && (
        <button class="danger" disabled={st.busy} data-test="end-others" onClick={async () => {
          if (!confirm('Sign out every other device?')) return;
          const n = await run(api.endOtherSessions(), '');
          if (n !== null) { run(Promise.resolve(), n === 1 ? 'Signed out 1 device.' : `Signed out ${n} devices.`); load(); }
        }}>Sign out all other devices</button>
      )}
      <p aria-live="polite" class="muted" data-test="sessions-note">{st.note}</p>
      {st.error && <p class="error-text" role="alert">{st.error}</p>}
    </section>
  );
}

function Account() {
  const [st, run] = useAction();
  return (
    <section class="card" aria-labelledby="acct-h">
      <h2 id="acct-h">Account</h2>
      <p><button onClick={() => auth.logout()} data-test="logout">Log out</button></p>
      <p class="small muted">Deleting your account signs you out everywhere and anonymises your profile; messages you sent stay in their conversations.</p>
      <button class="danger" disabled={st.busy} onClick={async () => {
        if (!confirm('Delete your account? This cannot be undone.')) return;
        if (await run(api.deleteAccount(), '')) auth.logout();
      }}>Delete account</button>
      {st.error && <p class="error-text" role="alert">{st.error}</p>}
    </section>
  );
}

export function SettingsPage() {
  return (
    <div class="page page-narrow">
      <h1>Settings</h1>
      <Profile />
      <Notifications />
      <Instagram />
      <Team />
      <Bots />
      <Sessions />
      <Account />
    </div>
  );
}
