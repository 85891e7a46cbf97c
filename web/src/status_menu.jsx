// The user's menu in the navigation: their name, how others see them, and the status
// picker (online, away, do not disturb, invisible). Saved at once through the SDK.
import { useState } from 'preact/hooks';
import { setMyStatus } from './client.js';
import { PresenceDot } from './presence.jsx';
import { useStore } from './store.js';

export const STATUS_CHOICES = [
  ['online', 'Online'],
  ['away', 'Away'],
  ['dnd', 'Do not disturb'],
  ['invisible', 'Invisible (appear offline)'],
];

export function StatusMenu() {
  const s = useStore();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  if (!s.me) return <div class="me" />;
  return (
    <div class="me" data-test="me">
      <div class="me-name">
        <span class="me-dot" aria-hidden="true"><PresenceDot status={s.status(s.me.id)} /></span>
        <span>{s.me.name}</span>
      </div>
      <label class="sr-only" for="my-status">Your status</label>
      <select id="my-status" class="status-picker" data-test="status-picker" value={s.myStatus()} disabled={busy}
        onChange={async (e) => {
          const next = e.currentTarget.value;
          setBusy(true);
          setError('');
          try {
            await setMyStatus(next);
          } catch (err) {
            setError((err && err.message) || 'Not saved');
          } finally {
            setBusy(false);
          }
        }}>
        {STATUS_CHOICES.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
      </select>
      {error && <p class="error-text small" role="alert">{error}</p>}
    </div>
  );
}
