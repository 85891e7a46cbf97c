// The login's tokens, shared by every tab of one origin through storage, and the
// one refresh in flight across those tabs. Presenting a refresh token twice
// revokes the whole login (docs/API.md), so a tab refreshes only while holding
// a lock (navigator.locks, else a lease in storage) and, once it holds it,
// first looks whether another tab already refreshed.

import { Emitter } from './emitter.js';
import { ParleyError } from './errors.js';

const LOCK_NAME = 'parley-refresh';

/**
 * @typedef {object} Session
 * @property {object} user          the caller's user
 * @property {string} access_token
 * @property {string} refresh_token
 * @property {number} expires_at    when the access token expires (ms since epoch, local clock)
 * @property {number} lifetime_ms   the access token's lifetime when issued
 */

/** Converts the server's `session` answer to the stored form. */
export function sessionFromServer(body, now) {
  const lifetime = Math.max(1, Number(body.expires_in) || 900) * 1000;
  return {
    user: body.user,
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    expires_at: now + lifetime,
    lifetime_ms: lifetime,
  };
}

function parse(text) {
  if (typeof text !== 'string') return null;
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

function validSession(s) {
  return !!s && typeof s.access_token === 'string' && typeof s.refresh_token === 'string' &&
    typeof s.expires_at === 'number';
}

/**
 * Holds the session of one SDK instance and keeps it in step with the others.
 * Events: `change` (Session, after login, refresh or another tab's refresh),
 * `end` ({reason}) when the session is gone.
 */
export class SessionManager extends Emitter {
  /**
   * @param {object} o
   * @param {Storage|null} o.storage     localStorage or a stand-in; null keeps it in memory
   * @param {EventTarget|null} o.storageEvents  where `storage` events arrive (window)
   * @param {LockManager|null} o.locks   navigator.locks or a stand-in
   * @param {string} o.key               storage key of the session
   * @param {(refreshToken: string) => Promise<Session>} o.doRefresh  the server call
   * @param {() => number} o.now
   * @param {Function} o.setTimeout
   * @param {Function} o.clearTimeout
   * @param {number} [o.leaseMs]         how long a storage lease lasts
   * @param {number} [o.settleMs]        how long a new lease must stand before it counts
   */
  constructor(o) {
    super();
    this._storage = o.storage;
    this._events = o.storageEvents;
    this._locks = o.locks;
    this._key = o.key;
    this._leaseKey = `${o.key}.refresh-lease`;
    this._doRefresh = o.doRefresh;
    this._now = o.now;
    this._setTimeout = o.setTimeout;
    this._clearTimeout = o.clearTimeout;
    this._leaseMs = o.leaseMs ?? 10000;
    this._settleMs = o.settleMs ?? 40;
    this._id = o.instanceId;
    this._inflight = null;
    this._wakers = new Set();
    this._current = this._load();
    this._onStorage = (e) => this._storageChanged(e);
    if (this._events && this._storage) this._events.addEventListener('storage', this._onStorage);
  }

  /** Stops listening to other tabs. */
  dispose() {
    if (this._events && this._storage) this._events.removeEventListener('storage', this._onStorage);
  }

  /** The current session, or null when logged out. @returns {Session|null} */
  get() {
    return this._current;
  }

  _load() {
    if (!this._storage) return this._current ?? null;
    const s = parse(this._storage.getItem(this._key));
    return validSession(s) ? s : null;
  }

  /** Stores a new session (login, signup, refresh) and announces it. */
  set(session) {
    this._current = session;
    if (this._storage) this._storage.setItem(this._key, JSON.stringify(session));
    this.emit('change', session);
  }

  /** Forgets the session in every tab; `reason` goes with the `end` event. */
  clear(reason) {
    const had = this._current !== null;
    this._current = null;
    if (this._storage) this._storage.removeItem(this._key);
    if (had) this.emit('end', { reason });
  }

  _storageChanged(e) {
    if (e.key === this._leaseKey || e.key === null) this._wake();
    if (e.key !== this._key && e.key !== null) return;
    this._wake();
    const s = this._load();
    if (!s) {
      if (this._current) {
        this._current = null;
        this.emit('end', { reason: 'elsewhere' });
      }
      return;
    }
    if (!this._current || s.access_token !== this._current.access_token) {
      this._current = s;
      this.emit('change', s);
    }
  }

  /**
   * Gets a fresh access token: one call to the server however many callers,
   * instances and tabs ask at once. Resolves with the new session; rejects with
   * a ParleyError (status 401 when the login is over: the session is cleared).
   */
  refresh() {
    if (this._inflight) return this._inflight;
    const seen = this._current ? this._current.refresh_token : null;
    this._inflight = this._withLock(() => this._refreshLocked(seen)).finally(() => {
      this._inflight = null;
    });
    return this._inflight;
  }

  async _refreshLocked(seen) {
    const stored = this._load();
    if (!stored || !seen) {
      if (this._current) this.clear('elsewhere');
      throw new ParleyError(401, 'unauthorized', 'not logged in');
    }
    if (stored.refresh_token !== seen) {
      // Another tab refreshed while we waited for the lock: use its tokens.
      if (!this._current || this._current.access_token !== stored.access_token) {
        this._current = stored;
        this.emit('change', stored);
      }
      return stored;
    }
    let next;
    try {
      next = await this._doRefresh(seen);
    } catch (err) {
      if (err instanceof ParleyError && err.status === 401) this.clear('refresh_failed');
      throw err;
    }
    this.set(next);
    return next;
  }

  _withLock(fn) {
    if (this._locks && typeof this._locks.request === 'function')
      return this._locks.request(LOCK_NAME, { mode: 'exclusive' }, fn);
    if (this._storage) return this._withLease(fn);
    return fn();
  }

  /* Waits ms, or less when wakeable and another tab changes the session or
   * the lease. */
  _sleep(ms, wakeable = true) {
    return new Promise((resolve) => {
      const done = () => {
        this._clearTimeout(t);
        this._wakers.delete(done);
        resolve();
      };
      const t = this._setTimeout(done, ms);
      if (wakeable) this._wakers.add(done);
    });
  }

  _wake() {
    for (const w of [...this._wakers]) w();
  }

  _readLease() {
    const l = parse(this._storage.getItem(this._leaseKey));
    return l && typeof l.owner === 'string' && typeof l.until === 'number' ? l : null;
  }

  /* Without navigator.locks: write a lease naming this instance, let it stand
   * for settleMs (the last of several writers wins), and go ahead only if it is
   * still ours. A tab that dies holding it loses it when it runs out. */
  async _withLease(fn) {
    for (;;) {
      const lease = this._readLease();
      if (!lease || lease.until <= this._now()) {
        this._storage.setItem(this._leaseKey,
          JSON.stringify({ owner: this._id, until: this._now() + this._leaseMs }));
        await this._sleep(this._settleMs, false);
        const mine = this._readLease();
        if (mine && mine.owner === this._id) {
          try {
            return await fn();
          } finally {
            const l = this._readLease();
            if (l && l.owner === this._id) this._storage.removeItem(this._leaseKey);
          }
        }
        continue;
      }
      await this._sleep(Math.min(250, Math.max(this._settleMs, lease.until - this._now())));
    }
  }
}
