// Instagram contacts: who they are (picture, name, username), their tags and variables
// and the time of their last message. The server searches usernames and names and
// filters by tag; pages load on demand. Tags and variables are edited by hand in a
// dialog; each contact opens its conversation.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, call } from './client.js';
import { ago, windowOpen } from './format.js';
import { Avatar } from './inbox.jsx';
import { Dialog } from './new_chat.jsx';
import { navigate } from './router.jsx';
import { store } from './store.js';

const PAGE = 50;
const TAG_MAX = 64; // the server's bounds (docs/API.md), checked here to explain them early
const TAGS_MAX = 100;
const NAME_MAX = 64;
const VALUE_MAX = 1024;

/** A contact's display name: the Instagram name, else @username, else the id. */
export function contactName(c) {
  return c.name || (c.username ? '@' + c.username : c.ig_user_id);
}

function shown(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function ContactsPage() {
  const [list, setList] = useState(null);
  const [next, setNext] = useState(null);
  const [error, setError] = useState('');
  const [q, setQ] = useState('');
  const [tag, setTag] = useState('');
  const [editing, setEditing] = useState(null);
  const asked = useRef(0); // answers to older queries are dropped

  function load(cursor) {
    const n = ++asked.current;
    const params = { limit: PAGE, cursor: cursor || undefined, q: q.trim() || undefined, tag: tag.trim() || undefined };
    setError('');
    api.contactsPage(params).then((r) => {
      if (n !== asked.current) return;
      setList((before) => (cursor ? (before || []).concat(r.contacts) : r.contacts));
      setNext(r.next_cursor || null);
    }).catch((e) => n === asked.current && setError(e.message || 'Could not load contacts'));
  }

  useEffect(() => {
    const t = setTimeout(() => load(null), 200); // one request once typing pauses
    return () => clearTimeout(t);
  }, [q, tag]);

  async function open(contact) {
    try {
      const mine = (c) => c.type === 'instagram' && (c.contact_id === contact.id || (c.contact && c.contact.id === contact.id));
      let conv = [...store.convs.values()].find(mine);
      if (!conv) {
        const r = await call('GET', '/api/messages/instagram');
        store.putConversations(r.conversations || [], { append: true });
        conv = (r.conversations || []).find(mine);
      }
      if (conv) navigate(`/c/${encodeURIComponent(conv.id)}`);
      else setError(`No conversation with ${contactName(contact)} yet.`);
    } catch (e) {
      setError(e.message || 'Could not open the conversation');
    }
  }

  const saved = (c) => {
    setList((before) => (before || []).map((x) => (x.id === c.id ? c : x)));
    setEditing(null);
  };
  const filtered = q.trim() || tag.trim();
  return (
    <div class="page">
      <h1>Contacts</h1>
      <p class="muted">People who wrote to your connected Instagram account.</p>
      <div class="row wrap contact-filters">
        <div class="grow">
          <label for="contact-search">Search usernames and names</label>
          <input id="contact-search" type="search" maxLength={64} value={q} data-test="contact-search"
            onInput={(e) => setQ(e.currentTarget.value)} />
        </div>
        <div>
          <label for="contact-tag">Tag</label>
          <input id="contact-tag" type="search" maxLength={TAG_MAX} value={tag} data-test="contact-tag"
            onInput={(e) => setTag(e.currentTarget.value)} placeholder="any" />
        </div>
      </div>
      {error && <p class="error-text" role="alert">{error}</p>}
      {!list && !error && <p class="muted">Loading…</p>}
      {list && !list.length && <p class="muted" data-test="contacts-empty">{filtered ? 'No contact matches.' : 'No contacts yet. Connect an Instagram account in Settings.'}</p>}
      {list && list.length > 0 && (
        <div class="table-wrap"><table data-test="contacts">
          <thead><tr><th scope="col">Contact</th><th scope="col">Tags</th><th scope="col">Variables</th><th scope="col">Last message</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.id} data-test="contact-row" data-id={c.id}>
                <td>
                  <span class="who">
                    <Avatar name={contactName(c)} id={c.id} pic={c.profile_pic} />
                    <span>
                      <span class="who-name" data-test="contact-name">{contactName(c)}</span>
                      {c.name && c.username && <span class="muted small"> @{c.username}</span>}
                    </span>
                  </span>
                </td>
                <td data-test="contact-tags">{(c.tags || []).map((t) => <span class="chip" key={t}>{t}</span>)}</td>
                <td class="small" data-test="contact-vars">{Object.entries(c.variables || {}).map(([k, v]) => <div key={k}>{k} = {shown(v)}</div>)}</td>
                <td class="small">{ago(c.last_inbound_at)}{windowOpen(c.last_inbound_at) ? <> <span class="badge agent">window open</span></> : null}</td>
                <td class="actions">
                  <button onClick={() => setEditing(c)} data-test="contact-edit">Edit<span class="sr-only"> {contactName(c)}</span></button>
                  <button onClick={() => open(c)}>Open<span class="sr-only"> conversation with {contactName(c)}</span></button>
                </td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
      {next && <p><button onClick={() => load(next)} data-test="contacts-more">Show more</button></p>}
      {editing && <ContactEditor contact={editing} onClose={() => setEditing(null)} onSaved={saved} />}
    </div>
  );
}

/** Edits a contact's tags (the list is replaced) and variables (merged; removed ones are sent as null). */
export function ContactEditor({ contact, onClose, onSaved }) {
  const [tags, setTags] = useState(contact.tags || []);
  const [newTag, setNewTag] = useState('');
  const [vars, setVars] = useState(Object.entries(contact.variables || {}).map(([k, v]) => ({ k, v: shown(v) })));
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const addTag = () => {
    const t = newTag.trim();
    if (!t) return;
    if ([...t].length > TAG_MAX) return setError(`A tag is at most ${TAG_MAX} characters.`);
    if (tags.length >= TAGS_MAX && !tags.includes(t)) return setError(`A contact has at most ${TAGS_MAX} tags.`);
    setError('');
    if (!tags.includes(t)) setTags(tags.concat(t));
    setNewTag('');
  };
  const setVar = (i, field, value) => setVars(vars.map((x, j) => (j === i ? { ...x, [field]: value } : x)));

  async function save(e) {
    e.preventDefault();
    // Only what changed is sent: values shown unchanged keep their JSON type, and a
    // variable no longer listed is deleted (null).
    const orig = contact.variables || {};
    const variables = {};
    const kept = new Set();
    for (const { k, v } of vars) {
      const name = k.trim();
      if (!name) continue;
      if ([...name].length > NAME_MAX || name.includes('.') || name.startsWith('$'))
        return setError(`“${name}”: a variable name is 1 to ${NAME_MAX} characters, without “.” or a leading “$”.`);
      if (new TextEncoder().encode(JSON.stringify(v)).length > VALUE_MAX) return setError(`“${name}” is longer than 1 KB.`);
      kept.add(name);
      if (!(name in orig) || shown(orig[name]) !== v) variables[name] = v;
    }
    for (const k of Object.keys(orig)) if (!kept.has(k)) variables[k] = null;
    setBusy(true);
    setError('');
    try {
      onSaved(await api.updateContact(contact.id, { tags, variables }));
    } catch (err) {
      setError(err.message || 'Could not save');
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={`Edit ${contactName(contact)}`} onClose={onClose}>
      <form onSubmit={save} data-test="contact-editor">
        <h3>Tags</h3>
        <p data-test="editor-tags">
          {tags.length ? tags.map((t) => (
            <span class="chip" key={t}>{t} <button type="button" class="icon" aria-label={`Remove tag ${t}`}
              onClick={() => setTags(tags.filter((x) => x !== t))}>×</button></span>
          )) : <span class="muted">No tags</span>}
        </p>
        <div class="pair">
          <label class="sr-only" for="new-tag">New tag</label>
          <input id="new-tag" class="grow" value={newTag} placeholder="Add a tag" data-test="new-tag"
            onInput={(e) => setNewTag(e.currentTarget.value)}
            onKeyDown={(e) => { if (e.key === 'Enter') { e.preventDefault(); addTag(); } }} />
          <button type="button" onClick={addTag} data-test="add-tag">Add tag</button>
        </div>
        <h3>Variables</h3>
        {vars.map((x, i) => (
          <div class="var-row" key={i} data-test="var-row">
            <label class="sr-only" for={`var-k-${i}`}>Name</label>
            <input id={`var-k-${i}`} value={x.k} placeholder="name" onInput={(e) => setVar(i, 'k', e.currentTarget.value)} data-test="var-name" />
            <label class="sr-only" for={`var-v-${i}`}>Value</label>
            <input id={`var-v-${i}`} class="grow" value={x.v} placeholder="value" onInput={(e) => setVar(i, 'v', e.currentTarget.value)} data-test="var-value" />
            <button type="button" class="icon" aria-label={`Remove variable ${x.k}`} onClick={() => setVars(vars.filter((_, j) => j !== i))}>×</button>
          </div>
        ))}
        <p><button type="button" onClick={() => setVars(vars.concat({ k: '', v: '' }))} data-test="add-var">Add variable</button></p>
        {error && <p class="error-text" role="alert" data-test="editor-error">{error}</p>}
        <div class="dialog-actions">
          <button type="button" onClick={onClose} disabled={busy}>Cancel</button>
          <button class="primary" type="submit" disabled={busy} data-test="save-contact">Save</button>
        </div>
      </form>
    </Dialog>
  );
}
