// This browser as a key holder of secret chats (docs/API.md, Key directory and Secret
// chats): it registers a device on first use, keeps its private keys in the keystore,
// seals a message for every device of the other user and of its own user, opens what was
// sealed for it, and uploads one-time prekeys when the server says few are left. The
// cryptography is x3dh.js; the server is reached through the SDK (client.js).
import { call, client } from '../client.js';
import { store } from '../store.js';
import { openKeystore } from './keystore.js';
import * as x3dh from './x3dh.js';

const BATCH = 100; // one-time prekeys uploaded at once (the server takes at most 100)
const DEVICES_TTL_MS = 60 * 1000; // how long a user's fetched device list is trusted
const CIPHERTEXT_MAX = 16384; // characters of one device's ciphertext (API.md)
const TOPPED_MS = 10 * 1000; // keys.low frames ignored after an upload
const SPK_ROTATE_MS = 7 * 24 * 3600 * 1000; // a signed prekey's life before a new one
const SPK_KEEP_MS = 30 * 24 * 3600 * 1000; // how long a replaced one still opens messages
const SPK_OLD_MAX = 5; // replaced signed prekeys kept
const MEMO_MAX = 5000; // messages whose reading is kept in memory
const FORCE_MS = 10 * 1000; // a user's devices fetched out of turn at most this often

let state = null; // {userId, db, dev: Promise<device>, out, users, queue, sending, memo}

function fresh(userId) {
  return {
    userId,
    db: null,
    dev: null,
    out: null, // peer device id -> {key, ad, header, ik, userId}
    users: new Map(), // user id -> {at, keys: Map(device id -> identity key)}
    queue: Promise.resolve(), // receiving sessions are made one at a time
    sending: new Set(), // sends in flight (their own messages wait for them)
    memo: new Map(), // message id -> Promise<{text} | {error}>
    replenishing: null,
    toppedAt: 0,
    failedAt: 0,
    forced: new Map(), // user id -> when its devices were last fetched out of turn
  };
}

function current() {
  const me = store.me && store.me.id;
  if (!me) throw new Error('not logged in');
  if (!state || state.userId !== me) state = fresh(me);
  return state;
}

function deviceLabel() {
  const ua = (globalThis.navigator && navigator.userAgent) || '';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom/.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  return `${browser} (web)`;
}

async function makePrekeys(db, n) {
  const fresh = [];
  for (let i = 0; i < n; i++) fresh.push(await x3dh.newX25519());
  await db.putMany('prekeys', fresh.map((k) => [x3dh.b64(k.pub), k.priv]));
  return fresh.map((k) => x3dh.b64(k.pub));
}

async function register(db) {
  await db.clear();
  const identity = await x3dh.newIdentity();
  const spk = await x3dh.newX25519();
  const signature = await x3dh.signPrekey(identity, spk.pub);
  const prekeys = await makePrekeys(db, BATCH);
  const r = await call('POST', '/api/devices', {
    name: deviceLabel(), identity_key: x3dh.b64(identity.pub),
    signed_prekey: { key: x3dh.b64(spk.pub), signature: x3dh.b64(signature) }, one_time_prekeys: prekeys,
  });
  const dev = { id: r.device.id, identity, spk, spkAt: Date.now(), oldSpks: [] };
  await db.put('meta', 'device', dev);
  return dev;
}

/** A new signed prekey once a week (PUT .../signed_prekey); the replaced one still opens
 * the messages of senders who fetched it, for 30 days. */
async function rotate(db, dev) {
  const spk = await x3dh.newX25519();
  const signature = await x3dh.signPrekey(dev.identity, spk.pub);
  await call('PUT', `/api/devices/${encodeURIComponent(dev.id)}/signed_prekey`,
    { key: x3dh.b64(spk.pub), signature: x3dh.b64(signature) });
  const now = Date.now();
  const oldSpks = [{ ...dev.spk, until: now + SPK_KEEP_MS }, ...(dev.oldSpks || []).filter((k) => k.until > now)]
    .slice(0, SPK_OLD_MAX);
  const next = { ...dev, spk, spkAt: now, oldSpks };
  await db.put('meta', 'device', next);
  return next;
}

/** This browser's device, registered on first use; checked once a page load against
 * the server (a device removed elsewhere starts over with new keys). */
async function setup(s) {
  s.db = await openKeystore(s.userId);
  const work = async () => {
    let dev = await s.db.get('meta', 'device');
    if (dev) {
      const { devices } = await call('GET', '/api/devices');
      const mine = devices.find((d) => d.id === dev.id);
      if (!mine || mine.identity_key !== x3dh.b64(dev.identity.pub)) dev = null;
      else {
        if (mine.one_time_prekeys < 10) replenish(s, dev, mine.one_time_prekeys);
        if (Date.now() - (dev.spkAt || 0) > SPK_ROTATE_MS) dev = await rotate(s.db, dev).catch(() => dev);
      }
    }
    if (!dev) dev = await register(s.db);
    s.out = await s.db.all('out');
    return dev;
  };
  // Two tabs of one profile must not both register.
  const locks = globalThis.navigator && navigator.locks;
  return locks ? locks.request(`parley-e2e:${s.userId}`, work) : work();
}

/** This browser's device ({id, identity, spk}), registering it on first use. */
export function device() {
  const s = current();
  if (!s.dev) {
    s.dev = setup(s);
    s.dev.catch(() => { if (state === s) s.dev = null; }); // the next use tries again
  }
  return s.dev;
}

/** Uploads one-time prekeys up to BATCH (one upload at a time). The frames of the fetches
 * that raced an upload name counts from before it: they are let pass for a while. */
function replenish(s, dev, remaining) {
  if (s.replenishing) return s.replenishing;
  if (Date.now() - s.toppedAt < TOPPED_MS) return Promise.resolve();
  const n = Math.max(1, Math.min(BATCH, BATCH - (remaining || 0)));
  s.replenishing = makePrekeys(s.db, n)
    .then((keys) => call('POST', `/api/devices/${encodeURIComponent(dev.id)}/prekeys`, { one_time_prekeys: keys }))
    .then(() => { s.toppedAt = Date.now(); })
    .catch(() => {}) // the next keys.low asks again
    .finally(() => { s.replenishing = null; });
  return s.replenishing;
}

/** A `keys.low` frame: this browser's device uploads more one-time prekeys. */
export async function onKeysLow(f) {
  if (!state || !state.dev) return;
  const s = state;
  const dev = await s.dev;
  if (f.device_id === dev.id) await replenish(s, dev, f.remaining);
}

/**
 * The devices of a user ({device id -> identity key}), from their bundles; a device
 * without a sending session gets one from its bundle (X3DH, using its one-time prekey),
 * and sessions of devices no longer listed are dropped. Fetched at most once a minute
 * per user (each fetch takes a one-time prekey of every device).
 */
async function devicesOf(s, dev, userId, force = false) {
  const known = s.users.get(userId);
  if (known && !force && Date.now() - known.at < DEVICES_TTL_MS && known.keys.size) return known.keys;
  const { bundles } = await call('GET', `/api/users/${encodeURIComponent(userId)}/keys`);
  const keys = new Map();
  for (const b of bundles) {
    keys.set(b.device_id, b.identity_key);
    if (b.device_id === dev.id) continue;
    const have = s.out.get(b.device_id);
    if (have && have.ik === b.identity_key) continue;
    try {
      const ses = await x3dh.initiate(dev.identity, b);
      const rec = { ...ses, ik: b.identity_key, userId };
      await s.db.put('out', b.device_id, rec);
      s.out.set(b.device_id, rec);
    } catch {
      keys.delete(b.device_id); // a bundle that does not verify gets nothing sealed for it
    }
  }
  for (const [id, rec] of [...s.out]) {
    if (rec.userId === userId && !keys.has(id)) {
      s.out.delete(id);
      await s.db.del('out', id);
    }
  }
  s.users.set(userId, { at: Date.now(), keys });
  return keys;
}

/** The identity keys of a user's devices as the directory lists them. */
export async function identityKeys(userId, force = false) {
  const s = current();
  const dev = await device();
  return devicesOf(s, dev, userId, force);
}

/**
 * Seals `text` for every device of the conversation's other user and this user's other
 * devices, and posts it. Resolves with the stored message; rejects with a readable error.
 */
export async function sendSecret(conv, text) {
  const s = current();
  const dev = await device();
  const peer = store.peer(conv);
  if (!peer) throw new Error('This secret chat has no other participant.');
  const theirs = await devicesOf(s, dev, peer.id);
  if (!theirs.size) {
    s.users.delete(peer.id); // ask again next time
    throw new Error(`${peer.name || 'They'} cannot receive secret messages yet: no device of theirs has keys. They get them when they next open Parley in a browser.`);
  }
  const mine = await devicesOf(s, dev, s.userId);
  const ciphertexts = {};
  for (const id of [...theirs.keys(), ...mine.keys()]) {
    const ses = s.out.get(id);
    if (!ses || id === dev.id) continue;
    ciphertexts[id] = await x3dh.seal(ses, text);
    if (ciphertexts[id].length > CIPHERTEXT_MAX) throw new Error('This message is too long for a secret chat: shorten it or split it.');
  }
  const p = (async () => {
    const r = await call('POST', `/api/conversations/${encodeURIComponent(conv.id)}/messages`,
      { ciphertexts, client_id: client.newClientId() });
    await s.db.put('sent', r.message.id, text);
    s.memo.set(r.message.id, Promise.resolve({ text }));
    return r.message;
  })();
  s.sending.add(p);
  try {
    const m = await p;
    store.onMessage(m, { fromSelf: true });
    return m;
  } finally {
    s.sending.delete(p);
  }
}

/**
 * Throws 'stranger' unless `ik` is the identity key of one of the sender's devices in the
 * directory (else the server could write as anyone with keys of its own): the cached
 * list first, then one fresh fetch per user every 10 s at most. 'unchecked': the
 * directory could not be asked.
 */
async function checkSender(s, dev, userId, ik) {
  const has = (keys) => [...keys.values()].includes(ik);
  try {
    if (has(await devicesOf(s, dev, userId))) return;
    if (Date.now() - (s.forced.get(userId) || 0) < FORCE_MS) throw new Error('stranger');
    s.forced.set(userId, Date.now());
    if (has(await devicesOf(s, dev, userId, true))) return;
  } catch (e) {
    throw e && e.message === 'stranger' ? e : new Error('unchecked');
  }
  throw new Error('stranger');
}

async function decrypt(s, dev, m) {
  const mine = s.userId === m.sender_id;
  const blob = m.ciphertexts && m.ciphertexts[dev.id];
  if (!blob) {
    if (mine) {
      await Promise.allSettled([...s.sending]);
      const text = await s.db.get('sent', m.id);
      if (text != null) return { text };
      return { error: 'Sent from another of your devices, not encrypted for this browser' };
    }
    return { error: 'Not encrypted for this browser (sent before it had keys)' };
  }
  let env;
  try {
    env = x3dh.envelope(blob);
  } catch {
    return { error: 'Encrypted in a format this browser does not read' };
  }
  // One at a time: two messages of one new session must not both spend its prekey.
  const run = s.queue.then(async () => {
    const held = await s.db.get('in', env.h.ek);
    if (held) {
      const text = await x3dh.open(held, env);
      if (!held.checked) {
        await checkSender(s, dev, m.sender_id, env.h.ik);
        await s.db.put('in', env.h.ek, { ...held, checked: true });
      }
      return text;
    }
    const spk = !env.h.spk || env.h.spk === x3dh.b64(dev.spk.pub) ? dev.spk
      : (dev.oldSpks || []).find((k) => x3dh.b64(k.pub) === env.h.spk);
    if (!spk) throw new Error('spk');
    let opk = null;
    if (env.h.opk) {
      opk = await s.db.get('prekeys', env.h.opk);
      if (!opk) throw new Error('opk');
    }
    const ses = await x3dh.respond(dev.identity, spk.priv, opk, env.h);
    const text = await x3dh.open(ses, env); // authentic before a prekey is spent on it
    let checked = true;
    try {
      await checkSender(s, dev, m.sender_id, env.h.ik);
    } catch (e) {
      if (e.message !== 'unchecked') throw e;
      checked = false; // the directory did not answer: kept, checked at the next reading
    }
    await s.db.put('in', env.h.ek, { key: ses.key, ad: ses.ad, ik: env.h.ik, checked });
    if (env.h.opk) await s.db.del('prekeys', env.h.opk);
    if (!checked) throw new Error('unchecked');
    return text;
  });
  s.queue = run.catch(() => {});
  try {
    return { text: await run, ik: env.h.ik };
  } catch (e) {
    if (e && e.message === 'opk') return { error: 'Cannot be decrypted: its one-time key was already used or is unknown here' };
    if (e && e.message === 'unchecked') return { error: 'Not shown yet: the sender’s keys could not be checked', retry: true };
    if (e && e.message === 'stranger') return { error: `Not shown: sealed with a key that is not one of ${store.userName(m.sender_id)}’s devices` };
    if (e && e.message === 'spk') return { error: 'Cannot be decrypted: sealed for a key this browser does not hold' };
    return { error: 'Cannot be decrypted: it does not authenticate with this browser’s keys' };
  }
}

/** A secret message's plaintext as {text} or {error} (never throws); one attempt per id. */
export function readSecret(m) {
  let s;
  try {
    s = current();
  } catch {
    return Promise.resolve({ error: 'Not logged in' });
  }
  if (!s.memo.has(m.id)) {
    const p = device().then((dev) => decrypt(s, dev, m))
      .catch((e) => ({ error: `This browser has no keys for secret chats: ${(e && e.message) || 'setup failed'}`, retry: true }));
    s.memo.set(m.id, p);
    // Bounded: the oldest readings go first (IndexedDB keeps what reading them again needs).
    if (s.memo.size > MEMO_MAX) s.memo.delete(s.memo.keys().next().value);
    p.then((r) => { if (r.retry) s.memo.delete(m.id); });
  }
  return s.memo.get(m.id);
}

/** The safety number of this user and `peerId` (12 groups of 5 digits), with the keys
 * it was made of: {number, mine: [{id, name, key}], theirs: [{id, key}], device}. */
export async function safety(peerId) {
  const s = current();
  const dev = await device();
  const [{ devices }, theirs] = await Promise.all([call('GET', '/api/devices'), devicesOf(s, dev, peerId, true)]);
  const mine = devices.map((d) => ({ id: d.id, name: d.name, key: d.identity_key }));
  const theirList = [...theirs].map(([id, key]) => ({ id, key }));
  const number = await x3dh.safetyNumber({ userId: s.userId, keys: mine.map((d) => d.key) },
    { userId: peerId, keys: theirList.map((d) => d.key) });
  return { number, mine, theirs: theirList, device: dev.id };
}

/** Opens (or finds) the secret chat with a user; this browser gets its keys on the way. */
export async function startSecret(userId) {
  await device();
  const r = await call('POST', '/api/conversations', { type: 'secret', participant_id: userId });
  return r.conversation;
}

client.on('keys.low', (f) => { onKeysLow(f).catch(() => {}); });

// First use is also having a secret chat in the list: this browser gets its keys without
// the chat being opened, so the other user can write to it. Looked for at most once a
// second; a setup that failed is not retried from here for a minute.
let looked = 0;
let lookTimer = null;
function lookForSecret() {
  const me = store.me && store.me.id;
  if (!me || (state && state.userId === me && (state.dev || Date.now() - state.failedAt < 60000))) return;
  const wait = looked + 1000 - Date.now();
  if (wait > 0) {
    if (!lookTimer) lookTimer = setTimeout(() => { lookTimer = null; lookForSecret(); }, wait);
    return;
  }
  looked = Date.now();
  for (const c of store.convs.values()) {
    if (c.type !== 'secret') continue;
    device().catch(() => { if (state) state.failedAt = Date.now(); });
    return;
  }
}
store.subscribe(lookForSecret);
