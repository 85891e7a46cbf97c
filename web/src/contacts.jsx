// Instagram contacts: tags, variables and the time of their last message; each opens
// its conversation.
import { useEffect, useState } from 'preact/hooks';
import { api, call } from './client.js';
import { ago, windowOpen } from './format.js';
import { navigate } from './router.jsx';
import { store } from './store.js';

const SHOWN = 200; // rows rendered at once; "Show more" adds another page

export function ContactsPage() {
  const [contacts, setContacts] = useState(null);
  const [error, setError] = useState('');
  const [q, setQ] = useState('');
  const [shown, setShown] = useState(SHOWN);

  useEffect(() => {
    api.contacts().then(setContacts).catch((e) => setError(e.message || 'Could not load contacts'));
  }, []);

  async function open(contact) {
    try {
      let conv = [...store.convs.values()].find((c) => c.type === 'instagram' &&
        (c.contact_id === contact.id || (c.contact && c.contact.id === contact.id)));
      if (!conv) {
        const r = await call('GET', '/api/messages/instagram');
        store.putConversations(r.conversations || [], { append: true });
        conv = (r.conversations || []).find((c) => c.contact_id === contact.id || (c.contact && c.contact.id === contact.id));
      }
      if (conv) navigate(`/c/${encodeURIComponent(conv.id)}`);
      else setError(`No conversation with ${contact.username || contact.ig_user_id} yet.`);
    } catch (e) {
      setError(e.message || 'Could not open the conversation');
    }
  }

  const term = q.trim().toLowerCase();
  const list = (contacts || []).filter((c) => !term || (c.username || '').toLowerCase().includes(term) ||
    (c.tags || []).some((t) => t.toLowerCase().includes(term)));
  return (
    <div class="page">
      <h1>Contacts</h1>
      <p class="muted">People who wrote to your connected Instagram account.</p>
      <label for="contact-filter">Filter by username or tag</label>
      <input id="contact-filter" type="search" value={q} onInput={(e) => { setQ(e.currentTarget.value); setShown(SHOWN); }} />
      {error && <p class="error-text" role="alert">{error}</p>}
      {!contacts && !error && <p class="muted">Loading…</p>}
      {contacts && !list.length && <p class="muted">{contacts.length ? 'No contact matches.' : 'No contacts yet. Connect an Instagram account in Settings.'}</p>}
      {list.length > 0 && (
        <div class="table-wrap"><table data-test="contacts">
          <thead><tr><th scope="col">Contact</th><th scope="col">Tags</th><th scope="col">Variables</th><th scope="col">Last message</th><th scope="col"><span class="sr-only">Open</span></th></tr></thead>
          <tbody>
            {list.slice(0, shown).map((c) => (
              <tr key={c.id}>
                <td>{c.username ? '@' + c.username : c.ig_user_id}</td>
                <td>{(c.tags || []).map((t) => <span class="chip" key={t}>{t}</span>)}</td>
                <td class="small">{Object.entries(c.variables || {}).map(([k, v]) => <div key={k}>{k} = {typeof v === 'string' ? v : JSON.stringify(v)}</div>)}</td>
                <td class="small">{ago(c.last_inbound_at)}{windowOpen(c.last_inbound_at) ? <> <span class="badge agent">window open</span></> : null}</td>
                <td><button onClick={() => open(c)}>Open<span class="sr-only"> conversation with {c.username || c.ig_user_id}</span></button></td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
      {list.length > shown && <p><button onClick={() => setShown(shown + SHOWN)}>Show more</button></p>}
    </div>
  );
}
