// Log in and sign up. Server errors are shown at the field they name (a taken e-mail
// under the e-mail box); others above the button. An address still to be verified
// goes on to the code screen (onUnverified) with the e-mail and password typed.
import { useEffect, useRef, useState } from 'preact/hooks';
import { auth } from './client.js';
import { navigate, usePath } from './router.jsx';

const FIELD_OF = { email_taken: 'email', invalid_credentials: 'password' };

export function AuthPage({ message, onDone, onUnverified }) {
  const path = usePath();
  const signup = path === '/signup';
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState({});
  const first = useRef(null);

  useEffect(() => {
    setErrors({});
    if (first.current) first.current.focus();
  }, [signup]);

  async function submit(e) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const email = String(f.get('email') || '').trim();
    const password = String(f.get('password') || '');
    const name = String(f.get('name') || '').trim();
    const local = {};
    if (signup && !name) local.name = 'Enter your name.';
    if (!email) local.email = 'Enter your e-mail address.';
    if (signup && password.length < 8) local.password = 'Use at least 8 characters.';
    else if (!password) local.password = 'Enter your password.';
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      if (signup) {
        await auth.signup(email, password, name);
        // Verification required: no login until the code is in.
        if (!auth.loggedIn()) return onUnverified(email, password);
        // Verification optional: straight in; the inbox offers the code screen.
        onDone(null);
      } else {
        await auth.login(email, password);
        onDone(null);
      }
    } catch (err) {
      if (err && err.code === 'email_unverified') return onUnverified(email, password);
      const field = (err && (err.field || FIELD_OF[err.code])) || 'form';
      let text = (err && err.message) || 'Something went wrong.';
      if (err && err.code === 'email_taken') text = 'This e-mail address already has an account. Log in instead?';
      if (err && err.code === 'invalid_credentials') text = 'Wrong e-mail or password.';
      if (err && err.code === 'rate_limited') text = 'Too many attempts. Wait a minute and try again.';
      if (err && err.status === 0) text = 'The server cannot be reached. Check your connection.';
      setErrors({ [['email', 'password', 'name'].includes(field) ? field : 'form']: text });
    } finally {
      setBusy(false);
    }
  }

  const field = (name, label, type, autocomplete, ref) => (
    <div>
      <label for={`auth-${name}`}>{label}</label>
      <input id={`auth-${name}`} name={name} type={type} autocomplete={autocomplete} ref={ref}
        aria-invalid={errors[name] ? 'true' : undefined}
        aria-describedby={errors[name] ? `auth-${name}-error` : undefined}
        maxLength={name === 'password' ? 256 : name === 'name' ? 100 : 320} />
      {errors[name] && <p class="error-text" id={`auth-${name}-error`} role="alert">{errors[name]}</p>}
    </div>
  );

  return (
    <div class="auth-page">
      <main class="card">
        <div class="logo">Parley</div>
        <h1>{signup ? 'Create your account' : 'Log in'}</h1>
        {message && <p class="notice" role="alert">{message}</p>}
        <form onSubmit={submit} noValidate aria-label={signup ? 'Sign up' : 'Log in'}>
          {signup && field('name', 'Name', 'text', 'name', first)}
          {field('email', 'E-mail', 'email', 'email', signup ? null : first)}
          {field('password', 'Password', 'password', signup ? 'new-password' : 'current-password')}
          {errors.form && <p class="error-text" role="alert">{errors.form}</p>}
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Please wait…' : signup ? 'Sign up' : 'Log in'}
          </button>
        </form>
        {!signup && (
          <p class="auth-switch">
            <a href="/forgot-password" data-test="forgot" onClick={(e) => { e.preventDefault(); navigate('/forgot-password'); }}>Forgot your password?</a>
          </p>
        )}
        <p class="auth-switch">
          {signup ? 'Already have an account? ' : 'New to Parley? '}
          <a href={signup ? '/login' : '/signup'} onClick={(e) => {
            e.preventDefault();
            navigate(signup ? '/login' : '/signup');
          }}>{signup ? 'Log in' : 'Create an account'}</a>
        </p>
      </main>
    </div>
  );
}
