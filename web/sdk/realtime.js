// The WebSocket side of the SDK: one socket per client, authenticated by its
// first frame and renewed on the open socket before the token expires;
// reconnection with backoff; recovery by `sync` from the last seq seen in each
// conversation; the outbox of sends not yet acknowledged, resent with the same
// client_id. Every frame this side sends passes a token bucket kept below the
// server's frame rate (docs/API.md).

import { backoffDelay, Pacer } from './backoff.js';
import { ParleyError } from './errors.js';

const STATUS_OF = {
  validation_failed: 400, invalid_json: 400, unknown_type: 400, unauthorized: 401,
  forbidden: 403, not_found: 404, conflict: 409, payload_too_large: 413,
  rate_limited: 429, unavailable: 503,
};

/** Error codes after which a send is tried again rather than given up. */
const RETRYABLE = new Set(['rate_limited', 'unavailable']);
// Presence changes remembered between ready and the snapshot (see _onPresence).
const PRESENCE_SEEN_MAX = 10000;
// GET /api/presence answers at most this many ids per call.
export const PRESENCE_IDS_MAX = 1000;

export class Realtime {
  /**
   * @param {object} o see ParleyClient's options; plus
   * @param {import('./session.js').SessionManager} o.session
   * @param {(type: string, detail: any) => void} o.emit
   * @param {() => string} o.url
   * @param {() => string} o.newId
   */
  constructor(o) {
    this._session = o.session;
    this._emit = o.emit;
    this._url = o.url;
    this._newId = o.newId;
    this._WebSocket = o.WebSocket;
    this._now = o.now;
    this._setTimeout = o.setTimeout;
    this._clearTimeout = o.clearTimeout;
    this._random = o.random;
    this._backoff = o.backoff;
    this._renewBeforeMs = o.renewBeforeMs;
    this._replyTimeoutMs = o.replyTimeoutMs;
    this._readyTimeoutMs = o.readyTimeoutMs;
    this._pingIntervalMs = o.pingIntervalMs;
    this._retryDelayMs = o.retryDelayMs;
    this._syncLimit = o.syncLimit;
    this._maxTracked = o.maxTracked;
    this._maxOutbox = o.maxOutbox;
    this._maxBuffered = o.maxBuffered;
    this._pacer = new Pacer({ rate: o.frameRate, burst: o.frameBurst, now: o.now,
      setTimeout: o.setTimeout, clearTimeout: o.clearTimeout }, (f) => this._raw(f));

    this.state = 'idle';
    this._wanted = false;
    this._ws = null;
    this._ready = false;
    this._everReady = false;
    this._attempt = 0;
    this._timers = {};
    this._socketToken = null;
    this._socketExpiresAt = 0;
    this._socketLifetime = 0;
    this._renewRef = null;
    this._renewTo = null;
    this._authSeq = 0;
    this._lastFrameAt = 0;
    /** @type {Map<string, {last: number, syncing: boolean, buffer: object[]|null, overflow: boolean}>} */
    this._convs = new Map();
    /** @type {Map<string, {frame: object, resolve: Function, reject: Function, promise: Promise<object>}>} */
    this._outbox = new Map();

    this._session.on('change', (s) => {
      if (this._ready && s.access_token !== this._socketToken && this._renewRef === null)
        this._sendAuth(s);
    });
    this._session.on('end', () => this._ended());
  }

  // ---- timers ----

  _timer(name, ms, fn) {
    this._stop(name);
    this._timers[name] = this._setTimeout(() => {
      delete this._timers[name];
      fn();
    }, Math.max(0, ms));
  }

  _stop(name) {
    if (this._timers[name] !== undefined) this._clearTimeout(this._timers[name]);
    delete this._timers[name];
  }

  _setState(state, extra = {}) {
    if (this.state === state && state !== 'reconnecting') return;
    this.state = state;
    this._emit('state', { state, ...extra });
  }

  // ---- connection life ----

  connect() {
    if (this._wanted) return;
    this._wanted = true;
    this._attempt = 0;
    this._open();
  }

  disconnect() {
    this._wanted = false;
    this._drop(1000, 'bye');
    this._stop('reconnect');
    this._setState('closed');
  }

  reconnectNow() {
    if (!this._wanted || this._ws) return;
    this._stop('reconnect');
    this._open();
  }

  async _open() {
    this._stop('reconnect');
    let s = this._session.get();
    if (!s) {
      this._wanted = false;
      this._setState('closed');
      return;
    }
    this._setState('connecting');
    if (s.expires_at - this._now() < Math.min(this._renewBeforeMs, s.lifetime_ms / 2)) {
      try {
        s = await this._session.refresh();
      } catch (err) {
        if (err.status !== 401 && this._wanted) this._scheduleReconnect();
        return;
      }
      if (!this._wanted || this._ws) return;
    }
    let ws;
    try {
      ws = new this._WebSocket(this._url());
    } catch {
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    this._ready = false;
    this._socketToken = s.access_token;
    this._socketExpiresAt = s.expires_at;
    this._socketLifetime = s.lifetime_ms;
    ws.onopen = () => {
      if (ws !== this._ws) return;
      this._pacer.take();
      this._raw({ type: 'auth', token: s.access_token });
    };
    ws.onmessage = (e) => {
      if (ws !== this._ws) return;
      this._lastFrameAt = this._now();
      let f;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      if (f && typeof f === 'object' && typeof f.type === 'string') this._onFrame(f);
    };
    ws.onclose = (e) => {
      if (ws === this._ws) this._onClose(e.code, e.reason || '');
    };
    ws.onerror = () => {};
    this._timer('ready', this._readyTimeoutMs, () => {
      if (ws !== this._ws || this._ready) return;
      this._drop(4000, 'no ready');
      this._scheduleReconnect();
    });
  }

  /* Lets go of the socket: its late events are ignored from here on. */
  _drop(code, reason) {
    const ws = this._ws;
    this._ws = null;
    this._ready = false;
    this._renewRef = null;
    for (const t of Object.keys(this._timers)) if (t !== 'reconnect') this._stop(t);
    this._pacer.clear();
    for (const c of this._convs.values()) {
      c.syncing = false;
      c.buffer = null;
      c.overflow = false;
    }
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
  }

  _scheduleReconnect() {
    if (!this._wanted) return;
    const delayMs = backoffDelay(this._attempt, this._backoff, this._random);
    this._attempt += 1;
    this._setState('reconnecting', { attempt: this._attempt, delayMs });
    this._timer('reconnect', delayMs, () => this._open());
  }

  /* The renewal went unanswered or was refused: a new socket with the fresh token. */
  _restart() {
    this._drop(1000, 'renewing');
    if (!this._wanted) return;
    this._setState('reconnecting', { attempt: 0, delayMs: 0 });
    this._open();
  }

  _onClose(code, reason) {
    this._drop(code, reason);
    if (!this._wanted) {
      this._setState('closed');
      return;
    }
    if (code === 4003) {
      // The login was ended (logout elsewhere, account deleted): never reconnect.
      this._session.clear('ended');
      this._ended();
      return;
    }
    if (code === 4001 || (code === 1008 && /token/i.test(reason))) {
      this._setState('reconnecting', { attempt: this._attempt, delayMs: 0 });
      this._session.refresh().then(
        () => this._scheduleReconnect(),
        (err) => {
          if (err.status !== 401) this._scheduleReconnect();
        });
      return;
    }
    this._scheduleReconnect();
  }

  /* The session is over: the socket goes and pending sends fail. */
  _ended() {
    this._wanted = false;
    this._drop(1000, 'logged out');
    this._stop('reconnect');
    for (const e of this._outbox.values())
      e.reject(new ParleyError(401, 'logged_out', 'the session has ended'));
    this._outbox.clear();
    this._setState('closed');
  }

  // ---- frames ----

  _raw(frame) {
    if (!this._ws) return false;
    try {
      this._ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  _onFrame(f) {
    switch (f.type) {
      case 'ready':
        this._onReady(f);
        break;
      case 'auth.ok':
        this._onAuthOk(f);
        break;
      case 'message.new':
        this._onMessageNew(f);
        break;
      case 'message.ack':
        this._onAck(f);
        break;
      case 'sync.result':
        this._onSyncResult(f);
        break;
      case 'error':
        this._onError(f);
        break;
      case 'pong':
        break;
      case 'presence':
        this._onPresence(f);
        break;
      case 'presence.batch':
        for (const e of Array.isArray(f.users) ? f.users : []) this._onPresence({ ...e, type: 'presence' });
        break;
      case 'presence.snapshot':
        this._onSnapshot(f);
        break;
      default:
        this._emit(f.type, f);
    }
  }

  /* One presence change; a batch's entries come here one by one, in order. The
   * users changed since ready are remembered (up to PRESENCE_SEEN_MAX) so that
   * the snapshot, which may have been computed before, does not undo them. */
  _onPresence(f) {
    if (!f || typeof f.user_id !== 'string') return;
    if (this._presenceSeen && this._presenceSeen.size < PRESENCE_SEEN_MAX) this._presenceSeen.add(f.user_id);
    this._emit('presence', f);
  }

  _onSnapshot(f) {
    const seen = this._presenceSeen || new Set();
    const users = (Array.isArray(f.users) ? f.users : []).filter((e) => e && !seen.has(e.user_id));
    this._presenceSeen = null;
    this._emit('presence.snapshot', { type: 'presence.snapshot', users });
  }

  _onReady(f) {
    this._stop('ready');
    this._ready = true;
    this._presenceSeen = new Set();
    this._attempt = 0;
    const reconnected = this._everReady;
    this._everReady = true;
    this._setState('open');
    this._emit('ready', { ...f, reconnected });
    this._scheduleRenewal();
    this._schedulePing();
    for (const e of this._outbox.values()) this._pacer.push(e.frame);
    for (const id of this._convs.keys()) this._startSync(id);
    // A token refreshed by another tab while we connected goes in now.
    const s = this._session.get();
    if (s && s.access_token !== this._socketToken) this._sendAuth(s);
  }

  _schedulePing() {
    if (!this._pingIntervalMs) return;
    this._timer('ping', this._pingIntervalMs, () => {
      if (!this._ready) return;
      if (this._now() - this._lastFrameAt > 2 * this._pingIntervalMs) {
        this._drop(4000, 'silent');
        this._scheduleReconnect();
        return;
      }
      this._pacer.push({ type: 'ping' });
      this._schedulePing();
    });
  }

  // ---- token renewal on the open socket ----

  _renewMargin() {
    return Math.min(this._renewBeforeMs, this._socketLifetime / 2);
  }

  _scheduleRenewal() {
    this._timer('renew', this._socketExpiresAt - this._renewMargin() - this._now(),
      () => this._renew());
  }

  async _renew() {
    let s = this._session.get();
    if (!s || !this._ready) return;
    if (s.access_token === this._socketToken || s.expires_at - this._now() <= this._renewMargin()) {
      try {
        s = await this._session.refresh();
      } catch (err) {
        // Logged out: the end event closes us. Otherwise try again shortly;
        // at worst the server closes with 4001 and we reconnect.
        if (err.status !== 401 && this._ready) this._timer('renew', this._retryDelayMs, () => this._renew());
        return;
      }
    }
    if (this._ready && this._renewRef === null) this._sendAuth(s);
  }

  _sendAuth(s) {
    const ref = `auth:${++this._authSeq}`;
    this._renewRef = ref;
    this._renewTo = s;
    this._pacer.take();
    this._raw({ type: 'auth', token: s.access_token, client_id: ref });
    // No answer (a server without renewal): a new socket with the new token.
    this._timer('reply', this._replyTimeoutMs, () => {
      if (this._renewRef === ref) this._restart();
    });
  }

  _onAuthOk(f) {
    if (this._renewRef === null) return;
    this._stop('reply');
    this._renewRef = null;
    this._socketToken = this._renewTo.access_token;
    this._socketExpiresAt = this._renewTo.expires_at;
    this._socketLifetime = this._renewTo.lifetime_ms;
    this._scheduleRenewal();
    this._emit('auth.ok', f);
  }

  // ---- messages, in order, once ----

  /** The last seq delivered for a conversation (0 when untracked). */
  lastSeq(id) {
    const c = this._convs.get(id);
    return c ? c.last : 0;
  }

  /** Records that the app holds a conversation up to `seq`: it is synced
   * from there after a reconnect. The least recently active beyond
   * maxTracked are forgotten. */
  track(id, seq = 0) {
    let c = this._convs.get(id);
    if (c) {
      this._convs.delete(id);
    } else {
      c = { last: 0, syncing: false, buffer: null, overflow: false };
      if (this._convs.size >= this._maxTracked) this._convs.delete(this._convs.keys().next().value);
    }
    this._convs.set(id, c);
    if (Number.isInteger(seq) && seq > c.last) c.last = seq;
    return c;
  }

  untrack(id) {
    this._convs.delete(id);
  }

  _startSync(id) {
    const c = this._convs.get(id);
    if (!c || !this._ready) return;
    if (!c.syncing) {
      c.syncing = true;
      c.buffer = [];
      c.overflow = false;
    }
    const ok = this._pacer.push({ type: 'sync', conversation_id: id, after_seq: c.last,
      limit: this._syncLimit, client_id: `sync:${id}` });
    if (!ok) {
      c.syncing = false;
      c.buffer = null;
    }
  }

  _deliver(m, recovered) {
    this._emit('message.new', { type: 'message.new', message: m, recovered });
  }

  _onMessageNew(f) {
    const m = f.message;
    if (!m || typeof m.conversation_id !== 'string' || !Number.isInteger(m.seq)) {
      this._emit('message.new', f);
      return;
    }
    let c = this._convs.get(m.conversation_id);
    if (!c) {
      this.track(m.conversation_id, m.seq);
      this._deliver(m, false);
      return;
    }
    if (c.syncing) {
      if (c.buffer.length < this._maxBuffered) c.buffer.push(m);
      else c.overflow = true;
      return;
    }
    if (m.seq <= c.last) return; // seen already
    c = this.track(m.conversation_id);
    if (m.seq === c.last + 1) {
      c.last = m.seq;
      this._deliver(m, false);
      return;
    }
    // A gap: hold this one and fetch what lies between.
    this._startSync(m.conversation_id);
    if (c.syncing) c.buffer.push(m);
  }

  _onSyncResult(f) {
    const id = f.conversation_id;
    const c = this._convs.get(id);
    if (!c || !c.syncing) return;
    const msgs = Array.isArray(f.messages) ? [...f.messages] : [];
    msgs.sort((a, b) => a.seq - b.seq);
    for (const m of msgs) {
      if (!Number.isInteger(m.seq) || m.seq <= c.last) continue;
      c.last = m.seq;
      this._deliver(m, true);
    }
    if (f.has_more && msgs.length) {
      this._startSync(id);
      return;
    }
    const held = c.buffer || [];
    const again = c.overflow;
    c.syncing = false;
    c.buffer = null;
    c.overflow = false;
    held.sort((a, b) => a.seq - b.seq);
    for (const m of held) this._onMessageNew({ type: 'message.new', message: m });
    if (again) this._startSync(id);
  }

  // ---- sends ----

  /**
   * Queues a message; resolves with the stored message on message.ack. extra may
   * carry reply_to and mentions (docs/API.md, Replies and mentions).
   */
  send(conversationId, text, clientId, extra = {}) {
    const id = clientId || this._newId();
    const existing = this._outbox.get(id);
    if (existing) return existing.promise;
    if (this._outbox.size >= this._maxOutbox)
      return Promise.reject(new ParleyError(0, 'outbox_full', 'too many messages waiting to be sent'));
    if (!this._session.get())
      return Promise.reject(new ParleyError(401, 'logged_out', 'not logged in'));
    const frame = { type: 'message.send', conversation_id: conversationId, text, client_id: id };
    if (extra.reply_to) frame.reply_to = extra.reply_to;
    if (extra.mentions && extra.mentions.length) frame.mentions = extra.mentions;
    if (extra.attachment_ids && extra.attachment_ids.length) {
      frame.attachment_ids = extra.attachment_ids;
      if (!text) frame.text = null;
    }
    const e = { frame };
    e.promise = new Promise((resolve, reject) => {
      e.resolve = resolve;
      e.reject = reject;
    });
    this._outbox.set(id, e);
    if (this._ready) this._pacer.push(e.frame);
    return e.promise;
  }

  /** The client_ids of sends not yet acknowledged, oldest first. */
  pending() {
    return [...this._outbox.keys()];
  }

  _onAck(f) {
    const e = this._outbox.get(f.client_id);
    if (e) {
      this._outbox.delete(f.client_id);
      e.resolve(f.message);
    }
    this._emit('message.ack', f);
  }

  _again() {
    if (!this._ready) return;
    for (const e of this._outbox.values()) this._pacer.push(e.frame);
    for (const [id, c] of this._convs) if (c.syncing) this._startSync(id);
  }

  /** Sends a frame now if connected; returns whether it went out. */
  sendFrame(frame) {
    return this._ready && this._pacer.push(frame);
  }

  _onError(f) {
    const ref = typeof f.ref === 'string' ? f.ref : null;
    if (ref !== null && ref === this._renewRef) {
      // This server does not renew on the socket: reconnect with the new token.
      this._stop('reply');
      this._restart();
      return;
    }
    const e = ref !== null ? this._outbox.get(ref) : undefined;
    if (e) {
      if (RETRYABLE.has(f.code)) {
        this._timer(`resend:${ref}`, this._retryDelayMs, () => {
          if (this._outbox.get(ref) === e && this._ready) this._pacer.push(e.frame);
        });
      } else {
        this._outbox.delete(ref);
        e.reject(new ParleyError(STATUS_OF[f.code] ?? 400, f.code || 'error', f.message || '',
          { field: f.field }));
      }
    } else if (ref === null && f.code === 'rate_limited') {
      // The server refused a frame before reading it, so we cannot tell which:
      // everything that waits for an answer goes again (sends are idempotent,
      // a repeated sync answer is deduplicated by seq).
      this._timer('again', this._retryDelayMs, () => this._again());
    } else if (ref !== null && ref.startsWith('sync:')) {
      const id = ref.slice(5);
      const c = this._convs.get(id);
      if (c && c.syncing) {
        if (RETRYABLE.has(f.code)) {
          this._timer(`sync:${id}`, this._retryDelayMs, () => this._startSync(id));
        } else {
          // Gone or forbidden (the user left it): stop following it.
          this._convs.delete(id);
        }
      }
    }
    this._emit('error', f);
  }
}
