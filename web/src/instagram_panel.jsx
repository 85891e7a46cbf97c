// An Instagram conversation's contact: name and username, tags, variables and the
// time of the customer's last message (which opens the 24-hour reply window).
import { useEffect, useState } from 'preact/hooks';
import { api } from './client.js';
import { ago } from './format.js';

const cache = new Map(); // contact id -> contact, so reopening a chat does not refetch

/** The contact of an Instagram conversation: embedded when the server sends it, else fetched. */
export function useContact(conv) {
  const id = conv && conv.type === 'instagram' ? (conv.contact && conv.contact.id) || conv.contact_id : null;
  const [contact, setContact] = useState(conv && conv.contact ? conv.contact : id ? cache.get(id) || null : null);
  const lastSeq = conv ? conv.last_seq : 0;
  const named = conv ? conv.name : ''; // a profile fetch renames the conversation: refetch
  useEffect(() => {
    if (!id) return undefined;
    let live = true;
    api.contact(id).then((c) => {
      cache.set(id, c);
      if (live) setContact(c);
    }).catch(() => {});
    return () => { live = false; };
  }, [id, lastSeq, named]);
  return conv && conv.contact && !contact ? conv.contact : contact;
}

export function ContactDetails({ contact }) {
  const vars = Object.entries(contact.variables || {});
  return (
    <div>
      {contact.profile_pic && <img class="contact-pic" src={contact.profile_pic} alt="" referrerpolicy="no-referrer" data-test="contact-pic" />}
      <dl class="kv">
        <dt>Username</dt><dd>{contact.username ? '@' + contact.username : '—'}</dd>
        {contact.name && <><dt>Name</dt><dd>{contact.name}</dd></>}
        <dt>Instagram id</dt><dd>{contact.ig_user_id}</dd>
        <dt>Last message</dt><dd>{ago(contact.last_inbound_at)}</dd>
      </dl>
      <h3>Tags</h3>
      <p>{(contact.tags || []).length ? contact.tags.map((t) => <span class="chip" key={t}>{t}</span>) : <span class="muted">No tags</span>}</p>
      <h3>Variables</h3>
      {vars.length ? (
        <dl class="kv">{vars.map(([k, v]) => [<dt key={`k${k}`}>{k}</dt>, <dd key={`v${k}`}>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>])}</dl>
      ) : <p class="muted">No variables</p>}
    </div>
  );
}

export function InstagramPanel({ contact, onClose }) {
  return (
    <aside class="side" aria-label="Contact details" data-test="ig-panel">
      <div class="row"><h2 class="grow">Contact</h2><button onClick={onClose} aria-label="Close details">×</button></div>
      {contact ? <ContactDetails contact={contact} /> : <p class="muted">Loading…</p>}
    </aside>
  );
}
