// "Continue with Instagram", both ends: the button that sends the browser to
// Instagram (the state the server signed for this session is kept in the tab's
// sessionStorage), and the page Instagram sends it back to (/instagram/connect
// ?code=&state=), which hands both to the server and says how it went.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './client.js';
import { Link, navigate } from './router.jsx';

const STATE_KEY = 'parley.igOAuthState';

export function ContinueWithInstagram({ label = 'Continue with Instagram' }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  return (
    <div class="ig-oauth">
      <button type="button" class="primary ig-oauth__button" disabled={busy} data-test="ig-oauth" onClick={async () => {
        setBusy(true);
        setError('');
        try {
          const { url, state } = await api.igOAuthStart();
          sessionStorage.setItem(STATE_KEY, state);
          location.assign(url);
        } catch (e) {
          setBusy(false);
          setError(e.message || 'Instagram cannot be reached');
        }
      }}>{busy ? 'Opening Instagram…' : label}</button>
      {error && <p class="error-text" role="alert" data-test="ig-oauth-error">{error}</p>}
    </div>
  );
}

export function InstagramConnectPage() {
  const [result, setResult] = useState({ busy: true, error: '', account: null });
  const once = useRef(false);
  useEffect(() => {
    if (once.current) return;
    once.current = true;
    const q = new URLSearchParams(location.search);
    const code = q.get('code');
    const state = q.get('state');
    const mine = sessionStorage.getItem(STATE_KEY);
    sessionStorage.removeItem(STATE_KEY);
    // The code works once: it leaves the address bar and the history now.
    history.replaceState(null, '', '/instagram/connect');
    if (q.get('error')) {
      setResult({ busy: false, error: q.get('error_description') || 'Instagram did not grant access.', account: null });
      return;
    }
    if (!code || !state || state !== mine) {
      setResult({ busy: false, error: 'This sign-in was not started here. Start again from Settings.', account: null });
      return;
    }
    api.igOAuthFinish(code, state)
      .then((account) => setResult({ busy: false, error: '', account }))
      .catch((e) => setResult({ busy: false, error: e.message || 'Connecting failed', account: null }));
  }, []);
  const who = result.account ? (result.account.username ? '@' + result.account.username : result.account.ig_user_id) : '';
  return (
    <div class="page" data-test="ig-connect-page">
      <h1>Instagram</h1>
      {result.busy ? <p class="muted" role="status">Connecting your Instagram account…</p> : result.account ? (
        <div role="status" data-test="ig-connect-done">
          <p>Connected <strong>{who}</strong>. Its direct messages now arrive in the inbox, and active flows answer them.</p>
          <button type="button" class="primary" onClick={() => navigate('/inbox/instagram')}>Open the Instagram inbox</button>
        </div>
      ) : (
        <div>
          <p class="error-text" role="alert" data-test="ig-connect-error">{result.error}</p>
          <Link href="/settings">Back to Settings</Link>
        </div>
      )}
    </div>
  );
}
