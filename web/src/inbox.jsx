// The inbox: every conversation ordered by activity, paged by cursor as the reader
// scrolls, rendered as a virtual list; a filter for Instagram; the chat beside it.
import { memo } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import { api, avatarFailed, call } from './client.js';
import { colorClass, initials, shortTime } from './format.js';
import { PresenceDot, presenceText } from './presence.jsx';
import { Link, navigate } from './router.jsx';
import { store, useStore } from './store.js';
import { VirtualList } from './virtual_list.jsx';
import { ChatPane } from './chat.jsx';
import { NewChatDialog } from './new_chat.jsx';
import { MessageSearch } from './search.jsx';

const ROW = 68;
let loading = null;

/** Loads the next page of conversations (one request at a time). */
export function loadMoreConversations() {
  if (loading || (store.listLoaded && !store.nextCursor)) return loading;
  loading = api.conversations(store.nextCursor, 50).then((r) => {
    store.nextCursor = r.next_cursor || null;
    store.listLoaded = true;
    store.putConversations(r.conversations, { append: true });
  }).catch((err) => {
    store.listError = (err && err.message) || 'Could not load conversations';
    store.changed();
  }).finally(() => {
    loading = null;
  });
  return loading;
}

let igLoaded = false;
let lastFilter; // the list keeps its filter while a chat from it is open
function loadInstagram() {
  if (igLoaded) return;
  igLoaded = true;
  call('GET', '/api/messages/instagram').then((r) => store.putConversations(r.conversations || [], { append: true }))
    .catch(() => { igLoaded = false; });
}

/** Initials on a colour, or the picture when there is one (an uploaded avatar, an
 * Instagram contact's); a picture that fails to load (a signed URL or Meta's address
 * expired) falls back to the initials and calls onBroken (to fetch a fresh URL). */
export function Avatar({ name, id, status, pic, onBroken, size }) {
  const [broken, setBroken] = useState(null);
  const showPic = pic && broken !== pic;
  return (
    <span class={`avatar ${colorClass(id)}${size ? ' ' + size : ''}`} aria-hidden="true" data-test="avatar"
      data-pic={showPic ? 'yes' : 'no'}>
      {showPic ? <img class="avatar-img" src={pic} alt="" loading="lazy" referrerpolicy="no-referrer"
        onError={() => { setBroken(pic); if (onBroken) onBroken(); }} data-test="avatar-pic" /> : initials(name)}
      <PresenceDot status={status} />
    </span>
  );
}

export function ChannelBadge({ type }) {
  if (type === 'secret') return <span class="badge secret" data-test="secret-badge"><LockIcon />Secret</span>;
  const label = type === 'instagram' ? 'Instagram' : type === 'group' ? 'Group' : type === 'channel' ? 'Channel' : 'Direct';
  return <span class={`badge ${type === 'instagram' ? 'ig' : type}`}>{label}</span>;
}

/** A padlock: an end-to-end encrypted (secret) conversation (an inline drawing: no emoji font needed). */
export function LockIcon() {
  return (
    <svg class="lock-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" data-test="lock-icon">
      <rect x="3" y="7" width="10" height="7.5" rx="1.5" fill="currentColor" />
      <path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="currentColor" stroke-width="1.6" />
    </svg>
  );
}

/** A crossed-out bell: the conversation is muted (an inline drawing: no emoji font needed). */
export function MutedIcon() {
  return (
    <svg class="muted-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" data-test="muted-icon">
      <path d="M8 1.5a4 4 0 0 0-4 4v3L2.5 11h11L12 8.5v-3a4 4 0 0 0-4-4zM6.5 12.5a1.5 1.5 0 0 0 3 0"
        fill="none" stroke="currentColor" stroke-width="1.4" stroke-linejoin="round" />
      <path d="M2 2l12 12" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" />
    </svg>
  );
}

function preview(c) {
  const m = c.last_message;
  if (!m) return 'No messages yet';
  if (m.deleted) return 'Message deleted';
  // The server holds only ciphertext for a secret conversation: there is no text to show.
  if (c.type === 'secret') return 'End-to-end encrypted message';
  const text = m.text == null ? (m.attachments && m.attachments.length ? 'Attachment' : '') : m.text;
  const who = store.me && m.sender_id === store.me.id ? 'You: ' : c.type === 'group' ? store.userName(m.sender_id) + ': ' : '';
  // A channel's posts speak for the channel: no sender's name.
  return who + text.slice(0, 120);
}

// A row re-renders only when its conversation, selection or the peer's presence changes.
const ConversationRow = memo(function ConversationRow({ c, active, presence, pic }) {
  const title = store.title(c);
  const unread = c.unread_count || 0;
  const mentions = c.mention_count || 0;
  const muted = store.muted(c);
  return (
    <div role="listitem">
      <Link href={`/c/${encodeURIComponent(c.id)}`} class={`conv-row${muted ? ' muted' : ''}`} aria-current={active ? 'true' : undefined}
        data-test="conv-row" data-id={c.id}
        aria-label={`${title}, ${c.type}${unread ? `, ${unread} unread` : ''}${mentions ? `, ${mentions} mentioning you` : ''}${muted ? ', muted' : ''}${presence ? `, ${presenceText(presence)}` : ''}`}>
        <Avatar name={title} id={c.id} status={presence} pic={pic} onBroken={() => avatarFailed(c.id)} />
        <span class="conv-text">
          <span class="conv-top">
            {c.type === 'secret' && <LockIcon />}
            <span class="conv-name">{title}</span>
            {muted && <MutedIcon />}
            <span class="conv-time">{shortTime(c.last_message ? c.last_message.created_at : c.updated_at)}</span>
          </span>
          <span class="conv-bottom">
            <ChannelBadge type={c.type} />
            <span class="conv-preview">{preview(c)}</span>
            {mentions > 0 && <span class="mention-badge" title={`${mentions} mentioning you`} data-test="mention-badge">@{mentions > 1 ? mentions : ''}</span>}
            {unread > 0 && <span class={`unread${muted ? ' quiet' : ''}`} data-test="unread">{unread}</span>}
          </span>
        </span>
      </Link>
    </div>
  );
});

function peerStatus(c) {
  const peer = store.peer(c);
  return peer ? store.status(peer.id) : null;
}

/** The team inbox's tabs over the Instagram list: mine, unassigned, all. */
function assignedMatch(c, tab) {
  if (tab === 'me') return store.me && c.assignee_id === store.me.id;
  if (tab === 'none') return !c.assignee_id;
  return true;
}

export function InboxPage({ openId, filter: asked }) {
  const s = useStore();
  const [tab, setTab] = useState('all');
  if (!openId) lastFilter = asked;
  const filter = openId ? lastFilter : asked;
  const [dialog, setDialog] = useState(false);
  const [searching, setSearching] = useState(false);

  useEffect(() => {
    if (!s.listLoaded) loadMoreConversations();
  }, []);
  useEffect(() => {
    if (filter === 'instagram') loadInstagram();
  }, [filter]);

  const ids = filter === 'instagram'
    ? s.order.filter((id) => s.convs.get(id).type === 'instagram' && assignedMatch(s.convs.get(id), tab))
    : s.order;
  const more = !s.listLoaded || !!s.nextCursor;
  return (
    <div class={`split${openId ? ' has-chat' : ''}`}>
      <section class="inbox" aria-label="Conversations">
        <div class="inbox-head">
          <div class="row">
            <h1 class="grow">Inbox</h1>
            <button class="primary" onClick={() => setDialog(true)} data-test="new-chat">New chat</button>
          </div>
          <div class="filters" role="group" aria-label="Filter">
            <button aria-pressed={filter !== 'instagram' ? 'true' : 'false'} onClick={() => navigate('/inbox')}>All</button>
            <button aria-pressed={filter === 'instagram' ? 'true' : 'false'} onClick={() => navigate('/inbox/instagram')}
              data-test="filter-instagram">Instagram</button>
          </div>
          {filter === 'instagram' && (
            <div class="filters" role="group" aria-label="Assigned" data-test="assigned-tabs">
              {[['me', 'Mine'], ['none', 'Unassigned'], ['all', 'All']].map(([k, label]) => (
                <button key={k} aria-pressed={tab === k ? 'true' : 'false'} onClick={() => setTab(k)}
                  data-test={`assigned-${k}`}>{label}</button>
              ))}
            </div>
          )}
          <MessageSearch onActive={setSearching} />
        </div>
        {!searching && <VirtualList items={ids} rowHeight={ROW} label="Conversations"
          onEnd={more ? loadMoreConversations : null}
          renderRow={(id) => {
            const c = s.convs.get(id);
            return <ConversationRow key={id} c={c} active={id === openId} presence={peerStatus(c)} pic={store.convPic(c)} />;
          }}
          footer={
            <div class="list-status" aria-live="polite">
              {s.listError ? s.listError : more ? 'Loading…' : ids.length === 0 ? 'No conversations yet. Start one with “New chat”.' : ''}
            </div>
          } />}
      </section>
      {openId ? <ChatPane key={openId} id={openId} /> : <div class="empty-chat"><p>Choose a conversation.</p></div>}
      {dialog && <NewChatDialog onClose={() => setDialog(false)} />}
    </div>
  );
}
