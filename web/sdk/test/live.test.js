// The SDK against a real parleyd: renewal on the open socket (auth / auth.ok),
// and the 4003 close of an ended login or a deleted account. Skipped unless
// PARLEY_LIVE_URL names a server started with a short access-token lifetime
// (PARLEY_ACCESS_TOKEN_TTL=10) and node runs with --experimental-websocket;
// tests/integration/test_sdk_live.py does both, on each store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParleyClient } from '../parley.js';

const base = process.env.PARLEY_LIVE_URL;
const skip = !base || typeof globalThis.WebSocket !== 'function'
  ? 'set PARLEY_LIVE_URL and run node with --experimental-websocket' : false;

function client() {
  return new ParleyClient({
    baseUrl: base,
    fetch: globalThis.fetch,
    WebSocket: globalThis.WebSocket,
    storage: null,
    storageEvents: null,
    windowEvents: null,
    locks: null,
    location: null,
    pingIntervalMs: 0,
  });
}

/* Resolves with the first `type` event's detail, or rejects after ms. */
function next(c, type, ms = 30000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms`)), ms);
    const off = c.on(type, (d) => {
      clearTimeout(t);
      if (typeof off === 'function') off();
      resolve(d);
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const email = () => `sdk-${Math.random().toString(16).slice(2, 12)}@example.com`;
const PASSWORD = 'correct horse battery';

async function signedUp() {
  const c = client();
  const e = email();
  await c.signup({ email: e, password: PASSWORD, name: 'SDK live' });
  return { c, e };
}

test('the socket renews its token before expiry and outlives it', { skip, timeout: 60000 }, async () => {
  const { c } = await signedUp();
  const readies = [];
  c.on('ready', (d) => readies.push(d));
  const closedCodes = [];
  c.on('state', (d) => closedCodes.push(d));
  const ready = next(c, 'ready');
  c.connect();
  await ready;
  const lifetime = c._session.get().lifetime_ms;
  assert.ok(lifetime <= 20000, 'the server must run with a short token lifetime');
  const firstExpiry = c._session.get().expires_at;
  // Renewal is due half-way; the server answers auth.ok with the new expiry.
  const ok = await next(c, 'auth.ok', lifetime + 10000);
  assert.match(ok.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Date.parse(ok.expires_at) > firstExpiry - 1000, ok.expires_at);
  // Past the first token's expiry the same socket is still open (no 4001).
  await sleep(Math.max(0, firstExpiry - Date.now()) + 2000);
  assert.equal(c.state, 'open');
  assert.equal(readies.length, 1, 'the socket was never replaced');
  c.dispose();
});

test('logout of this login elsewhere closes the socket with 4003: session ended', { skip, timeout: 30000 }, async () => {
  const { c, e } = await signedUp();
  const other = client();
  await other.login({ email: e, password: PASSWORD });
  const readyA = next(c, 'ready');
  const readyB = next(other, 'ready');
  c.connect();
  other.connect();
  await Promise.all([readyA, readyB]);
  // Another device ends c's login with c's refresh token.
  const ended = next(c, 'logout');
  const r = await fetch(`${base}/api/auth/logout`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: c._session.get().refresh_token }),
  });
  assert.equal(r.status, 204);
  assert.deepEqual(await ended, { reason: 'ended' });
  assert.equal(c.state, 'closed');
  assert.equal(c.loggedIn, false);
  // The other login of the same user is untouched.
  await sleep(500);
  assert.equal(other.state, 'open');
  // Deleting the account ends it too.
  const third = client();
  await third.login({ email: e, password: PASSWORD });
  const gone = next(other, 'logout');
  await third.deleteAccount();
  assert.deepEqual(await gone, { reason: 'ended' });
  assert.equal(other.state, 'closed');
  third.dispose();
  other.dispose();
  c.dispose();
});
