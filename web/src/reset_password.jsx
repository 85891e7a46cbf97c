// "Forgot password": ask for a code by mail, then set a new password with it. The
// mail's link opens /reset-password?code=… with the code filled in. The server answers
// the request the same whether an account has the address, and so does this screen.
// After the change every device is signed out; with the address known, this one logs
// straight in with the new password.
import { useState } from 'preact/hooks';
import { auth } from './client.js';
import { navigate, usePath } from './router.jsx';

const MESSAGES = {
  invalid_code: 'That code is wrong, expired or already used. Ask for a new one.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
};

function message(err) {
  if (err && err.status === 0) return 'The server cannot be reached. Check your connection.';
  return MESSAGES[err && err.code] || (err && err.message) || 'That did not work.';
}

export function ResetPasswordPage({ onDone }) {
  const path = usePath();
  const linked = new URLSearchParams(location.search).get('code') || '';
  const [step, setStep] = useState(path === '/reset-password' || linked ? 'confirm' : 'request');
  const [email, setEmail] = useState('');
  const [code, setCode] = useState(linked);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState({});

  async function request(e) {
    e.preventDefault();
    const address = email.trim();
    if (!address) return setErrors({ email: 'Enter your e-mail address.' });
    setBusy(true);
    setErrors({});
    try {
      await auth.requestPasswordReset(address);
      setStep('confirm');
    } catch (err) {
      setErrors({ [err && err.field === 'email' ? 'email' : 'form']: message(err) });
    } finally {
      setBusy(false);
    }
  }

  async function confirm(e) {
    e.preventDefault();
    const local = {};
    if (!code.trim()) local.code = 'Enter the code from the mail.';
    if (password.length < 8) local.password = 'Use at least 8 characters.';
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      await auth.confirmPasswordReset(code.trim(), password);
      if (email.trim()) {
        await auth.login(email.trim(), password);
        onDone();
      } else {
        setStep('done');
      }
    } catch (err) {
      const field = err && (err.code === 'invalid_code' || err.field === 'code') ? 'code'
        : err && err.field === 'password' ? 'password' : 'form';
      setErrors({ [field]: message(err) });
    } finally {
      setBusy(false);
    }
  }

  const err = (name) => errors[name] && <p class="error-text" id={`reset-${name}-error`} role="alert">{errors[name]}</p>;
  const toLogin = (e) => { e.preventDefault(); navigate('/login'); };
  return (
    <div class="auth-page">
      <main class="card">
        <div class="logo">Parley</div>
        <h1>{step === 'done' ? 'Password changed' : 'Reset your password'}</h1>
        {step === 'request' && (
          <form onSubmit={request} noValidate aria-label="Ask for a reset code">
            <p>Enter the e-mail address of your account. We will send a code to choose a new password.</p>
            <label for="reset-email">E-mail</label>
            <input id="reset-email" type="email" autocomplete="email" value={email} maxLength={320}
              onInput={(e) => setEmail(e.currentTarget.value)} aria-invalid={errors.email ? 'true' : undefined} />
            {err('email')}
            {err('form')}
            <button type="submit" class="primary" disabled={busy}>{busy ? 'Please wait…' : 'Send the code'}</button>
          </form>
        )}
        {step === 'confirm' && (
          <form onSubmit={confirm} noValidate aria-label="Choose a new password">
            {email.trim()
              ? <p class="notice" data-test="reset-sent">If an account uses {email.trim()}, a code is on its way. It works once and expires soon.</p>
              : <p>Enter the code from the mail and choose a new password.</p>}
            <label for="reset-code">Code</label>
            <input id="reset-code" value={code} autocomplete="one-time-code" maxLength={40} spellcheck={false}
              onInput={(e) => setCode(e.currentTarget.value)} aria-invalid={errors.code ? 'true' : undefined}
              placeholder="XXXX-XXXX-XXXX-XXXX-XXXX" />
            {err('code')}
            <label for="reset-password">New password</label>
            <input id="reset-password" type="password" autocomplete="new-password" value={password} maxLength={256}
              onInput={(e) => setPassword(e.currentTarget.value)} aria-invalid={errors.password ? 'true' : undefined} />
            {err('password')}
            <p class="small muted">Changing it signs you out on every device.</p>
            {err('form')}
            <button type="submit" class="primary" disabled={busy}>{busy ? 'Please wait…' : 'Set the new password'}</button>
          </form>
        )}
        {step === 'done' && <p class="notice" data-test="reset-done">Your password was changed and every device was signed out. Log in with the new password.</p>}
        <p class="auth-switch"><a href="/login" onClick={toLogin}>Back to log in</a></p>
      </main>
    </div>
  );
}
