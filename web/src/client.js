// The app's one SDK client (web/sdk/parley.js) and the wiring of its live events into
// the store. Every call to the server in the app goes through `client` here.
import { ParleyClient } from '../sdk/parley.js';
import { deviceName } from './format.js';
import { store } from './store.js';

export const client = new ParleyClient({});

/** Any REST call through the SDK: resolves with the parsed body, rejects with a ParleyError. */
export function call(method, path, body) {
  return client.request(method, path, body === undefined ? {} : { body });
}

export const api = {
  searchUsers: (q) => client.searchUsers(q),
  updateProfile: (fields) => client.updateProfile(fields),
  deleteAccount: () => client.deleteAccount(),
  sessions: () => client.listSessions(),
  endSession: (id) => client.endSession(id),
  endOtherSessions: () => client.endOtherSessions(),
  conversations: (cursor, limit = 50) => client.listConversations({ limit, cursor }),
  instagramConversations: (cursor, limit = 50) => client.listInstagramConversations({ limit, cursor }),
  conversation: (id) => client.getConversation(id),
  createDirect: (userId) => client.createDirect(userId),
  createGroup: (name, ids) => client.createGroup(name, ids),
  rename: (id, name) => client.renameConversation(id, name),
  setAvatar: (attachmentId) => client.setAvatar(attachmentId),
  setGroupAvatar: (id, attachmentId) => client.setConversationAvatar(id, attachmentId),
  addMembers: (id, ids) => client.addMembers(id, ids),
  removeMember: (id, userId) => client.removeMember(id, userId),
  // Channels (API.md, Channels).
  createChannel: (name, isPublic) => client.createChannel(name, isPublic),
  channels: (cursor, limit = 30) => client.listChannels({ limit, cursor }),
  joinChannel: (how) => client.joinChannel(how),
  members: (id, cursor, limit = 50) => client.listMembers(id, { limit, cursor }),
  createInvite: (id) => client.createInvite(id),
  revokeInvite: (id) => client.revokeInvite(id),
  setRole: (id, userId, role) => client.setMemberRole(id, userId, role),
  messages: (id, { before, after, limit = 50 } = {}) =>
    client.listMessages(id, { limit, before_seq: before, after_seq: after }),
  searchMessages: (q, filters) => client.searchMessages(q, filters),
  edit: (msgId, text) => client.editMessage(msgId, text),
  remove: (msgId) => client.deleteMessage(msgId),
  react: (msgId, emoji) => client.react(msgId, emoji),
  unreact: (msgId, emoji) => client.unreact(msgId, emoji),
  reads: (convId, msgId) => client.messageReads(convId, msgId),
  mute: (convId, until) => client.updateConversationSettings(convId, { muted_until: until }),
  igStatus: () => client.instagramStatus(),
  igOAuthStart: () => client.instagramOAuthStart(),
  igOAuthFinish: (code, state) => client.instagramOAuthFinish(code, state),
  igConnect: (fields) => client.connectInstagram(fields),
  igSetTimezone: (zone) => client.setInstagramTimezone(zone),
  igDisconnect: () => client.disconnectInstagram(),
  igSend: (recipientId, text) => client.sendInstagram(recipientId, text),
  contacts: () => client.listContacts(),
  contactsPage: (params) => client.listContactsPage(params),
  contact: (id) => client.getContact(id),
  updateContact: (id, fields) => client.updateContact(id, fields),
  flows: () => client.listFlows(),
  // Bots (API.md, Bots).
  bots: () => client.listBots(),
  createBot: (fields) => client.createBot(fields),
  updateBot: (id, changes) => client.updateBot(id, changes),
  deleteBot: (id) => client.deleteBot(id),
  rotateBotToken: (id) => client.rotateBotToken(id),
  // The team inbox and human takeover (API.md, Instagram).
  agents: () => call('GET', '/api/instagram/agents'),
  addAgent: (userId) => call('POST', '/api/instagram/agents', { user_id: userId }),
  removeAgent: (userId) => call('DELETE', `/api/instagram/agents/${encodeURIComponent(userId)}`),
  assign: (convId, userId) => call('POST', `/api/conversations/${encodeURIComponent(convId)}/assign`, { user_id: userId }),
  automation: (contactId, paused) => call('POST', `/api/contacts/${encodeURIComponent(contactId)}/automation`, { paused }),
};

// --- live events into the store --------------------------------------------------------

let wired = false;
let announce = () => {};

/** Where new messages from others are announced for screen readers (set by the chat). */
export function setAnnouncer(fn) {
  announce = fn;
}

function wire() {
  if (wired) return;
  wired = true;
  client.on('state', ({ state }) => {
    if (state === 'open') store.setConnection('online');
    else if (state === 'connecting' || state === 'idle') store.setConnection(store.everOnline ? 'reconnecting' : 'connecting');
    else if (state === 'reconnecting') store.setConnection('reconnecting');
  });
  client.on('ready', ({ reconnected }) => {
    store.everOnline = true;
    // The reply windows the server allows (for any user: agents have no account).
    client.instagramStatus().then((st) => st.reply_window && store.setReplyWindow(st.reply_window)).catch(() => {});
    store.setConnection('online');
    // Conversations not followed by the SDK may have moved while the socket was down.
    if (reconnected) refreshList();
  });
  client.on('message.new', ({ message }) => {
    const { known } = store.onMessage(message);
    if (!known) refreshConversation(message.conversation_id);
    if (store.me && message.sender_id !== store.me.id) {
      // A muted conversation is not announced (docs/API.md, Mute).
      if (!store.muted(store.convs.get(message.conversation_id))) announce(message);
      // A channel keeps no delivered positions (docs/API.md, Channels).
      const conv = store.convs.get(message.conversation_id);
      if (!conv || conv.type !== 'channel') markDelivered(message.conversation_id, message.seq);
    }
  });
  client.on('message.updated', ({ message }) => store.onUpdated(message));
  client.on('typing', (f) => {
    if (!store.me || f.user_id !== store.me.id) store.onTyping(f.conversation_id, f.user_id, f.state);
  });
  client.on('read', (f) => store.onRead(f.conversation_id, f.user_id, f.seq));
  client.on('delivered', (f) => store.onDelivered(f.conversation_id, f.user_id, f.seq));
  store.onListed = ackListed;
  client.on('presence', (f) => store.onPresence(f));
  client.on('presence.snapshot', ({ users }) => {
    store.onPresenceMany(users);
    snapshotSeen = true;
    fillPresence();
  });
  client.on('conversation.updated', ({ conversation: c }) => {
    if (c.type === 'channel') {
      // A channel names no members: role null says this user is out; a frame without
      // role (a rename, sent to every member) keeps this user's role and unread count.
      if (c.role === null) {
        store.removeConversation(c.id);
        client.untrack(c.id);
      } else {
        const old = store.convs.get(c.id);
        store.putConversations([c.role === undefined && old ? { ...old, ...c, role: old.role, unread_count: old.unread_count } : c]);
      }
      return;
    }
    // A member sees it as a participant; an agent of an Instagram account through `agents`.
    const sees = (list) => (list || []).some((p) => p.id === store.me.id);
    if (store.me && !sees(c.participants) && !sees(c.agents)) {
      store.removeConversation(c.id);
      client.untrack(c.id);
    } else {
      store.putConversations([c]);
    }
  });
  client.on('user.updated', ({ user }) => store.onUserUpdated(user));
  // A removed agent: every Instagram conversation of that owner goes at once.
  client.on('instagram.access_removed', ({ owner_id: owner }) => {
    for (const c of [...store.convs.values()]) {
      if (c.type !== 'instagram' || c.owner_id !== owner) continue;
      store.removeConversation(c.id, 'You were removed from the team inbox of this Instagram account, so this conversation is no longer yours.');
      client.untrack(c.id);
    }
  });
  client.on('instagram.status', (f) => {
    if (f.reply_window) store.setReplyWindow(f.reply_window);
  });
  client.on('session', ({ user }) => {
    if (user) {
      store.me = user;
      store.changed();
    }
  });
}

// Peers a snapshot left out are asked for once, through GET /api/presence; later
// changes arrive live. Bounded by the conversations loaded.
let snapshotSeen = false;
const presenceAsked = new Set();
let presenceTimer = null;
function fillPresence() {
  if (!snapshotSeen || presenceTimer) return;
  presenceTimer = setTimeout(() => {
    presenceTimer = null;
    const ids = store.unknownPeers().filter((id) => !presenceAsked.has(id));
    if (!ids.length) return;
    for (const id of ids) presenceAsked.add(id);
    client.presence(ids).then((users) => {
      const known = new Set(users.map((u) => u.user_id));
      // Ids of nobody (a deleted user) are left out: they show as offline.
      store.onPresenceMany([...users, ...ids.filter((id) => !known.has(id))
        .map((id) => ({ user_id: id, status: 'offline', last_seen: null }))]);
    }).catch(() => { for (const id of ids) presenceAsked.delete(id); });
  }, 300);
}
store.subscribe(() => fillPresence());

/** Sets the status others see; the menu and the profile share it. */
export async function setMyStatus(status) {
  const u = await client.updateProfile({ status });
  store.me = u;
  store.changed();
  return u;
}

// Avatar URLs are signed for one to two days (docs/API.md, Users): every few minutes the
// conversations whose avatars (or their members') expire within the hour are fetched
// again, and so is the user; a picture that fails to load asks for its conversation.
const AVATAR_CHECK_MS = 5 * 60 * 1000;
const AVATAR_MARGIN_S = 3600;
const AVATAR_REFRESH_MAX = 20; // conversations fetched one by one; more: the list's first page
let avatarTimer = null;
export function refreshAvatars() {
  const { convs, me } = store.expiringAvatars(Date.now() / 1000 + AVATAR_MARGIN_S);
  if (me) client.me().then((u) => { store.me = u; store.changed(); }).catch(() => {});
  if (convs.length > AVATAR_REFRESH_MAX) refreshList();
  else for (const id of convs) refreshConversation(id);
}
function watchAvatars() {
  if (!avatarTimer) avatarTimer = setInterval(refreshAvatars, AVATAR_CHECK_MS);
}

// Leaving the page (a link followed, the tab closed, the back-forward cache): the socket
// closes at once, so the others see the user leave now and not when the browser gets to
// it; a page the browser restores from that cache connects again.
let pageWatched = false;
function watchPage() {
  if (pageWatched || typeof window === 'undefined') return;
  pageWatched = true;
  window.addEventListener('pagehide', () => client.disconnect());
  window.addEventListener('pageshow', (e) => {
    if (e.persisted && client.loggedIn) client.connect();
  });
}

/** A conversation's picture did not load (an expired URL): its view again, once a minute at most. */
const picRetried = new Map();
export function avatarFailed(convId) {
  const at = picRetried.get(convId) || 0;
  if (!convId || Date.now() - at < 60000) return;
  if (picRetried.size > 500) picRetried.clear();
  picRetried.set(convId, Date.now());
  refreshConversation(convId);
}

/** The Unix second a signed URL (`exp=`) stops working, or Infinity for any other URL. */
export function urlExpiry(url) {
  const m = /[?&]exp=(\d+)/.exec(url || '');
  return m ? Number(m[1]) : Infinity;
}

// Attachment URLs are signed for five to ten minutes (docs/API.md, Downloads): a file that
// fails to load, or is opened after its URL expired, has its messages read again, from
// that message on (one page), at most every 10 s a conversation.
const FILES_RETRY_MS = 10000;
const filesRetried = new Map();
const filesReading = new Map();
export function refreshAttachments(convId, seq) {
  if (!convId || !(seq > 0)) return Promise.resolve();
  const busy = filesReading.get(convId);
  if (busy) return busy;
  const at = filesRetried.get(convId) || 0;
  if (Date.now() - at < FILES_RETRY_MS) return Promise.resolve();
  if (filesRetried.size > 500) filesRetried.clear();
  filesRetried.set(convId, Date.now());
  const p = api.messages(convId, { after: seq - 1, limit: 100 })
    .then((r) => store.refreshMessages(convId, r.messages || []))
    .catch(() => {})
    .finally(() => filesReading.delete(convId));
  filesReading.set(convId, p);
  return p;
}

/**
 * Opens an attachment's link (a click on it): when its URL has expired, the message is
 * read again first and its fresh URL opened (a download keeps its file name).
 */
export function openAttachment(ev, convId, seq, att, { download = false } = {}) {
  if (urlExpiry(att.url) > Date.now() / 1000 + 5) return;
  ev.preventDefault();
  const win = download ? null : window.open('', '_blank');
  if (win) win.opener = null;
  refreshAttachments(convId, seq).then(() => {
    const m = (store.chat(convId).items || []).find((x) => x.seq === seq);
    const fresh = m && (m.attachments || []).find((x) => x.id === att.id);
    if (!fresh || urlExpiry(fresh.url) <= Date.now() / 1000) {
      if (win) win.close();
      return;
    }
    if (win) {
      win.location.href = fresh.url;
      return;
    }
    const a = document.createElement('a');
    a.href = fresh.url;
    a.download = fresh.name || '';
    document.body.appendChild(a);
    a.click();
    a.remove();
  });
}

const refreshing = new Set();
function refreshConversation(id) {
  if (refreshing.has(id)) return;
  refreshing.add(id);
  api.conversation(id).then((c) => store.putConversations([c])).catch(() => {}).finally(() => refreshing.delete(id));
}

/** The newest page of the list again (previews, unread counts) after a reconnect. */
function refreshList() {
  api.conversations(null, 50).then((r) => store.putConversations(r.conversations, { append: true })).catch(() => {});
}

/**
 * Sends a message optimistically: shown at once, marked sent on `message.ack`.
 * extra: {replyTo: the quoted message, mentions: [user id]}.
 */
export function sendMessage(convId, text, extra = {}) {
  const clientId = client.newClientId();
  const q = extra.replyTo;
  store.addPending(convId, {
    client_id: clientId, conversation_id: convId, text, sender_id: store.me && store.me.id,
    created_at: new Date().toISOString(), pending: true,
    attachments: extra.attachments && extra.attachments.length ? extra.attachments : [],
    reply_to: q ? { id: q.id, seq: q.seq, sender_id: q.sender_id, text: q.text } : undefined,
    mentions: extra.mentions && extra.mentions.length ? extra.mentions : undefined,
  });
  client.send(convId, text, {
    clientId, replyTo: q ? q.id : undefined, mentions: extra.mentions,
    attachmentIds: extra.attachments && extra.attachments.length ? extra.attachments.map((a) => a.id) : undefined,
  }).then(
    (m) => {
      store.onMessage(m, { fromSelf: true });
      store.removePending(convId, clientId);
    },
    (err) => store.failPending(convId, clientId, (err && err.message) || 'not sent'),
  );
  return clientId;
}

/** Typing start/stop for a conversation (dropped while offline). */
export function typing(convId, state) {
  client.typing(convId, state);
}

const readSent = new Map();
/** Moves the read marker forward (never backwards, never twice for the same seq). */
export function markRead(convId, seq) {
  if ((readSent.get(convId) || 0) >= seq) return;
  readSent.set(convId, seq);
  store.markReadLocal(convId);
  client.markRead(convId, seq).catch(() => readSent.delete(convId));
}

// Delivery acknowledgements (docs/API.md, Receipts): the highest seq this client holds
// per conversation, sent at most once per conversation every DELIVERED_MS, so a burst of
// messages or a page of the list costs one frame per conversation.
const DELIVERED_MS = 300;
const deliveredSent = new Map();
const deliveredDue = new Map();
let deliveredTimer = null;

function flushDelivered() {
  deliveredTimer = null;
  const due = [...deliveredDue];
  deliveredDue.clear();
  for (const [convId, seq] of due) {
    client.markDelivered(convId, seq).catch(() => deliveredSent.delete(convId));
  }
}

/** Acknowledges that this client holds convId up to seq (never backwards, never twice). */
export function markDelivered(convId, seq) {
  if (!seq || (deliveredSent.get(convId) || 0) >= seq) return;
  deliveredSent.set(convId, seq);
  deliveredDue.set(convId, seq);
  if (!deliveredTimer) deliveredTimer = setTimeout(flushDelivered, DELIVERED_MS);
}

/** A page of the list arrived: the messages it announces have reached this client. */
function ackListed(convs) {
  if (!store.me) return;
  for (const c of convs) {
    if (c.type === 'instagram') continue; // agents keep no delivered position
    const mine = (c.participants || []).find((p) => p.id === store.me.id);
    if (mine && (mine.last_delivered_seq || 0) < (c.last_seq || 0)) markDelivered(c.id, c.last_seq);
  }
}

function endMessage(reason) {
  if (reason === 'refresh_failed' || reason === 'ended') return 'Your session has ended. Please log in again.';
  if (reason === 'elsewhere') return 'You were logged out in another tab.';
  if (reason === 'deleted') return 'Your account has been deleted.';
  return '';
}

/** Login state for the app frame. */
export const auth = {
  loggedIn: () => client.loggedIn,
  onEnd: (fn) =>
    client.on('logout', ({ reason }) => {
      readSent.clear();
      deliveredSent.clear();
      deliveredDue.clear();
      presenceAsked.clear();
      snapshotSeen = false;
      store.everOnline = false;
      store.reset();
      fn(endMessage(reason));
    }),
  start() {
    wire();
    watchAvatars();
    watchPage();
    store.me = client.user;
    store.changed();
    client.connect();
    client.me().then((u) => {
      store.me = u;
      store.changed();
    }).catch(() => {});
  },
  login: (email, password) => client.login({ email, password, deviceName: deviceName(navigator.userAgent) }),
  signup: (email, password, name) => client.signup({ email, password, name, deviceName: deviceName(navigator.userAgent) }),
  logout: () => client.logout(),
  verifyEmail: (code, email) => client.verifyEmail(code, email),
  resendVerification: (email) => client.resendVerification(email),
  requestPasswordReset: (email) => client.requestPasswordReset(email),
  confirmPasswordReset: (code, password) => client.confirmPasswordReset(code, password),
};

/** Uploads a file for the composer; resolves with the attachment (see SDK upload). */
export function uploadFile(file, opts) {
  return client.upload(file, opts);
}
