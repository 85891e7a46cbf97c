// The app's state: conversations, the loaded window of each conversation's messages,
// optimistic sends, typing, presence and read positions. Fed by REST answers and the
// SDK's live events; screens read it through useStore() and re-render on change.
// Everything here is bounded: a conversation keeps at most WINDOW messages in memory,
// typing entries expire, the conversation list grows only by the pages asked for.
import { useEffect, useState } from 'preact/hooks';

export const PAGE = 50;
export const WINDOW = 200;
const TYPING_MS = 6000;

export class Store {
  constructor() {
    this.me = null;
    this.connection = 'connecting';
    this.everOnline = false;
    this.convs = new Map();
    this.order = [];
    this.nextCursor = null;
    this.listLoaded = false;
    this.chats = new Map(); // conversation id -> chat state (see chat())
    this.focus = null; // {conv, seq}: a search result the chat opens at
    this.typing = new Map(); // conversation id -> Map(user id -> expiry ms)
    this.presence = new Map(); // user id -> {status, last_seen}, as others see them
    this.reads = new Map(); // conversation id -> Map(user id -> seq)
    this.delivered = new Map(); // conversation id -> Map(user id -> seq)
    this.onListed = null; // called with each list of conversations put (delivery acks)
    this.users = new Map(); // user id -> public user, for names
    this.gone = new Map(); // conversation id -> why it was taken away (shown if it is open)
    // The Instagram reply windows the server enforces (GET /api/instagram/status):
    // 24 hours, or 7 days for a person's reply when the operator enabled HUMAN_AGENT.
    this.replyWindow = { hours: 24, agent_hours: 24 };
    this.version = 0;
    this._listeners = new Set();
    this._scheduled = false;
    this._typingTimer = null;
  }

  subscribe(fn) {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  /** Marks the state changed; listeners run once per animation frame at most. */
  changed() {
    this.version++;
    if (this._scheduled) return;
    this._scheduled = true;
    const run = () => {
      this._scheduled = false;
      for (const fn of [...this._listeners]) fn(this.version);
    };
    if (typeof requestAnimationFrame === 'function' && !document.hidden) requestAnimationFrame(run);
    else setTimeout(run, 0);
  }

  reset() {
    this.me = null;
    this.convs.clear();
    this.order = [];
    this.nextCursor = null;
    this.listLoaded = false;
    this.chats.clear();
    this.gone.clear();
    this.typing.clear();
    this.presence.clear();
    this.reads.clear();
    this.delivered.clear();
    this.users.clear();
    this.changed();
  }

  // --- conversations ---------------------------------------------------------------

  /** Adds or replaces conversations and keeps the list ordered by activity. */
  putConversations(list, { append = false } = {}) {
    for (const c of list) {
      const old = this.convs.get(c.id);
      // A page fetched before a live update must not undo it.
      if (old && old.last_seq > (c.last_seq || 0)) {
        this.convs.set(c.id, { ...c, last_seq: old.last_seq, last_message: old.last_message,
          updated_at: old.updated_at, unread_count: old.unread_count });
      } else {
        this.convs.set(c.id, c);
      }
      for (const p of c.participants || []) {
        this.users.set(p.id, { ...this.users.get(p.id), ...p });
        // Positions come with the conversation: ticks survive a reload.
        if (p.last_read_seq) this._position(this.reads, c.id, p.id, p.last_read_seq);
        if (p.last_delivered_seq) this._position(this.delivered, c.id, p.id, p.last_delivered_seq);
      }
      if (!append || !this.order.includes(c.id)) this.order.push(c.id);
    }
    this._sort();
    this.changed();
    if (this.onListed) this.onListed(list);
  }

  /**
   * Unread messages over the conversations loaded so far, and whether that is all of them.
   * The API gives unread counts per conversation only (no total), so while pages of the
   * list remain unloaded the sum is a lower bound.
   */
  unreadTotal() {
    let n = 0;
    // A muted conversation raises no badge.
    for (const c of this.convs.values()) if (!this.muted(c)) n += c.unread_count || 0;
    return { n, complete: this.listLoaded && !this.nextCursor };
  }

  setReplyWindow(w) {
    const hours = Number(w.hours) || 24;
    const agent = Number(w.agent_hours) || hours;
    if (hours === this.replyWindow.hours && agent === this.replyWindow.agent_hours) return;
    this.replyWindow = { hours, agent_hours: agent };
    this.changed();
  }

  /** Drops a conversation; `why`, when given, is what its open chat then says. */
  removeConversation(id, why) {
    if (why) {
      this.gone.set(id, why);
      if (this.gone.size > 500) this.gone.delete(this.gone.keys().next().value);
    }
    this.convs.delete(id);
    this.order = this.order.filter((x) => x !== id);
    this.chats.delete(id);
    this.changed();
  }

  _sort() {
    const seen = new Set();
    this.order = this.order.filter((id) => this.convs.has(id) && !seen.has(id) && seen.add(id));
    const at = (id) => this.convs.get(id).updated_at || '';
    this.order.sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0));
  }

  /** Name of a conversation as the caller sees it. */
  title(c) {
    if (!c) return '';
    if (c.type === 'instagram') {
      const ct = c.contact || {};
      return c.name || ct.name || (ct.username ? '@' + ct.username : 'Instagram contact');
    }
    if (c.type === 'direct' || c.type === 'secret') {
      const other = (c.participants || []).find((p) => !this.me || p.id !== this.me.id);
      return (other && other.name) || c.name || (c.type === 'secret' ? 'Secret chat' : 'Direct chat');
    }
    return c.name || (c.type === 'channel' ? 'Channel' : 'Group');
  }

  /** The other participant of a direct (or secret) conversation. */
  peer(c) {
    if (!c || (c.type !== 'direct' && c.type !== 'secret')) return null;
    return (c.participants || []).find((p) => !this.me || p.id !== this.me.id) || null;
  }

  userName(id) {
    if (this.me && id === this.me.id) return this.me.name;
    const u = this.users.get(id);
    return (u && u.name) || 'Someone';
  }

  /** A user's avatar URL (signed, see docs/API.md, Users), or null for initials. */
  userPic(id) {
    if (this.me && id === this.me.id) return this.me.avatar_url || null;
    const u = this.users.get(id);
    return (u && u.avatar_url) || null;
  }

  /** The picture of a conversation: a group's avatar, a direct peer's, an Instagram
   * contact's profile picture; null draws initials. */
  convPic(c) {
    if (!c) return null;
    if (c.type === 'instagram') return c.contact ? c.contact.profile_pic || null : null;
    const peer = this.peer(c);
    if (peer) return this.userPic(peer.id);
    return c.avatar_url || null;
  }

  /**
   * user.updated ({id, name, avatar_url}): the user is redrawn wherever they show. The
   * conversations that list them are replaced (new objects), so memoised rows re-render.
   */
  onUserUpdated(u) {
    if (!u || typeof u.id !== 'string') return;
    const fields = { name: u.name, avatar_url: u.avatar_url ?? null };
    if (this.me && this.me.id === u.id) this.me = { ...this.me, ...fields };
    this.users.set(u.id, { ...this.users.get(u.id), id: u.id, ...fields });
    for (const [id, c] of this.convs) {
      if (!(c.participants || []).some((p) => p.id === u.id)) continue;
      this.convs.set(id, { ...c, participants: c.participants.map((p) => (p.id === u.id ? { ...p, ...fields } : p)) });
    }
    this.changed();
  }

  /**
   * Ids of the loaded conversations with an avatar URL (theirs or a participant's) that
   * expires before `bySec` (Unix seconds), and whether the user's own does.
   */
  expiringAvatars(bySec) {
    const soon = (url) => {
      const m = /[?&]exp=(\d+)/.exec(url || '');
      return !!m && Number(m[1]) < bySec;
    };
    const convs = [];
    for (const c of this.convs.values()) {
      if (soon(c.avatar_url) || (c.participants || []).some((p) => soon(p.avatar_url))) convs.push(c.id);
    }
    return { convs, me: !!this.me && soon(this.me.avatar_url) };
  }

  // --- messages ---------------------------------------------------------------------

  /** The chat state of a conversation: items in seq order, the window's edges, pending sends. */
  chat(id) {
    let ch = this.chats.get(id);
    if (!ch) {
      ch = { items: [], hasOlder: true, hasNewer: false, loaded: false, pending: [], newBelow: 0 };
      this.chats.set(id, ch);
    }
    return ch;
  }

  /** A page of history: `where` is "latest", "older" or "newer". */
  putPage(id, messages, hasMore, where) {
    const ch = this.chat(id);
    if (where === 'latest') {
      ch.items = [];
      ch.hasOlder = hasMore;
      ch.hasNewer = false;
      ch.newBelow = 0;
      ch.loaded = true;
    } else if (where === 'older') {
      ch.hasOlder = hasMore;
    } else {
      ch.hasNewer = hasMore;
      if (!hasMore) ch.newBelow = 0;
    }
    this._merge(ch, messages);
    if (ch.items.length > WINDOW) {
      // Keep the window around the part being read: older pages drop the newest end.
      if (where === 'older') {
        ch.items = ch.items.slice(0, WINDOW);
        ch.hasNewer = true;
      } else {
        ch.items = ch.items.slice(ch.items.length - WINDOW);
        ch.hasOlder = true;
      }
    }
    this.changed();
  }

  /** A window of history around a message (a search result): replaces the loaded one. */
  putAround(id, messages, hasOlder, lastSeq) {
    const ch = this.chat(id);
    ch.items = [];
    ch.hasOlder = hasOlder;
    ch.newBelow = 0;
    ch.loaded = true;
    this._merge(ch, messages);
    const last = ch.items.length ? ch.items[ch.items.length - 1].seq : 0;
    ch.hasNewer = last < lastSeq;
    this.changed();
  }

  _merge(ch, messages) {
    for (const m of messages) {
      this._dropPending(ch, m);
      const items = ch.items;
      // Most arrivals are newest: search from the end.
      let i = items.length - 1;
      while (i >= 0 && items[i].seq > m.seq) i--;
      if (i >= 0 && items[i].seq === m.seq) items[i] = m;
      else items.splice(i + 1, 0, m);
    }
  }

  _dropPending(ch, m) {
    if (!m.client_id || !ch.pending.length) return;
    ch.pending = ch.pending.filter((p) => p.client_id !== m.client_id);
  }

  /** A live or synced message: appended once, in seq order, to the conversation. */
  onMessage(m, { fromSelf = false } = {}) {
    const c = this.convs.get(m.conversation_id);
    const ch = this.chats.get(m.conversation_id);
    let fresh = true;
    if (ch) {
      const last = ch.items.length ? ch.items[ch.items.length - 1].seq : 0;
      if (ch.hasNewer && m.seq > last) {
        ch.newBelow++;
        this._dropPending(ch, m);
      } else {
        fresh = !ch.items.some((x) => x.seq === m.seq);
        this._merge(ch, [m]);
        if (ch.items.length > WINDOW) {
          ch.items = ch.items.slice(ch.items.length - WINDOW);
          ch.hasOlder = true;
        }
      }
    }
    if (c) {
      if (m.seq > (c.last_seq || 0)) {
        const own = fromSelf || (this.me && m.sender_id === this.me.id);
        const mentioned = !own && this.mentionsMe(m);
        this.convs.set(c.id, { ...c, last_seq: m.seq, last_message: m, updated_at: m.created_at,
          unread_count: own ? c.unread_count || 0 : (c.unread_count || 0) + 1,
          // Sending reads everything before it, mentions included (as the server counts).
          mention_count: own ? 0 : (c.mention_count || 0) + (mentioned ? 1 : 0) });
        this._sort();
      }
    }
    this.clearTyping(m.conversation_id, m.sender_id);
    this.changed();
    return { known: !!c, fresh };
  }

  /**
   * Messages read again for fresh attachment URLs: each replaces the loaded message
   * with its seq; nothing is added, so the window and its edges stay as they are.
   */
  refreshMessages(id, messages) {
    const ch = this.chats.get(id);
    if (!ch) return;
    let hit = false;
    for (const m of messages) {
      const i = ch.items.findIndex((x) => x.seq === m.seq);
      if (i >= 0) {
        ch.items[i] = m;
        hit = true;
      }
    }
    if (hit) this.changed();
  }

  onUpdated(m) {
    const ch = this.chats.get(m.conversation_id);
    if (ch) {
      const i = ch.items.findIndex((x) => x.seq === m.seq);
      if (i >= 0) ch.items[i] = m;
    }
    const c = this.convs.get(m.conversation_id);
    if (c && c.last_message && c.last_message.seq === m.seq) this.convs.set(c.id, { ...c, last_message: m });
    this.changed();
  }

  addPending(convId, p) {
    this.chat(convId).pending.push(p);
    this.changed();
  }

  failPending(convId, clientId, error) {
    const ch = this.chat(convId);
    ch.pending = ch.pending.map((p) => (p.client_id === clientId ? { ...p, failed: error } : p));
    this.changed();
  }

  removePending(convId, clientId) {
    const ch = this.chat(convId);
    ch.pending = ch.pending.filter((p) => p.client_id !== clientId);
    this.changed();
  }

  markReadLocal(convId) {
    const c = this.convs.get(convId);
    if (c && (c.unread_count || c.mention_count)) {
      this.convs.set(convId, { ...c, unread_count: 0, mention_count: 0 });
      this.changed();
    }
  }

  /** The message the composer of convId quotes (null: none). */
  setReply(convId, m) {
    this.chat(convId).replyTo = m;
    this.changed();
  }

  /** 1 when message m mentions the signed-in user. */
  mentionsMe(m) {
    return !!(this.me && m && (m.mentions || []).includes(this.me.id));
  }

  /** 1 while the signed-in user has muted conversation c (its muted_until is ahead). */
  muted(c) {
    return !!(c && c.muted_until && Date.parse(c.muted_until) > Date.now());
  }

  // --- typing, presence, reads ------------------------------------------------------

  onTyping(convId, userId, state) {
    let t = this.typing.get(convId);
    if (state === 'start') {
      if (!t) this.typing.set(convId, (t = new Map()));
      t.set(userId, Date.now() + TYPING_MS);
      this._armTyping();
    } else if (t) {
      t.delete(userId);
    }
    this.changed();
  }

  clearTyping(convId, userId) {
    const t = this.typing.get(convId);
    if (t && t.delete(userId)) this.changed();
  }

  /** Users typing in a conversation now; expired entries go. */
  typers(convId) {
    const t = this.typing.get(convId);
    if (!t) return [];
    const now = Date.now();
    for (const [u, exp] of t) if (exp <= now) t.delete(u);
    return [...t.keys()];
  }

  _armTyping() {
    if (this._typingTimer) return;
    this._typingTimer = setInterval(() => {
      let any = false;
      const now = Date.now();
      for (const t of this.typing.values()) {
        for (const [u, exp] of t) {
          if (exp <= now) t.delete(u);
          else any = true;
        }
      }
      this.changed();
      if (!any) {
        clearInterval(this._typingTimer);
        this._typingTimer = null;
      }
    }, 1000);
  }

  /** A presence entry ({user_id, status, last_seen}) from a frame or GET /api/presence. */
  onPresence(e) {
    if (!e || typeof e.user_id !== 'string') return;
    this.presence.set(e.user_id, { status: e.status, last_seen: e.last_seen ?? null });
    this.changed();
  }

  onPresenceMany(list) {
    for (const e of list || []) {
      if (e && typeof e.user_id === 'string') this.presence.set(e.user_id, { status: e.status, last_seen: e.last_seen ?? null });
    }
    this.changed();
  }

  /** The status the user chose ('online', 'away', 'dnd', 'invisible'). */
  myStatus() {
    return (this.me && this.me.status) || 'online';
  }

  /** What a user looks like now: 'online', 'away', 'dnd' or 'offline'; null while unknown.
   * The user themself: their choice while connected (invisible shows as offline). */
  status(userId) {
    if (this.me && userId === this.me.id) {
      const mine = this.myStatus();
      return this.connection !== 'online' || mine === 'invisible' ? 'offline' : mine;
    }
    const p = this.presence.get(userId);
    return p ? p.status : null;
  }

  lastSeen(userId) {
    const p = this.presence.get(userId);
    return p ? p.last_seen : null;
  }

  online(userId) {
    const s = this.status(userId);
    return !!s && s !== 'offline';
  }

  /** Direct-chat peers of the loaded conversations whose presence is not known. */
  unknownPeers() {
    const out = [];
    for (const c of this.convs.values()) {
      const p = this.peer(c);
      if (p && !this.presence.has(p.id)) out.push(p.id);
    }
    return out;
  }

  _position(map, convId, userId, seq) {
    let r = map.get(convId);
    if (!r) map.set(convId, (r = new Map()));
    if ((r.get(userId) || 0) < seq) r.set(userId, seq);
  }

  onRead(convId, userId, seq) {
    this._position(this.reads, convId, userId, seq);
    this._position(this.delivered, convId, userId, seq); // reading implies delivery
    this.changed();
  }

  onDelivered(convId, userId, seq) {
    this._position(this.delivered, convId, userId, seq);
    this.changed();
  }

  /**
   * How far every other participant of a direct or group conversation has got:
   * {read, delivered}, each the lowest position among them (a message is read
   * when all of them have read it).
   */
  othersPositions(conv) {
    const others = (conv.participants || []).filter((p) => !this.me || p.id !== this.me.id);
    if (!others.length) return { read: 0, delivered: 0 };
    const low = (map) => {
      const r = map.get(conv.id);
      return Math.min(...others.map((p) => (r && r.get(p.id)) || 0));
    };
    const read = low(this.reads);
    return { read, delivered: Math.max(read, low(this.delivered)) };
  }

  /** The highest seq that some other participant has read. */
  readByOthers(convId) {
    const r = this.reads.get(convId);
    if (!r) return 0;
    let best = 0;
    for (const [u, seq] of r) if ((!this.me || u !== this.me.id) && seq > best) best = seq;
    return best;
  }

  setConnection(state) {
    if (this.connection !== state) {
      this.connection = state;
      this.changed();
    }
  }
}

export const store = new Store();

/** Re-renders the calling component whenever the store changes. */
export function useStore() {
  const [, setV] = useState(store.version);
  useEffect(() => store.subscribe(setV), []);
  return store;
}
