// Settings › Bots: the user's bot accounts (API.md, Bots). Create one (its token and
// signing secret are shown this once), see each webhook's health ("disabled after
// failures", live through bot.disabled), enable it again, rotate its token, delete it.
import { useEffect, useState } from 'preact/hooks';
import { api, client } from './client.js';
import { ago } from './format.js';

function Secret({ label, value, test }) {
  return (
    <div class="bot-secret">
      <label>{label}</label>
      <pre class="code" data-test={test}>{value}</pre>
    </div>
  );
}

function BotRow({ bot, onChanged, onShown, onError }) {
  const disabled = bot.status === 'disabled';
  const act = async (p) => {
    try {
      return await p;
    } catch (e) {
      onError(e.message || 'That did not work');
      return null;
    }
  };
  return (
    <li class="bot" data-test="bot" data-bot-id={bot.id}>
      <div class="row">
        <strong class="grow">{bot.name}</strong>
        <span class={disabled ? 'badge bot-disabled' : 'badge bot-active'} data-test="bot-status">
          {disabled ? 'disabled after failures' : 'active'}
        </span>
      </div>
      <p class="small muted bot-url">{bot.webhook_url}</p>
      {disabled ? (
        <p class="small error-text" role="alert" data-test="bot-disabled-note">
          Deliveries stopped after {bot.failures} failed attempts{bot.disabled_at ? ` (${ago(bot.disabled_at)})` : ''}:
          {' '}{bot.last_error || 'the webhook failed'}. {bot.queued} waiting.
        </p>
      ) : bot.failures > 0 ? (
        <p class="small muted" data-test="bot-failing">Retrying: {bot.failures} failed attempts ({bot.last_error}).</p>
      ) : (
        <p class="small muted">{bot.queued ? `${bot.queued} deliveries waiting.` : 'All messages delivered.'}</p>
      )}
      <div class="row">
        {disabled && (
          <button class="primary" data-test="bot-enable" onClick={async () => {
            const b = await act(api.updateBot(bot.id, { enabled: true }));
            if (b) onChanged(b);
          }}>Enable again</button>
        )}
        <button data-test="bot-rotate" onClick={async () => {
          if (!confirm(`Make a new token for ${bot.name}? The current one stops working at once.`)) return;
          const r = await act(api.rotateBotToken(bot.id));
          if (r) onShown({ name: bot.name, token: r.token });
        }}>New token</button>
        <button class="danger" data-test="bot-delete" onClick={async () => {
          if (!confirm(`Delete ${bot.name}? Its token stops working and it leaves every conversation's deliveries.`)) return;
          if ((await act(api.deleteBot(bot.id))) !== null) onChanged(null, bot.id);
        }}>Delete</button>
      </div>
    </li>
  );
}

export function Bots() {
  const [bots, setBots] = useState(null);
  const [form, setForm] = useState({ name: '', url: '' });
  const [shown, setShown] = useState(null); // {name, token, signing_secret?}: this once
  const [error, setError] = useState({ message: '', field: '' });
  const [busy, setBusy] = useState(false);
  const load = () => api.bots().then(setBots).catch((e) => setError({ message: e.message, field: '' }));
  useEffect(() => {
    load();
    // A webhook that kept failing was disabled: its row says so at once.
    return client.on('bot.disabled', (f) => setBots((list) => (list || []).map((b) => (b.id === f.bot.id ? f.bot : b))));
  }, []);
  const changed = (bot, goneId) =>
    setBots((list) => (goneId ? list.filter((b) => b.id !== goneId) : list.map((b) => (b.id === bot.id ? bot : b))));
  const onError = (message) => setError({ message, field: '' });
  return (
    <section class="card" aria-labelledby="bots-h" data-test="bots">
      <h2 id="bots-h">Bots</h2>
      <p class="small muted">A bot posts through the API with its token, and gets every message of the
        conversations you add it to at its webhook, signed with its signing secret.</p>
      {shown && (
        <div class="bot-shown" role="status" data-test="bot-shown">
          <p><strong>{shown.name}</strong>: copy these now, they are not shown again.</p>
          <Secret label="Token (Authorization: Bot …)" value={shown.token} test="bot-token" />
          {shown.signing_secret && <Secret label="Signing secret (X-Parley-Signature)" value={shown.signing_secret} test="bot-secret" />}
          <button onClick={() => setShown(null)}>Done</button>
        </div>
      )}
      {bots === null ? <p class="muted">Loading…</p> : bots.length === 0 ? <p class="muted">No bots yet.</p> : (
        <ul class="bots">
          {bots.map((b) => <BotRow key={b.id} bot={b} onChanged={changed} onShown={setShown} onError={onError} />)}
        </ul>
      )}
      <form data-test="bot-create" onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError({ message: '', field: '' });
        try {
          const r = await api.createBot({ name: form.name.trim(), webhookUrl: form.url.trim() });
          setShown({ name: r.bot.name, token: r.token, signing_secret: r.signing_secret });
          setBots((list) => [...(list || []), r.bot]);
          setForm({ name: '', url: '' });
        } catch (err) {
          setError({ message: err.message || 'That did not work', field: err.field || '' });
        }
        setBusy(false);
      }}>
        <h3>New bot</h3>
        <label for="bot-name">Name</label>
        <input id="bot-name" value={form.name} maxLength={100} required
          onInput={(e) => setForm({ ...form, name: e.currentTarget.value })}
          aria-invalid={error.field === 'name' ? 'true' : undefined} />
        <label for="bot-url">Webhook URL</label>
        <input id="bot-url" type="url" value={form.url} maxLength={2048} required placeholder="https://bots.example.com/parley"
          onInput={(e) => setForm({ ...form, url: e.currentTarget.value })}
          aria-invalid={error.field === 'webhook_url' ? 'true' : undefined} />
        <p><button type="submit" class="primary" disabled={busy}>Create bot</button></p>
      </form>
      {error.message && <p class="error-text" role="alert" data-test="bot-error">{error.message}</p>}
    </section>
  );
}
