// Stand-ins for what a browser gives the SDK, so the tests run as on Debian's
// Node 18: a manual clock, storage shared by "tabs" with storage events, a lock
// manager, a scripted WebSocket and a fake HTTP server behind fetch.

// Node 20+ has some browser globals that Node 18 lacks; remove them so that a
// test that forgot to inject one fails here as it would there.
for (const name of ['crypto', 'WebSocket', 'localStorage', 'sessionStorage', 'navigator', 'location']) {
  try {
    delete globalThis[name];
  } catch {
    /* not configurable */
  }
  if (name in globalThis) Object.defineProperty(globalThis, name, { value: undefined, configurable: true });
}

/** Lets pending promise callbacks run. */
export function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Clock {
  constructor(t = 1_800_000_000_000) {
    this.t = t;
    this.timers = new Map();
    this.seq = 0;
    this.now = () => this.t;
    this.setTimeout = (fn, ms) => {
      const id = ++this.seq;
      this.timers.set(id, { at: this.t + Math.max(0, ms || 0), fn });
      return id;
    };
    this.clearTimeout = (id) => this.timers.delete(id);
  }

  /** Moves time forward by ms, running each timer due on the way, in order. */
  async tick(ms) {
    const end = this.t + ms;
    await flush();
    for (;;) {
      let next = null;
      for (const [id, tm] of this.timers) if (tm.at <= end && (!next || tm.at < next[1].at)) next = [id, tm];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

/** One origin's localStorage seen from several tabs; a write in one tab fires
 * a `storage` event in the others (never in the writer, as in browsers). */
export class StorageHub {
  constructor() {
    this.data = new Map();
    this.tabs = [];
  }

  tab() {
    const hub = this;
    const listeners = new Set();
    const t = {
      listeners,
      storage: {
        getItem: (k) => (hub.data.has(k) ? hub.data.get(k) : null),
        setItem: (k, v) => hub._write(t, k, String(v)),
        removeItem: (k) => hub._write(t, k, null),
      },
      events: {
        addEventListener: (type, fn) => type === 'storage' && listeners.add(fn),
        removeEventListener: (type, fn) => listeners.delete(fn),
      },
    };
    this.tabs.push(t);
    return t;
  }

  _write(from, key, value) {
    const oldValue = this.data.has(key) ? this.data.get(key) : null;
    if (value === null) this.data.delete(key);
    else this.data.set(key, value);
    for (const t of this.tabs) {
      if (t === from) continue;
      queueMicrotask(() => {
        for (const fn of [...t.listeners]) fn({ key, oldValue, newValue: value });
      });
    }
  }
}

/** navigator.locks, exclusive mode only. */
export class Locks {
  constructor() {
    this.tails = new Map();
    this.granted = 0;
  }

  request(name, opts, fn) {
    const prev = this.tails.get(name) || Promise.resolve();
    const run = prev.then(() => {
      this.granted += 1;
      return fn();
    });
    this.tails.set(name, run.catch(() => {}));
    return run;
  }
}

function response(status, body, headers = {}) {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  if (body !== undefined && body !== null && !h.has('content-type')) h.set('content-type', 'application/json');
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: { get: (k) => h.get(k.toLowerCase()) ?? null },
    json: async () => body,
    text: async () => JSON.stringify(body),
  };
}

/**
 * An auth server as docs/API.md describes it, with routes added by tests:
 * refresh tokens are single use and reusing one revokes the login.
 */
export class FakeServer {
  constructor({ expiresIn = 900, delay = null } = {}) {
    this.expiresIn = expiresIn;
    this.delay = delay; // async () => void, run before each answer
    this.calls = [];
    this.n = 0;
    this.live = new Set(); // refresh tokens that still work
    this.used = new Set();
    this.revoked = false;
    this.validAccess = new Set();
    this.routes = new Map();
    this.fetch = (url, init) => this._handle(url, init);
  }

  session() {
    this.n += 1;
    const s = {
      user: { id: 'u1', name: 'Ann', email: 'ann@example.com' },
      access_token: `at${this.n}`,
      refresh_token: `rt${this.n}`,
      token_type: 'Bearer',
      expires_in: this.expiresIn,
    };
    this.live.add(s.refresh_token);
    this.validAccess.add(s.access_token);
    return s;
  }

  route(method, path, fn) {
    this.routes.set(`${method} ${path}`, fn);
  }

  count(path) {
    return this.calls.filter((c) => c.path === path).length;
  }

  async _handle(url, init) {
    const u = new URL(url, 'http://parley.test');
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    const auth = init.headers.Authorization || null;
    this.calls.push({ method: init.method, path: u.pathname, query: u.search, body, auth });
    if (this.delay) await this.delay();
    if (u.pathname === '/api/auth/login' || u.pathname === '/api/auth/signup')
      return response(u.pathname.endsWith('signup') ? 201 : 200, this.session());
    if (u.pathname === '/api/auth/refresh') {
      const t = body.refresh_token;
      if (this.used.has(t)) {
        this.revoked = true; // a reused refresh token ends the whole login
        this.live.clear();
        this.validAccess.clear();
      }
      if (!this.live.has(t) || this.revoked)
        return response(401, { error: { code: 'unauthorized', message: 'refresh token not valid' } });
      this.live.delete(t);
      this.used.add(t);
      return response(200, this.session());
    }
    if (u.pathname === '/api/auth/logout') return response(204, null);
    const fn = this.routes.get(`${init.method} ${u.pathname}`);
    if (!fn) return response(404, { error: { code: 'not_found', message: 'no route' } });
    if (!auth || !this.validAccess.has(auth.replace('Bearer ', '')))
      return response(401, { error: { code: 'unauthorized', message: 'bad token' } });
    const r = await fn({ body, query: u.searchParams, auth });
    return response(r.status ?? 200, r.body ?? null, r.headers);
  }
}

/** A WebSocket whose server side the test drives. */
export class SocketHub {
  constructor() {
    this.sockets = [];
    const hub = this;
    this.WebSocket = class FakeWebSocket {
      constructor(url) {
        this.url = url;
        this.sent = [];
        this.closed = null;
        this.readyState = 0;
        hub.sockets.push(this);
      }

      send(data) {
        if (this.readyState !== 1) throw new Error('not open');
        this.sent.push(JSON.parse(data));
      }

      close(code, reason) {
        if (this.closed) return;
        this.closed = { code, reason, by: 'client' };
        this.readyState = 3;
      }

      // ---- the server's side ----
      open() {
        this.readyState = 1;
        this.onopen?.({});
      }

      frame(obj) {
        this.onmessage?.({ data: JSON.stringify(obj) });
      }

      serverClose(code, reason = '') {
        this.closed = { code, reason, by: 'server' };
        this.readyState = 3;
        this.onclose?.({ code, reason });
      }

      frames(type) {
        return this.sent.filter((f) => f.type === type);
      }
    };
  }

  get last() {
    return this.sockets[this.sockets.length - 1];
  }
}

/** Options for a client that uses only fakes. */
export function fakeOptions({ clock, server, sockets, tab, locks = null, ...rest }) {
  return {
    baseUrl: 'http://parley.test',
    fetch: server.fetch,
    WebSocket: sockets ? sockets.WebSocket : null,
    storage: tab ? tab.storage : null,
    storageEvents: tab ? tab.events : null,
    windowEvents: null,
    locks,
    crypto: null,
    location: null,
    now: clock ? clock.now : undefined,
    setTimeout: clock ? clock.setTimeout : undefined,
    clearTimeout: clock ? clock.clearTimeout : undefined,
    ...rest,
  };
}
