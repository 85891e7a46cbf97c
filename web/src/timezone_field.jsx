// The Instagram account's time zone (an IANA name), which flows' time
// conditions read: shown and set from Settings and from the flow builder.
// It reaches the server only through the load and save it is given (the SDK),
// and shows the server's validation error under the field.
import { useEffect, useState } from 'preact/hooks';

/** The zones the browser knows, for suggestions (the server decides what is valid). */
function zones() {
  try {
    return typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  } catch (e) {
    return [];
  }
}

/**
 * @param {{id: string, load: () => Promise<object>, save: (zone: string|null) => Promise<object>,
 *   inputClass?: string, buttonClass?: string, hintClass?: string, errorClass?: string}} props
 * load and save resolve to GET /api/instagram/status's body.
 */
export function TimezoneField({ id, load, save, inputClass = '', buttonClass = '', hintClass = 'small muted', errorClass = 'error-text' }) {
  const [status, setStatus] = useState(null);
  const [zone, setZone] = useState('');
  const [st, setSt] = useState({ busy: false, error: '', note: '' });
  const take = (s) => {
    setStatus(s);
    setZone((s && s.account && s.account.timezone) || '');
  };
  useEffect(() => {
    load().then(take).catch((e) => setStatus({ error: e.message || 'Cannot read the account' }));
  }, []);
  if (!status) return <p class={hintClass}>Loading the account's time zone…</p>;
  if (status.error) return <p class={errorClass}>{status.error}</p>;
  if (!status.account)
    return <p class={hintClass} data-test="tz-none">Time conditions use UTC until an Instagram account is connected (Settings).</p>;
  const saved = status.account.timezone || '';
  const submit = async (e) => {
    e.preventDefault();
    setSt({ busy: true, error: '', note: '' });
    try {
      take(await save(zone.trim() || null));
      setSt({ busy: false, error: '', note: zone.trim() ? 'Time zone saved.' : 'Time zone cleared: UTC.' });
    } catch (err) {
      setSt({ busy: false, error: err.message || 'The time zone was not saved', note: '' });
    }
  };
  const list = zones();
  return (
    <form class="tz-field" onSubmit={submit} data-test="tz-form">
      <label for={id}>Account time zone</label>
      <div class="tz-field__row">
        <input
          id={id}
          class={inputClass}
          value={zone}
          list={list.length ? `${id}-zones` : undefined}
          placeholder="UTC"
          autocomplete="off"
          spellcheck={false}
          aria-invalid={st.error ? 'true' : undefined}
          aria-describedby={`${id}-hint${st.error ? ` ${id}-error` : ''}`}
          onInput={(e) => setZone(e.currentTarget.value)}
          data-test="tz-input"
        />
        <button type="submit" class={buttonClass} disabled={st.busy || zone.trim() === saved} data-test="tz-save">
          Save
        </button>
      </div>
      {list.length > 0 && (
        <datalist id={`${id}-zones`}>
          {list.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
      )}
      <p class={hintClass} id={`${id}-hint`} data-test="tz-current">
        Time conditions in every flow use {saved ? <strong>{saved}</strong> : 'UTC (none set)'}. An IANA name such as Europe/Berlin; empty for UTC.
      </p>
      {st.error && (
        <p class={errorClass} id={`${id}-error`} role="alert" data-test="tz-error">
          {st.error}
        </p>
      )}
      <p aria-live="polite" class={hintClass}>
        {st.note}
      </p>
    </form>
  );
}
