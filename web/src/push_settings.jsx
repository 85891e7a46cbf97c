// Settings, Notifications: Web Push for when Parley is closed (API.md, Push). The toggle
// registers the service worker (/sw.js), asks the browser's permission, subscribes with
// the server's VAPID key and hands the subscription to the server; turning it off
// unsubscribes and removes it. The subscription's id is kept in localStorage to remove
// it later. What the browser cannot do (no push service, permission refused) is said.
import { useEffect, useState } from 'preact/hooks';
import { call } from './client.js';

const KEY = 'parley.push';
// How long the browser's push service may take to hand out a subscription. Past it the
// attempt is reported; a subscription that still arrives later is withdrawn.
const SUBSCRIBE_TIMEOUT_MS = 10000;

export function pushSupported() {
  return typeof navigator !== 'undefined' && 'serviceWorker' in navigator &&
    typeof window !== 'undefined' && 'PushManager' in window && 'Notification' in window;
}

function saved() {
  try { return JSON.parse(localStorage.getItem(KEY) || 'null'); } catch (e) { return null; }
}

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export async function registerWorker() {
  const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  await navigator.serviceWorker.ready;
  return reg;
}

async function enable(preview) {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('Notifications are blocked for this site in the browser\u2019s settings.');
  const reg = await registerWorker();
  const { public_key: key } = await call('GET', '/api/push/vapid-key');
  let sub, late = false, timer;
  const asked = reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  asked.then((s) => { if (late && s) s.unsubscribe(); }, () => {});
  try {
    sub = await Promise.race([asked, new Promise((_, fail) => {
      timer = setTimeout(() => { late = true; fail(new Error('no answer')); }, SUBSCRIBE_TIMEOUT_MS);
    })]);
  } catch (e) {
    throw new Error(`The browser could not subscribe to its push service (${e.message || e.name}).`);
  } finally {
    clearTimeout(timer);
  }
  const body = { ...sub.toJSON(), preview };
  const r = await call('POST', '/api/push/subscriptions', body);
  localStorage.setItem(KEY, JSON.stringify({ id: r.subscription.id, endpoint: sub.endpoint, preview }));
}

async function disable() {
  const s = saved();
  if (s && s.id) await call('DELETE', `/api/push/subscriptions/${encodeURIComponent(s.id)}`).catch(() => {});
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = reg && await reg.pushManager.getSubscription();
  if (sub) await sub.unsubscribe();
  localStorage.removeItem(KEY);
}

export function Notifications() {
  const supported = pushSupported();
  const [on, setOn] = useState(!!saved());
  const [preview, setPreview] = useState(saved() ? saved().preview !== false : true);
  const [state, setState] = useState({ busy: false, error: '', note: '' });
  useEffect(() => {
    // A worker registered before keeps working; registering again updates it.
    if (supported && saved()) registerWorker().catch(() => {});
  }, []);
  const apply = async (wantOn, wantPreview) => {
    setState({ busy: true, error: '', note: '' });
    try {
      if (on) await disable();
      if (wantOn) await enable(wantPreview);
      setOn(wantOn);
      setPreview(wantPreview);
      setState({ busy: false, error: '', note: wantOn ? 'Notifications are on for this browser.' : 'Notifications are off.' });
    } catch (e) {
      setOn(false);
      setState({ busy: false, error: e.message || 'That did not work', note: '' });
    }
  };
  return (
    <section class="card" aria-labelledby="push-h" data-test="push-settings">
      <h2 id="push-h">Notifications</h2>
      {!supported ? (
        <p class="muted" data-test="push-unsupported">This browser cannot show notifications while Parley is closed.</p>
      ) : (
        <>
          <p class="small muted">Get a notification for new messages and mentions while Parley is not open. Muted conversations and do-not-disturb stay quiet.</p>
          <label class="inline push-check">
            <input type="checkbox" data-test="push-toggle" checked={on} disabled={state.busy}
              onChange={(e) => apply(e.currentTarget.checked, preview)} />
            {' '}Enable notifications
          </label>
          <label class="inline push-check">
            <input type="checkbox" data-test="push-preview" checked={preview} disabled={state.busy || !on}
              onChange={(e) => apply(true, e.currentTarget.checked)} />
            {' '}Show message text in notifications
          </label>
        </>
      )}
      <p aria-live="polite" class="muted" data-test="push-note">{state.note}</p>
      {state.error && <p class="error-text" role="alert" data-test="push-error">{state.error}</p>}
    </section>
  );
}
