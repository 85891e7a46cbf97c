// One conversation: its header, the message window (paged backwards as the reader
// scrolls up, forwards again when the window moved away from the newest), typing,
// the composer, and the group or Instagram panel beside it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, avatarFailed, client, markRead, sendMessage, setAnnouncer, typing } from './client.js';
import { ago, windowOpen } from './format.js';
import { presenceText } from './presence.jsx';
import { Link } from './router.jsx';
import { PAGE, store, useStore } from './store.js';
import { Avatar, ChannelBadge, MutedIcon } from './inbox.jsx';
import { MessageList } from './messages.jsx';
import { Composer } from './composer.jsx';
import { CallButton } from './calls.jsx';
import { GroupPanel } from './group_panel.jsx';
import { ChannelPanel } from './channel_panel.jsx';
import { InstagramPanel, useContact } from './instagram_panel.jsx';
import { SafetyButton, secretSend, useSecretDevice } from './secret/secret_view.jsx';

const loads = new Map(); // conversation id -> promise of the page in flight

/** Loads a page of a conversation's history: "latest", "older" or "newer". */
export function loadPage(id, where) {
  if (loads.has(id)) return loads.get(id);
  const ch = store.chat(id);
  const opts = { limit: PAGE };
  if (where === 'older') opts.before = ch.items.length ? ch.items[0].seq : undefined;
  if (where === 'newer') opts.after = ch.items.length ? ch.items[ch.items.length - 1].seq : 0;
  const p = api.messages(id, opts)
    .then((r) => {
      store.putPage(id, r.messages, r.has_more, where);
      // From here on a reconnect recovers what this conversation missed.
      if (where === 'latest') client.track(id, r.messages.length ? r.messages[r.messages.length - 1].seq : 0);
    })
    .catch((err) => {
      ch.error = (err && err.message) || 'Could not load messages';
      store.changed();
    })
    .finally(() => loads.delete(id));
  loads.set(id, p);
  return p;
}

/** 24 -> "24 hours", 168 -> "7 days". */
function windowLength(hours) {
  return hours % 24 === 0 && hours > 24 ? `${hours / 24} days` : `${hours} hours`;
}

function typingText(ids) {
  if (!ids.length) return '';
  const names = ids.map((u) => store.userName(u));
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

export function ChatPane({ id }) {
  const s = useStore();
  const c = s.convs.get(id);
  const ch = s.chat(id);
  const [missing, setMissing] = useState('');
  // The Instagram contact's tags and variables sit beside the chat where there is room.
  const [sideChoice, setSide] = useState(null); // null: the default below
  const [said, setSaid] = useState('');
  const contact = useContact(c);
  const keysError = useSecretDevice(c);

  useEffect(() => {
    if (!c) {
      api.conversation(id).then((conv) => store.putConversations([conv]))
        .catch((e) => setMissing(e.status === 404 ? 'This conversation does not exist or you are not in it.' : e.message));
    }
    // A search result opens the chat at its message (the effect below loads it).
    const focused = store.focus && store.focus.conv === id;
    if (!ch.loaded && !focused) loadPage(id, 'latest');
    setAnnouncer((m) => {
      if (m.conversation_id === id) setSaid(`${store.userName(m.sender_id)}: ${m.ciphertexts ? 'secret message' : m.text == null ? 'attachment' : m.text}`);
    });
    return () => setAnnouncer(() => {});
  }, [id]);

  // Opened from a search result: the history around that message, scrolled to it.
  useEffect(() => {
    const f = s.focus;
    if (!f || f.conv !== id) return;
    store.focus = null;
    api.messages(id, { before: f.seq + 10, limit: 30 }).then((r) => {
      const conv = store.convs.get(id);
      store.putAround(id, r.messages, r.has_more, conv ? conv.last_seq : Infinity);
      requestAnimationFrame(() => {
        const node = document.querySelector(`.chat [data-seq="${f.seq}"]`);
        if (!node) return;
        node.scrollIntoView({ block: 'center' });
        node.classList.add('focused');
        setTimeout(() => node.classList.remove('focused'), 2500);
      });
    }).catch((err) => {
      store.chat(id).error = (err && err.message) || 'Could not load messages';
      store.changed();
    });
  }, [id, s.focus]);

  // Read position: the newest message, once the reader is looking at the bottom.
  const atBottom = useRef(true);
  const lastSeq = ch.items.length ? ch.items[ch.items.length - 1].seq : 0;
  useEffect(() => {
    if (atBottom.current && !ch.hasNewer && lastSeq && !document.hidden) markRead(id, lastSeq);
  }, [lastSeq, s.connection]);
  useEffect(() => {
    const onVis = () => {
      const seq = store.chat(id).items.slice(-1)[0];
      if (!document.hidden && atBottom.current && seq) markRead(id, seq.seq);
    };
    document.addEventListener('visibilitychange', onVis);
    return () => document.removeEventListener('visibilitychange', onVis);
  }, [id]);

  const gone = s.gone.get(id);
  if (missing || (!c && gone)) {
    return <section class="chat"><div class="page"><p role="alert" data-test="chat-gone">{gone || missing}</p><Link href="/inbox">Back to the inbox</Link></div></section>;
  }
  if (!c) return <section class="chat"><p class="page muted">Loading…</p></section>;

  const title = s.title(c);
  const peer = s.peer(c);
  const status = peer ? s.status(peer.id) : null;
  const ig = c.type === 'instagram';
  // The composer follows the window the server enforces for a person's reply: 24 hours,
  // or 7 days when the operator enabled Meta's HUMAN_AGENT tag.
  const { hours, agent_hours: agentHours } = s.replyWindow;
  const open = ig && contact ? windowOpen(contact.last_inbound_at, Date.now(), agentHours) : true;
  const tagged = ig && contact && open && !windowOpen(contact.last_inbound_at, Date.now(), hours);
  // The Instagram contact's tags and variables sit beside the chat where there is room.
  const side = sideChoice === null ? ig && typeof matchMedia === 'function' && matchMedia('(min-width: 1101px)').matches : sideChoice;
  return (
    <section class="chat" aria-label={`Chat: ${title}`}>
      <header class="chat-head">
        <Link href="/inbox" class="back-link button" aria-label="Back to the inbox">‹</Link>
        <Avatar name={title} id={c.id} status={status} onBroken={() => avatarFailed(c.id)}
          pic={ig && contact ? contact.profile_pic : s.convPic(c)} />
        <div class="grow">
          <h2 data-test="chat-title">{title}</h2>
          <div class="row small muted">
            <ChannelBadge type={c.type} />
            {ig && contact && contact.username && <span data-test="ig-username">@{contact.username}</span>}
            {status && <span data-test="presence" data-status={status}>{presenceText(status, s.lastSeen(peer.id))}</span>}
            {c.type === 'group' && <span>{(c.participants || []).length} members</span>}
            {c.type === 'channel' && <span data-test="member-count">{c.member_count === 1 ? '1 member' : `${c.member_count} members`}</span>}
          </div>
        </div>
        {ig && <TeamControls c={c} contact={contact} />}
        {c.type === 'direct' && <CallButton conv={c} />}
        {c.type === 'secret' && <SafetyButton conv={c} />}
        {!ig && <MuteMenu c={c} />}
        {c.type !== 'direct' && c.type !== 'secret' && (
          <button class="details-button" onClick={() => setSide(!side)} aria-expanded={side ? 'true' : 'false'}
            aria-label={ig ? 'Contact' : 'Details'} title={ig ? 'Contact' : 'Details'} data-test="details">
            {/* On a narrow screen an icon, so that the conversation's name has the room. */}
            <span class="details-label">{ig ? 'Contact' : 'Details'}</span>
            <svg class="details-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none"
              stroke="currentColor" stroke-width="2" stroke-linecap="round" data-test="details-icon">
              <circle cx="12" cy="12" r="9.5" /><path d="M12 11v6M12 7.5v.01" />
            </svg>
          </button>
        )}
      </header>
      <div class="chat-body">
        <div class="chat-main">
          <MessageList conv={c} ch={ch} onBottom={(v) => { atBottom.current = v; }}
            loadOlder={() => loadPage(id, 'older')} loadNewer={() => loadPage(id, 'newer')} />
          <div class="typing" aria-live="polite" data-test="typing">{typingText(s.typers(id))}</div>
          <div class="sr-only" aria-live="polite" role="status" data-test="announce">{said}</div>
          {ig && (
            <div class={`window ${open ? 'open' : 'closed'}${tagged ? ' tagged' : ''}`} data-test="ig-window" role="note">
              {!contact ? 'Checking the reply window…' : tagged
                ? `Human agent window: the customer wrote ${ago(contact.last_inbound_at)}, more than ${hours} hours ago. You can still reply in person until ${windowLength(agentHours)} after their last message (Instagram's HUMAN_AGENT tag); automated flows cannot.`
                : open
                  ? `Reply window open: the customer wrote ${ago(contact.last_inbound_at)}; it closes ${hours} hours after their last message${agentHours > hours ? ` (${windowLength(agentHours)} for a reply in person)` : ''}.`
                  : `The reply window is closed. Instagram lets a business reply only within ${windowLength(agentHours)} of the customer's last message (last: ${ago(contact.last_inbound_at)}). You can answer once they write again.`}
            </div>
          )}
          {c.type === 'secret' && (
            <p class="secret-note small muted" role="note" data-test="secret-note">
              Messages in this secret chat are end-to-end encrypted: the server stores only ciphertext, one per device.
              {keysError && <span class="error-text" role="alert"> This browser could not set up its keys: {keysError}</span>}
            </p>
          )}
          {c.type === 'channel' && c.role !== 'admin' ? (
            <p class="read-only" role="note" data-test="read-only">Only the channel's admins post here; you read along.</p>
          ) : (
            <Composer key={id} conv={c} disabled={ig && !!contact && !open}
              replyTo={ch.replyTo || null} onCancelReply={() => store.setReply(id, null)}
              onSend={c.type === 'secret' ? secretSend(c) : (text, extra) => {
                const clientId = sendMessage(id, text, extra || {});
                store.setReply(id, null);
                return clientId;
              }}
              onTyping={ig || c.type === 'channel' ? null : (state) => typing(id, state)} />
          )}
        </div>
        {side && c.type === 'group' && <GroupPanel conv={c} onClose={() => setSide(false)} />}
        {side && c.type === 'channel' && <ChannelPanel conv={c} onClose={() => setSide(false)} />}
        {side && ig && <InstagramPanel conv={c} contact={contact} onClose={() => setSide(false)} />}
      </div>
    </section>
  );
}

const HOUR = 3600 * 1000;
const MUTES = [
  ['For 1 hour', HOUR],
  ['For 8 hours', 8 * HOUR],
  ['For 1 week', 7 * 24 * HOUR],
  ['Until I unmute', null],
];
const FOREVER = '9999-12-31T23:59:59.999Z';

/** The conversation menu's mute (docs/API.md, Mute): the caller's own setting, shown as
 * a muted icon here and in the inbox; a muted conversation raises no notification. */
function MuteMenu({ c }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState('');
  const muted = store.muted(c);
  const set = (until) => {
    setOpen(false);
    setError('');
    api.mute(c.id, until).then((conv) => store.putConversations([conv]))
      .catch((e) => setError(e.message || 'That did not work'));
  };
  const label = !muted ? '' : c.muted_until === FOREVER ? 'Muted'
    : `Muted until ${new Date(c.muted_until).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' })}`;
  return (
    <div class="menu-wrap">
      {muted && <span class="muted-state small muted" data-test="muted-state"><MutedIcon /> {label}</span>}
      <button aria-haspopup="menu" aria-expanded={open ? 'true' : 'false'} onClick={() => setOpen(!open)} data-test="conv-menu">⋯<span class="sr-only"> Conversation menu</span></button>
      {open && (
        <div class="menu" role="menu" data-test="mute-menu">
          {muted ? (
            <button role="menuitem" onClick={() => set(null)} data-test="unmute">Unmute</button>
          ) : MUTES.map(([text, ms]) => (
            <button role="menuitem" key={text} data-test="mute-option"
              onClick={() => set(ms ? new Date(Date.now() + ms).toISOString() : FOREVER)}>Mute {text.toLowerCase()}</button>
          ))}
        </div>
      )}
      {error && <span class="error-text" role="alert">{error}</span>}
    </div>
  );
}

/** The team inbox in an Instagram chat's header: who the conversation is assigned to
 * (the owner or one of its agents), and the contact's automation, paused while a person
 * answers (until the time shown) or resumed by hand. */
function TeamControls({ c, contact }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const people = [];
  const owner = (c.participants || []).find((p) => p.id === c.owner_id);
  if (c.owner_id) people.push({ id: c.owner_id, name: owner ? owner.name : store.userName(c.owner_id) });
  (c.agents || []).forEach((a) => people.push(a));
  const until = c.automation_paused_until;
  const act = (p) => {
    setBusy(true);
    setError('');
    return p.catch((e) => setError(e.message || 'That did not work')).finally(() => setBusy(false));
  };
  const contactId = (contact && contact.id) || c.contact_id;
  return (
    <div class="team-controls row small" data-test="team-controls">
      <label for={`assign-${c.id}`} class="sr-only">Assigned to</label>
      <select id={`assign-${c.id}`} data-test="assign" disabled={busy} value={c.assignee_id || ''}
        onChange={(e) => act(api.assign(c.id, e.currentTarget.value || null).then((r) => store.putConversations([r.conversation])))}>
        <option value="">Unassigned</option>
        {people.map((p) => <option key={p.id} value={p.id}>{p.id === (store.me && store.me.id) ? `${p.name} (me)` : p.name}</option>)}
      </select>
      <span class={`automation ${until ? 'paused' : 'on'}`} data-test="automation-state">
        {until ? `Automation paused until ${new Date(until).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : 'Automation on'}
      </span>
      {contactId && (
        <button data-test="automation-toggle" disabled={busy}
          onClick={() => act(api.automation(contactId, !until).then((r) =>
            store.putConversations([{ ...store.convs.get(c.id), automation_paused_until: r.contact.automation_paused_until }])))}>
          {until ? 'Resume automation' : 'Pause automation'}
        </button>
      )}
      {error && <span class="error-text" role="alert">{error}</span>}
    </div>
  );
}
