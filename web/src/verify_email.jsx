// Verifying the e-mail address with the six-digit code mailed at signup. Logged in
// (verification optional): the code for this account, or "later". Logged out (the
// server requires a verified address): the address is known from the signup or login
// form, and once verified the same e-mail and password log in.
import { useEffect, useRef, useState } from 'preact/hooks';
import { auth } from './client.js';
import { navigate } from './router.jsx';
import { store } from './store.js';

const MESSAGES = {
  invalid_code: 'That code is wrong, expired or already used. Check the mail, or send a new code.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
};

export function VerifyEmailPage({ pending, onVerified }) {
  const loggedIn = auth.loggedIn();
  const email = loggedIn ? (store.me && store.me.email) || '' : (pending && pending.email) || '';
  const [code, setCode] = useState(new URLSearchParams(location.search).get('code') || '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const input = useRef(null);
  useEffect(() => { if (input.current) input.current.focus(); }, []);

  if (!loggedIn && !email) {
    return (
      <Frame title="Verify your e-mail">
        <p>Log in with your e-mail and password, and you will be asked for the code.</p>
        <p class="auth-switch"><a href="/login" onClick={(e) => { e.preventDefault(); navigate('/login'); }}>Log in</a></p>
      </Frame>
    );
  }

  async function submit(e) {
    e.preventDefault();
    const typed = code.replace(/[\s-]/g, '');
    if (!/^\d{6}$/.test(typed)) {
      setError('Enter the 6 digits from the mail.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      const user = await auth.verifyEmail(typed, loggedIn ? undefined : email);
      if (loggedIn) {
        store.me = user;
        store.changed();
      }
      await onVerified(user);
    } catch (err) {
      setError(MESSAGES[err && err.code] || (err && err.message) || 'That did not work.');
    } finally {
      setBusy(false);
    }
  }

  async function resend() {
    setBusy(true);
    setError('');
    setNote('');
    try {
      await auth.resendVerification(loggedIn ? undefined : email);
      setNote('A new code is on its way. The old one no longer works.');
    } catch (err) {
      setError(MESSAGES[err && err.code] || (err && err.message) || 'That did not work.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <Frame title="Verify your e-mail">
      <p data-test="verify-intro">We sent a 6-digit code to <strong>{email}</strong>.
        {loggedIn ? ' Enter it to confirm the address is yours.' : ' Enter it to finish setting up your account.'}</p>
      <form onSubmit={submit} noValidate aria-label="Verify e-mail">
        <label for="verify-code">Code</label>
        <input id="verify-code" ref={input} value={code} inputMode="numeric" autocomplete="one-time-code" maxLength={12}
          onInput={(e) => setCode(e.currentTarget.value)} aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? 'verify-error' : undefined} data-test="verify-code" />
        {error && <p class="error-text" id="verify-error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Please wait…' : 'Verify'}</button>
      </form>
      <p aria-live="polite" class="muted small" data-test="verify-note">{note}</p>
      <p class="auth-switch">
        <button type="button" class="link" disabled={busy} onClick={resend} data-test="resend">Send a new code</button>
        {loggedIn && <>{' · '}<a href="/inbox" data-test="verify-later" onClick={(e) => { e.preventDefault(); navigate('/inbox', { replace: true }); }}>Later</a></>}
      </p>
    </Frame>
  );
}

function Frame({ title, children }) {
  return (
    <div class="auth-page">
      <main class="card">
        <div class="logo">Parley</div>
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}
