// Parley's client protocol for any single-page app: login and one token refresh
// across tabs, the real-time socket (auth by first frame, renewal, reconnect,
// recovery, idempotent sends) as typed events, and thin wrappers over the REST
// calls of docs/API.md. Dependency-free; browser globals are used only when
// present and can all be injected (Node 18 has none of them). See docs/CLIENT.md.

import { Emitter } from './emitter.js';
import { ParleyError, errorFromEnvelope } from './errors.js';
import { PRESENCE_IDS_MAX, Realtime } from './realtime.js';
import { SessionManager, sessionFromServer } from './session.js';

export { ParleyError } from './errors.js';
export { backoffDelay } from './backoff.js';

const enc = encodeURIComponent;

/* A client_id: random where crypto is available, else time, counter and
 * Math.random (unique enough for one sender's retries, which is its purpose). */
function idMaker(crypto, random) {
  let n = 0;
  return () => {
    if (crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    if (crypto && typeof crypto.getRandomValues === 'function') {
      const b = crypto.getRandomValues(new Uint8Array(16));
      return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    }
    n += 1;
    return `${Date.now().toString(36)}-${n.toString(36)}-${Math.floor(random() * 2 ** 52).toString(36)}`;
  };
}

function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {}))
    if (v !== undefined && v !== null && v !== '') parts.push(`${enc(k)}=${enc(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * @typedef {object} ParleyOptions
 * @property {string} [baseUrl]   origin of the server; '' (default) is the page's own
 * @property {string} [wsUrl]     WebSocket URL; default derived from baseUrl or location
 * @property {typeof fetch} [fetch]
 * @property {typeof WebSocket} [WebSocket]
 * @property {Storage|null} [storage]      where the session lives (default localStorage; null: memory only)
 * @property {EventTarget|null} [storageEvents] where `storage` events arrive (default window)
 * @property {EventTarget|null} [windowEvents]  where `online` events arrive (default window)
 * @property {LockManager|null} [locks]    default navigator.locks; without it a storage lease
 * @property {Crypto|null} [crypto]        for client ids (default globalThis.crypto)
 * @property {{href: string}} [location]   default globalThis.location
 * @property {string} [storageKey]         default 'parley.session'
 * @property {() => number} [now]          default Date.now
 * @property {() => number} [random]       default Math.random
 * @property {Function} [setTimeout]
 * @property {Function} [clearTimeout]
 * @property {{baseMs?: number, maxMs?: number}} [backoff]  reconnect delays, default 500 ms to 30 s
 * @property {number} [frameRate]          client frames a second, default 10 (server allows 20)
 * @property {number} [frameBurst]         default 20 (server allows 40)
 * @property {number} [renewBeforeMs]      renew the socket's token this long before expiry, default 60000
 * @property {number} [replyTimeoutMs]     wait for auth.ok this long, default 10000
 * @property {number} [readyTimeoutMs]     wait for ready this long, default 15000
 * @property {number} [pingIntervalMs]     keep-alive ping, default 25000 (0: none)
 * @property {number} [retryDelayMs]       after rate_limited/unavailable, default 2000
 * @property {number} [syncLimit]          messages per sync frame, default 200
 * @property {number} [maxTracked]         conversations recovered after reconnect, default 500
 * @property {number} [maxOutbox]          unacknowledged sends kept, default 500
 * @property {number} [maxBuffered]        live messages held per conversation during sync, default 1000
 */

/**
 * One logged-in (or not yet logged-in) user of one Parley server.
 *
 * Events (`client.on(type, fn)`): `message.new` ({message, recovered}),
 * `message.ack` ({client_id, message}), `message.updated` ({message}), `typing`,
 * `presence` ({user_id, status, last_seen}: one change, whether it came alone or in a
 * `presence.batch`, whose entries are emitted one by one, in order),
 * `presence.snapshot` ({users}: after each ready, less the users whose `presence`
 * arrived first), `read`, `delivered`, `conversation.updated`, `user.updated` ({user: {id,
 * name, avatar_url}}: someone the user shares a conversation with, or the user, changed
 * their avatar or name; about the user, `client.user` has the new fields first) (the
 * server frames as they are),
 * `state` ({state: 'idle'|'connecting'|'open'|'reconnecting'|'closed', attempt?, delayMs?}),
 * `ready` ({user_id, session_id, reconnected}), `session` ({user}) after login or
 * refresh, `logout` ({reason: 'logout'|'refresh_failed'|'ended'|'elsewhere'|'deleted'}),
 * `error` (a server `error` frame that no pending call claimed).
 */
export class ParleyClient extends Emitter {
  /** @param {ParleyOptions} [options] */
  constructor(options = {}) {
    super();
    const g = globalThis;
    const pick = (name, fallback) => (name in options ? options[name] : fallback);
    this._baseUrl = (options.baseUrl || '').replace(/\/+$/, '');
    this._fetch = pick('fetch', typeof g.fetch === 'function' ? g.fetch.bind(g) : null);
    this._XHR = pick('XMLHttpRequest', g.XMLHttpRequest || null);
    this._FormData = pick('FormData', g.FormData || null);
    this._location = pick('location', g.location || null);
    this._wsUrl = options.wsUrl || null;
    this._now = options.now || (() => Date.now());
    this._random = options.random || Math.random;
    this._setTimeout = options.setTimeout || ((fn, ms) => setTimeout(fn, ms));
    this._clearTimeout = options.clearTimeout || ((t) => clearTimeout(t));
    const crypto = pick('crypto', g.crypto || null);
    this.newClientId = idMaker(crypto, this._random);

    const defaultStorage = (() => {
      try {
        return g.localStorage || null;
      } catch {
        return null; // storage disabled by the browser
      }
    })();
    this._session = new SessionManager({
      storage: pick('storage', defaultStorage),
      storageEvents: pick('storageEvents', typeof g.addEventListener === 'function' ? g : null),
      locks: pick('locks', (g.navigator && g.navigator.locks) || null),
      key: options.storageKey || 'parley.session',
      instanceId: this.newClientId(),
      doRefresh: (token) => this._postSession('/api/auth/refresh', { refresh_token: token }),
      now: this._now,
      setTimeout: this._setTimeout,
      clearTimeout: this._clearTimeout,
      leaseMs: options.leaseMs,
      settleMs: options.settleMs,
    });
    // Back online: reconnect now rather than at the end of the backoff wait.
    this._windowEvents = pick('windowEvents', typeof g.addEventListener === 'function' ? g : null);
    this._onOnline = () => this._rt.reconnectNow();
    if (this._windowEvents) this._windowEvents.addEventListener('online', this._onOnline);
    this._session.on('change', (s) => this.emit('session', { user: s.user }));
    this._session.on('end', ({ reason }) => this.emit('logout', { reason }));

    this._rt = new Realtime({
      session: this._session,
      emit: (type, detail) => this.emit(type, detail),
      url: () => this._socketUrl(),
      newId: this.newClientId,
      WebSocket: pick('WebSocket', g.WebSocket || null),
      now: this._now,
      setTimeout: this._setTimeout,
      clearTimeout: this._clearTimeout,
      random: this._random,
      backoff: options.backoff || {},
      frameRate: options.frameRate ?? 10,
      frameBurst: options.frameBurst ?? 20,
      renewBeforeMs: options.renewBeforeMs ?? 60000,
      replyTimeoutMs: options.replyTimeoutMs ?? 10000,
      readyTimeoutMs: options.readyTimeoutMs ?? 15000,
      pingIntervalMs: options.pingIntervalMs ?? 25000,
      retryDelayMs: options.retryDelayMs ?? 2000,
      syncLimit: options.syncLimit ?? 200,
      maxTracked: options.maxTracked ?? 500,
      maxOutbox: options.maxOutbox ?? 500,
      maxBuffered: options.maxBuffered ?? 1000,
    });
    // The user's own name or avatar changed (here, in another tab or on another device):
    // `user` follows at once, and every tab's stored session with it.
    this.on('user.updated', (f) => {
      const s = this._session.get();
      if (!s || !s.user || !f || !f.user || f.user.id !== s.user.id) return;
      const fields = {};
      for (const k of ['name', 'avatar_url']) if (k in f.user) fields[k] = f.user[k];
      this._session.set({ ...s, user: { ...s.user, ...fields } });
    });
  }

  // ---- session ----

  /** The logged-in user, or null. */
  get user() {
    const s = this._session.get();
    return s ? s.user : null;
  }

  /** Whether a session is stored (it may still turn out to be revoked). */
  get loggedIn() {
    return this._session.get() !== null;
  }

  /** The socket's state: 'idle', 'connecting', 'open', 'reconnecting' or 'closed'. */
  get state() {
    return this._rt.state;
  }

  /**
   * Creates an account and logs in. deviceName (optional) names this login in the
   * user's list of devices; without it the server uses the User-Agent. Where the
   * server requires a verified address, no login starts: the user comes back with
   * email_verified false and loggedIn stays false (verifyEmail, then login).
   * @returns {Promise<object>} the user
   */
  async signup({ email, password, name, deviceName }) {
    const body = { email, password, name };
    if (deviceName) body.device_name = deviceName;
    const r = await this._call('POST', '/api/auth/signup', { body, auth: false });
    if (!r.access_token) return r.user;
    const s = sessionFromServer(r, this._now());
    this._session.set(s);
    return s.user;
  }

  /**
   * Verifies the address with the code mailed: the logged-in user's, or, logged
   * out, the account of `email`. @returns {Promise<object>} the user
   */
  async verifyEmail(code, email) {
    const loggedIn = this.loggedIn;
    const body = loggedIn ? { code } : { code, email };
    const r = await this._call('POST', '/api/auth/verify-email', { body, auth: loggedIn });
    const s = this._session.get();
    if (loggedIn && s) this._session.set({ ...s, user: r.user });
    return r.user;
  }

  /** Mails a new verification code (to the logged-in user, or to `email`). */
  async resendVerification(email) {
    const loggedIn = this.loggedIn;
    await this._call('POST', '/api/auth/verify-email/resend', { body: loggedIn ? {} : { email }, auth: loggedIn });
  }

  /** Asks for a password reset code by mail (the same answer whether the account exists). */
  async requestPasswordReset(email) {
    await this._call('POST', '/api/auth/password-reset', { body: { email }, auth: false });
  }

  /** Sets a new password with the mailed code; every login of the account ends. */
  async confirmPasswordReset(code, password) {
    await this._call('POST', '/api/auth/password-reset/confirm', { body: { code, password }, auth: false });
  }

  /** Logs in (deviceName as for signup). @returns {Promise<object>} the user */
  async login({ email, password, deviceName }) {
    const body = { email, password };
    if (deviceName) body.device_name = deviceName;
    const s = await this._postSession('/api/auth/login', body);
    this._session.set(s);
    return s.user;
  }

  /** Ends the login on the server (best effort) and in every tab. */
  async logout() {
    const s = this._session.get();
    this._rt.disconnect();
    if (s) {
      try {
        await this._call('POST', '/api/auth/logout', { body: { refresh_token: s.refresh_token }, auth: false });
      } catch {
        /* the local session ends anyway */
      }
    }
    this._session.clear('logout');
  }

  /** A new access token now (one refresh across tabs). @returns {Promise<void>} */
  async refresh() {
    await this._session.refresh();
  }

  /** Reads the user from the server (and checks that the session still works). */
  async me() {
    const r = await this.request('GET', '/api/auth/me');
    return r.user;
  }

  /**
   * The user's logins (devices), most recently used first; `current` marks this one.
   * @returns {Promise<Array<{id: string, device_name: string, ip: string, created_at: string, last_used_at: string, current: boolean}>>}
   */
  listSessions() {
    return this.request('GET', '/api/auth/sessions').then((r) => r.sessions);
  }

  /** Ends one login on every device that uses it (ending this one logs out here). */
  async endSession(id) {
    await this.request('DELETE', `/api/auth/sessions/${enc(id)}`);
  }

  /** Ends every login but this one. @returns {Promise<number>} how many ended */
  endOtherSessions() {
    return this.request('DELETE', '/api/auth/sessions', { query: { others: 'true' } }).then((r) => r.ended);
  }

  /** Stops listening to other tabs and closes the socket. */
  dispose() {
    this._rt.disconnect();
    this._session.dispose();
    if (this._windowEvents) this._windowEvents.removeEventListener('online', this._onOnline);
  }

  async _postSession(path, body) {
    const r = await this._call('POST', path, { body, auth: false });
    return sessionFromServer(r, this._now());
  }

  // ---- HTTP ----

  /**
   * Any API call: JSON in, JSON out (null for 204). Adds the access token,
   * refreshing it first when it is about to expire, and once more on a 401.
   * @param {string} method
   * @param {string} path  e.g. '/api/conversations'
   * @param {{body?: any, query?: object, signal?: AbortSignal}} [opts]
   * @throws {ParleyError}
   */
  async request(method, path, opts = {}) {
    return this._call(method, path + query(opts.query), { ...opts, auth: true });
  }

  async _call(method, path, { body, auth, signal }) {
    let s = null;
    if (auth) {
      s = this._session.get();
      if (!s) throw new ParleyError(401, 'unauthorized', 'not logged in');
      if (s.expires_at - this._now() < 10000) s = await this._session.refresh();
    }
    let res = await this._send(method, path, body, s, signal);
    if (auth && res.status === 401) {
      const cur = this._session.get();
      if (!cur) throw await this._error(res);
      s = cur.access_token === s.access_token ? await this._session.refresh() : cur;
      res = await this._send(method, path, body, s, signal);
    }
    if (!res.ok) throw await this._error(res);
    if (res.status === 204) return null;
    const type = res.headers.get('content-type') || '';
    return type.includes('application/json') ? res.json() : res.text();
  }

  async _send(method, path, body, s, signal) {
    if (!this._fetch) throw new ParleyError(0, 'network', 'no fetch available');
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (s) headers.Authorization = `Bearer ${s.access_token}`;
    try {
      return await this._fetch(this._baseUrl + path, {
        method, headers, signal, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ParleyError(0, 'network', (err && err.message) || 'network error');
    }
  }

  async _error(res) {
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* not JSON */
    }
    const ra = Number(res.headers.get('retry-after'));
    return errorFromEnvelope(res.status, body, Number.isFinite(ra) && ra > 0 ? ra : undefined);
  }

  _socketUrl() {
    if (this._wsUrl) return this._wsUrl;
    const base = this._baseUrl || (this._location && this._location.href) || '';
    const u = new URL('/ws', base);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  // ---- real time ----

  /** Opens the socket (and keeps it open until disconnect() or logout). */
  connect() {
    this._rt.connect();
  }

  /** Closes the socket; unacknowledged sends stay queued for the next connect(). */
  disconnect() {
    this._rt.disconnect();
  }

  /** Skips the backoff wait (e.g. when the browser comes back online). */
  reconnectNow() {
    this._rt.reconnectNow();
  }

  /**
   * Sends a message over the socket, resent with the same client_id after a
   * reconnect until acknowledged. Resolves with the stored message.
   * @param {string} conversationId
   * @param {string} text
   * @param {{clientId?: string, replyTo?: string, mentions?: string[]}} [opts] pass your own
   *   id to match the optimistic bubble; replyTo quotes a message of the conversation,
   *   mentions names participants by id (docs/API.md, Replies and mentions)
   * @returns {Promise<object>}
   */
  send(conversationId, text, opts = {}) {
    return this._rt.send(conversationId, text, opts.clientId,
      { reply_to: opts.replyTo, mentions: opts.mentions, attachment_ids: opts.attachmentIds });
  }

  /**
   * Uploads a file (a File or Blob) as multipart/form-data (docs/API.md, Files) and
   * resolves with the attachment, whose `url` its uploader may show before sending it;
   * send it with `send(..., {attachmentIds: [id]})`. `onProgress(sent, total)` follows
   * the body as it leaves (XMLHttpRequest); `signal` aborts it. Rejects with the
   * server's error (413 `payload_too_large` or `quota_exceeded`, 415, 429, ...).
   */
  async upload(file, { name, onProgress, signal } = {}) {
    let s = this._session.get();
    if (!s) throw new ParleyError(401, 'unauthorized', 'not logged in');
    if (s.expires_at - this._now() < 10000) s = await this._session.refresh();
    if (!this._FormData) throw new ParleyError(0, 'network', 'no FormData available');
    const form = new this._FormData();
    form.append('file', file, name || file.name || 'file');
    const url = this._baseUrl + '/api/uploads';
    if (!this._XHR) {
      const res = await this._fetch(url, {
        method: 'POST', body: form, signal, credentials: 'same-origin',
        headers: { Authorization: `Bearer ${s.access_token}` },
      }).catch((err) => { throw new ParleyError(0, 'network', (err && err.message) || 'network error'); });
      if (!res.ok) throw await this._error(res);
      return (await res.json()).attachment;
    }
    return new Promise((resolve, reject) => {
      const x = new this._XHR();
      x.open('POST', url);
      x.setRequestHeader('Authorization', `Bearer ${s.access_token}`);
      if (onProgress && x.upload)
        x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size || 0);
      x.onload = () => {
        let body = null;
        try {
          body = JSON.parse(x.responseText);
        } catch {
          /* not JSON */
        }
        if (x.status === 201 && body && body.attachment) resolve(body.attachment);
        else {
          const ra = Number(x.getResponseHeader('retry-after'));
          reject(errorFromEnvelope(x.status, body, Number.isFinite(ra) && ra > 0 ? ra : undefined));
        }
      };
      x.onerror = () => reject(new ParleyError(0, 'network', 'the upload did not reach the server'));
      x.onabort = () => reject(new ParleyError(0, 'aborted', 'the upload was cancelled'));
      if (signal) signal.addEventListener('abort', () => x.abort(), { once: true });
      x.send(form);
    });
  }

  /**
   * The caller's own settings of a conversation: `{muted_until}` (an ISO time, or null
   * to unmute). Resolves with the conversation.
   */
  async updateConversationSettings(conversationId, settings) {
    const r = await this.request('PATCH', `/api/conversations/${enc(conversationId)}/settings`, { body: settings });
    return r.conversation;
  }

  /** client_ids of sends still waiting for message.ack, oldest first. */
  pendingSends() {
    return this._rt.pending();
  }

  /** Tells the others that the user is typing ('start') or stopped ('stop'). */
  /** Sends a call signalling frame (`call.invite`, `call.accept`, ... of API.md, Calls);
   * returns whether it went out (the session is connected). Answers arrive as events
   * of their own type (`call.created`, `call.invite`, `call.offer`, ...). */
  callFrame(frame) {
    return this._rt.sendFrame(frame);
  }

  /** TURN credentials for calls: `{username, credential, ttl, uris}` (503 when the
   * server has no TURN server configured). */
  turnCredentials() {
    return this.request('GET', '/api/calls/turn');
  }

  typing(conversationId, state = 'start') {
    return this._rt.sendFrame({ type: 'typing', conversation_id: conversationId, state });
  }

  /** Moves the read marker: over the socket when open, else by REST. */
  async markRead(conversationId, seq) {
    if (this._rt.sendFrame({ type: 'read', conversation_id: conversationId, seq })) return;
    await this.request('POST', `/api/conversations/${enc(conversationId)}/read`, { body: { seq } });
  }

  /**
   * Acknowledges delivery: this client holds the conversation's messages up to
   * `seq` (docs/API.md, Receipts). Over the socket when open, else by REST.
   */
  async markDelivered(conversationId, seq) {
    if (this._rt.sendFrame({ type: 'delivered', conversation_id: conversationId, seq })) return;
    await this.request('POST', `/api/conversations/${enc(conversationId)}/delivered`, { body: { seq } });
  }

  /** Who has read (`read_by`) and who has only received (`delivered_to`) one message. */
  messageReads(conversationId, messageId) {
    return this.request('GET', `/api/conversations/${enc(conversationId)}/messages/${enc(messageId)}/reads`);
  }

  /**
   * Tells the SDK the app holds this conversation up to `seq` (e.g. after
   * loading its history), so a reconnect recovers it from there. Conversations
   * that receive messages are tracked automatically.
   */
  track(conversationId, seq = 0) {
    this._rt.track(conversationId, seq);
  }

  /** Stops recovering a conversation (the app closed it or left it). */
  untrack(conversationId) {
    this._rt.untrack(conversationId);
  }

  /** The last seq delivered for a conversation, 0 when untracked. */
  lastSeq(conversationId) {
    return this._rt.lastSeq(conversationId);
  }

  // ---- REST: users ----

  searchUsers(q) {
    return this.request('GET', '/api/users/search', { query: { q } }).then((r) => r.users);
  }

  /**
   * How users stand now (GET /api/presence), in calls of at most 1,000 ids; ids of
   * nobody are left out. @param {string[]} ids @returns {Promise<object[]>}
   */
  async presence(ids) {
    const unique = [...new Set(ids)];
    const out = [];
    for (let i = 0; i < unique.length; i += PRESENCE_IDS_MAX) {
      const chunk = unique.slice(i, i + PRESENCE_IDS_MAX);
      const r = await this.request('GET', '/api/presence', { query: { user_ids: chunk.join(',') } });
      out.push(...r.users);
    }
    return out;
  }

  getUser(id) {
    return this.request('GET', `/api/users/${enc(id)}`).then((r) => r.user);
  }

  /** @param {{name?: string, avatar_url?: string, status?: string}} changes */
  async updateProfile(changes) {
    const r = await this.request('PATCH', '/api/user/profile', { body: changes });
    const s = this._session.get();
    if (s) this._session.set({ ...s, user: r.user });
    return r.user;
  }

  /**
   * Makes an image the user uploaded (`upload()`'s attachment id) their avatar, or
   * removes it with null. Resolves with the user, whose `avatar_url` is the avatar's
   * signed thumbnail URL (valid one to two days; fetch the user again for a fresh one).
   * @param {string|null} attachmentId
   */
  async setAvatar(attachmentId) {
    const r = await this.request('PUT', '/api/user/avatar', { body: { attachment_id: attachmentId } });
    const s = this._session.get();
    if (s) this._session.set({ ...s, user: r.user });
    return r.user;
  }

  /** Deletes the account; the session ends everywhere. */
  async deleteAccount() {
    await this.request('DELETE', '/api/user');
    this._rt.disconnect();
    this._session.clear('deleted');
  }

  // ---- REST: conversations ----

  /** @returns {Promise<{conversations: object[], next_cursor: string|null}>} */
  listConversations({ limit, cursor } = {}) {
    return this.request('GET', '/api/conversations', { query: { limit, cursor } });
  }

  /** Instagram conversations only. @returns {Promise<{conversations: object[], next_cursor: string|null}>} */
  listInstagramConversations({ limit, cursor } = {}) {
    return this.request('GET', '/api/messages/instagram', { query: { limit, cursor } });
  }

  getConversation(id) {
    return this.request('GET', `/api/conversations/${enc(id)}`).then((r) => r.conversation);
  }

  /** Opens (or finds) the direct conversation with a user. */
  createDirect(userId) {
    return this.request('POST', '/api/conversations', { body: { type: 'direct', participant_id: userId } })
      .then((r) => r.conversation);
  }

  createGroup(name, userIds) {
    return this.request('POST', '/api/conversations', { body: { type: 'group', name, participant_ids: userIds } })
      .then((r) => r.conversation);
  }

  renameConversation(id, name) {
    return this.request('PATCH', `/api/conversations/${enc(id)}`, { body: { name } }).then((r) => r.conversation);
  }

  /**
   * A group's avatar (its admins only): an image the caller uploaded, or null to remove
   * it. Resolves with the conversation; every participant gets `conversation.updated`.
   * @param {string} id
   * @param {string|null} attachmentId
   */
  setConversationAvatar(id, attachmentId) {
    return this.request('PUT', `/api/conversations/${enc(id)}/avatar`, { body: { attachment_id: attachmentId } })
      .then((r) => r.conversation);
  }

  addMembers(id, userIds) {
    return this.request('POST', `/api/conversations/${enc(id)}/members`, { body: { user_ids: userIds } })
      .then((r) => r.conversation);
  }

  async removeMember(id, userId) {
    await this.request('DELETE', `/api/conversations/${enc(id)}/members/${enc(userId)}`);
  }

  /** Leaves a group. */
  leaveConversation(id) {
    const me = this.user;
    if (!me) return Promise.reject(new ParleyError(401, 'unauthorized', 'not logged in'));
    return this.removeMember(id, me.id).then(() => this.untrack(id));
  }

  // ---- REST: channels ----

  /** A channel (admins post, members read); `isPublic`: anyone may join by id. */
  createChannel(name, isPublic = false) {
    return this.request('POST', '/api/conversations', { body: { type: 'channel', name, public: !!isPublic } })
      .then((r) => r.conversation);
  }

  /** Public channels, newest first. @returns {Promise<{channels: object[], next_cursor: string|null}>} */
  listChannels({ limit, cursor } = {}) {
    return this.request('GET', '/api/channels', { query: { limit, cursor } });
  }

  /**
   * Joins a channel by an invite link's token or a public channel's id.
   * @param {{token?: string, conversationId?: string}} how
   * @returns {Promise<object>} the channel, as its member sees it
   */
  joinChannel({ token, conversationId } = {}) {
    const body = token ? { token } : { conversation_id: conversationId };
    return this.request('POST', '/api/channels/join', { body }).then((r) => r.conversation);
  }

  /** A page of any conversation's members. @returns {Promise<{members: object[], next_cursor: string|null}>} */
  listMembers(id, { limit, cursor } = {}) {
    return this.request('GET', `/api/conversations/${enc(id)}/members`, { query: { limit, cursor } });
  }

  /** A new invite link token for a channel (admins); the old one stops working. */
  createInvite(id) {
    return this.request('POST', `/api/conversations/${enc(id)}/invite`).then((r) => r.conversation);
  }

  async revokeInvite(id) {
    await this.request('DELETE', `/api/conversations/${enc(id)}/invite`);
  }

  /** Promotes (`admin`) or demotes (`member`) a channel member. */
  setMemberRole(id, userId, role) {
    return this.request('PATCH', `/api/conversations/${enc(id)}/members/${enc(userId)}`, { body: { role } })
      .then((r) => r.member);
  }

  // ---- REST: messages ----

  /**
   * A page of history, ascending by seq.
   * @param {string} conversationId
   * @param {{limit?: number, before_seq?: number, after_seq?: number}} [page]
   * @returns {Promise<{messages: object[], has_more: boolean}>}
   */
  listMessages(conversationId, page = {}) {
    return this.request('GET', `/api/conversations/${enc(conversationId)}/messages`, {
      query: { limit: page.limit, before_seq: page.before_seq, after_seq: page.after_seq },
    });
  }

  /**
   * Full-text search over the caller's conversations, best matches first.
   * Each result's snippet.highlights are [start, end) ranges of code points of
   * snippet.text (split it with Array.from, not by UTF-16 units).
   * @param {string} q
   * @param {{conversationId?: string, senderId?: string, before?: string, after?: string,
   *   limit?: number, cursor?: string}} [filters]
   * @returns {Promise<{results: {message: object, conversation_id: string,
   *   snippet: {text: string, highlights: number[][]}}[], next_cursor: string|null}>}
   */
  searchMessages(q, filters = {}) {
    return this.request('GET', '/api/search/messages', {
      query: {
        q, conversation_id: filters.conversationId, sender_id: filters.senderId,
        before: filters.before, after: filters.after, limit: filters.limit, cursor: filters.cursor,
      },
    });
  }

  /** Sends by REST (no socket needed); idempotent with a client_id. */
  postMessage(conversationId, text, { clientId } = {}) {
    return this.request('POST', `/api/conversations/${enc(conversationId)}/messages`, {
      body: { text, client_id: clientId || this.newClientId() },
    }).then((r) => r.message);
  }

  editMessage(id, text) {
    return this.request('PATCH', `/api/messages/${enc(id)}`, { body: { text } }).then((r) => r.message);
  }

  async deleteMessage(id) {
    await this.request('DELETE', `/api/messages/${enc(id)}`);
  }

  react(id, emoji) {
    return this.request('POST', `/api/messages/${enc(id)}/reactions`, { body: { emoji } }).then((r) => r.message);
  }

  async unreact(id, emoji) {
    await this.request('DELETE', `/api/messages/${enc(id)}/reactions/${enc(emoji)}`);
  }

  // ---- REST: Instagram and contacts ----

  /** @returns {Promise<{connected: boolean, status?: string, account?: object}>} status "reconnect_needed" when the token must be replaced */
  instagramStatus() {
    return this.request('GET', '/api/instagram/status');
  }

  /** @param {{ig_user_id?: string, access_token: string, username?: string}} account */
  connectInstagram(account) {
    return this.request('POST', '/api/instagram/connect', { body: account }).then((r) => r.account);
  }

  /** "Continue with Instagram": Instagram's authorize URL and the state bound to this session. */
  instagramOAuthStart() {
    return this.request('GET', '/api/instagram/oauth/start');
  }

  /** After Instagram's redirect: the code and state it carried; resolves to the account. */
  instagramOAuthFinish(code, state) {
    return this.request('POST', '/api/instagram/oauth/finish', { body: { code, state } }).then((r) => r.account);
  }

  /** The account's IANA time zone for flows' time conditions ("Europe/Berlin"; null or "": UTC);
   * resolves to the status body. A name the tz database lacks: 400 naming `timezone`. */
  setInstagramTimezone(timezone) {
    return this.request('PATCH', '/api/instagram/account', { body: { timezone } });
  }

  async disconnectInstagram() {
    await this.request('POST', '/api/instagram/disconnect');
  }

  /** A reply to an Instagram contact (422 outside_messaging_window after 24 hours). */
  sendInstagram(recipientId, text) {
    return this.request('POST', '/api/instagram/send-message', { body: { recipient_id: recipientId, text } })
      .then((r) => r.message);
  }

  /** The first page of contacts (up to 200), as an array. */
  listContacts() {
    return this.request('GET', '/api/contacts', { query: { limit: 200 } }).then((r) => r.contacts);
  }

  /**
   * One page of contacts, filtered by tag and searched by username or name.
   * @returns {Promise<{contacts: object[], next_cursor: string|null}>}
   */
  listContactsPage({ limit, cursor, tag, q } = {}) {
    return this.request('GET', '/api/contacts', { query: { limit, cursor, tag, q } });
  }

  getContact(id) {
    return this.request('GET', `/api/contacts/${enc(id)}`).then((r) => r.contact);
  }

  /** Hand edits: `tags` replaces the list, `variables` merges (a null value deletes). */
  updateContact(id, { tags, variables } = {}) {
    const body = {};
    if (tags !== undefined) body.tags = tags;
    if (variables !== undefined) body.variables = variables;
    return this.request('PATCH', `/api/contacts/${enc(id)}`, { body }).then((r) => r.contact);
  }

  // ---- REST: flows ----

  listFlows() {
    return this.request('GET', '/api/flows').then((r) => r.flows);
  }

  getFlow(id) {
    return this.request('GET', `/api/flows/${enc(id)}`).then((r) => r.flow);
  }

  /** Validation errors reject with a ParleyError whose `field` and `nodeId` name the place. */
  createFlow(flow) {
    return this.request('POST', '/api/flows', { body: flow }).then((r) => r.flow);
  }

  updateFlow(id, flow) {
    return this.request('PUT', `/api/flows/${enc(id)}`, { body: flow }).then((r) => r.flow);
  }

  async deleteFlow(id) {
    await this.request('DELETE', `/api/flows/${enc(id)}`);
  }

  /**
   * The dry run: nothing is sent or stored.
   * @returns {Promise<{trace: {node_id: string, type: string, result: any}[], outputs: string[], status: string}>}
   */
  testFlow(id, text, contact) {
    const body = contact === undefined ? { text } : { text, contact };
    return this.request('POST', `/api/flows/${enc(id)}/test`, { body });
  }

  listFlowRuns(id) {
    return this.request('GET', `/api/flows/${enc(id)}/runs`).then((r) => r.runs);
  }

  /** Publishes the draft: status "active" and a new version (none when the graph is the live one's). */
  publishFlow(id) {
    return this.request('POST', `/api/flows/${enc(id)}/publish`).then((r) => r.flow);
  }

  /** @returns {Promise<{version: number, created_at: string}[]>} newest first */
  listFlowVersions(id) {
    return this.request('GET', `/api/flows/${enc(id)}/versions`).then((r) => r.versions);
  }

  /** One published version: {version, created_at, trigger, nodes, edges, start}. */
  getFlowVersion(id, version) {
    return this.request('GET', `/api/flows/${enc(id)}/versions/${enc(String(version))}`).then((r) => r.version);
  }

  /** Copies a version's graph into the draft; resolves to the flow. */
  restoreFlowVersion(id, version) {
    return this.request('POST', `/api/flows/${enc(id)}/versions/${enc(String(version))}/restore`).then((r) => r.flow);
  }

  /**
   * The counters of one version, or of all versions summed when version is omitted.
   * @returns {Promise<{version: number|null, runs: object, nodes: object[], days: {date: string, started: number}[]}>}
   */
  flowStats(id, version) {
    return this.request('GET', `/api/flows/${enc(id)}/stats`, { query: { version } }).then((r) => r.stats);
  }

  // ---- bots (API.md, Bots): the owner's calls ----

  /** @returns {Promise<object[]>} the caller's bots, oldest first */
  listBots() {
    return this.request('GET', '/api/bots').then((r) => r.bots);
  }

  /**
   * Creates a bot. The token and the signing secret come back this once.
   * @returns {Promise<{bot: object, token: string, signing_secret: string}>}
   */
  createBot({ name, webhookUrl }) {
    return this.request('POST', '/api/bots', { body: { name, webhook_url: webhookUrl } });
  }

  getBot(id) {
    return this.request('GET', `/api/bots/${enc(id)}`).then((r) => r.bot);
  }

  /** changes: {name?, webhookUrl?, enabled?: true} (enabled makes a disabled bot active again). */
  updateBot(id, { name, webhookUrl, enabled } = {}) {
    const body = {};
    if (name !== undefined) body.name = name;
    if (webhookUrl !== undefined) body.webhook_url = webhookUrl;
    if (enabled !== undefined) body.enabled = enabled;
    return this.request('PATCH', `/api/bots/${enc(id)}`, { body }).then((r) => r.bot);
  }

  async deleteBot(id) {
    await this.request('DELETE', `/api/bots/${enc(id)}`);
  }

  /** A new token (the old one stops working at once). @returns {Promise<{bot: object, token: string}>} */
  rotateBotToken(id) {
    return this.request('POST', `/api/bots/${enc(id)}/token`);
  }
}

/**
 * A bot's own REST client: `Authorization: Bot <token>` on the routes a bot may use
 * (its conversations' messages). options: {baseUrl, token, fetch?}.
 */
export class ParleyBot {
  constructor({ baseUrl = '', token, fetch: f } = {}) {
    this._baseUrl = baseUrl;
    this._token = token;
    this._fetch = f || (typeof fetch === 'function' ? fetch.bind(globalThis) : null);
  }

  async _call(method, path, body) {
    if (!this._fetch) throw new ParleyError(0, 'network', 'no fetch available');
    const headers = { Authorization: `Bot ${this._token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await this._fetch(this._baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ParleyError(0, 'network', (err && err.message) || 'network error');
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch {
      /* not JSON */
    }
    if (!res.ok) throw errorFromEnvelope(res.status, data);
    return data;
  }

  /** Posts text to a conversation the bot is in; clientId makes it idempotent. */
  postMessage(conversationId, text, { clientId } = {}) {
    const body = clientId ? { text, client_id: clientId } : { text };
    return this._call('POST', `/api/conversations/${enc(conversationId)}/messages`, body).then((r) => r.message);
  }

  /** Edits one of the bot's own messages. */
  editMessage(id, text) {
    return this._call('PATCH', `/api/messages/${enc(id)}`, { text }).then((r) => r.message);
  }

  listMessages(conversationId, { limit, before_seq, after_seq } = {}) {
    return this._call('GET', `/api/conversations/${enc(conversationId)}/messages${query({ limit, before_seq, after_seq })}`);
  }
}
