import { Clock, FakeServer, Locks, SocketHub, StorageHub, fakeOptions, flush } from './fakes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParleyClient, ParleyError } from '../parley.js';

const msg = (conv, seq, text = `m${seq}`) => ({ id: `${conv}-${seq}`, conversation_id: conv, seq, text, sender_id: 'u2' });

async function setup(extra = {}) {
  const clock = new Clock();
  const server = new FakeServer(extra.server);
  const sockets = new SocketHub();
  const hub = new StorageHub();
  const client = new ParleyClient(fakeOptions({ clock, server, sockets, tab: hub.tab(), locks: new Locks(),
    random: () => 0.5, pingIntervalMs: 0, ...extra.options }));
  await client.login({ email: 'ann@example.com', password: 'correct horse' });
  const events = [];
  for (const t of ['message.new', 'message.ack', 'state', 'ready', 'logout', 'typing', 'error'])
    client.on(t, (d) => events.push([t, d]));
  return { clock, server, sockets, hub, client, events };
}

/* Accepts the socket the client just opened: checks the auth frame, answers ready. */
async function accept(sockets, token) {
  await flush();
  const ws = sockets.last;
  ws.open();
  assert.deepEqual(ws.sent[0], { type: 'auth', token });
  ws.frame({ type: 'ready', user_id: 'u1', session_id: `s${sockets.sockets.length}` });
  await flush();
  return ws;
}

const delivered = (events) => events.filter(([t]) => t === 'message.new').map(([, d]) => [d.message.conversation_id, d.message.seq]);

test('the socket authenticates by its first frame, never in the URL', async () => {
  const { client, sockets, events } = await setup();
  client.connect();
  const ws = await accept(sockets, 'at1');
  assert.equal(ws.url, 'ws://parley.test/ws');
  assert.equal(client.state, 'open');
  assert.ok(events.some(([t, d]) => t === 'ready' && d.reconnected === false));
});

test('after a reconnect, sync recovers each conversation in order, without duplicates', async () => {
  const { client, sockets, clock, events } = await setup();
  client.connect();
  let ws = await accept(sockets, 'at1');
  client.track('c1', 3);
  ws.frame({ type: 'message.new', message: msg('c2', 7) }); // untracked: tracked from here
  ws.frame({ type: 'message.new', message: msg('c1', 4) });
  ws.frame({ type: 'message.new', message: msg('c1', 4) }); // a repeat is dropped
  ws.serverClose(1006);
  await flush();
  assert.equal(client.state, 'reconnecting');
  await clock.tick(1000);
  ws = await accept(sockets, 'at1');
  const syncs = ws.frames('sync');
  assert.deepEqual(syncs.map((s) => [s.conversation_id, s.after_seq]).sort(), [['c1', 4], ['c2', 7]]);
  // A live message overtakes the sync's answer: it waits until the sync ends.
  ws.frame({ type: 'message.new', message: msg('c1', 8) });
  ws.frame({ type: 'sync.result', conversation_id: 'c1', messages: [msg('c1', 6), msg('c1', 5)], has_more: true });
  await flush();
  const more = ws.frames('sync').filter((s) => s.conversation_id === 'c1');
  assert.deepEqual(more.map((s) => s.after_seq), [4, 6]);
  ws.frame({ type: 'sync.result', conversation_id: 'c1', messages: [msg('c1', 7), msg('c1', 8)], has_more: false });
  ws.frame({ type: 'sync.result', conversation_id: 'c2', messages: [], has_more: false });
  ws.frame({ type: 'message.new', message: msg('c1', 9) });
  ws.frame({ type: 'message.new', message: msg('c1', 8) });
  assert.deepEqual(delivered(events), [['c2', 7], ['c1', 4], ['c1', 5], ['c1', 6], ['c1', 7], ['c1', 8], ['c1', 9]]);
  const recovered = events.filter(([t, d]) => t === 'message.new' && d.recovered).map(([, d]) => d.message.seq);
  assert.deepEqual(recovered, [5, 6, 7, 8]);
  assert.equal(client.lastSeq('c1'), 9);
  assert.ok(events.some(([t, d]) => t === 'ready' && d.reconnected === true));
});

test('a gap in live messages is filled by a sync before anything after it is shown', async () => {
  const { client, sockets, events } = await setup();
  client.connect();
  const ws = await accept(sockets, 'at1');
  client.track('c1', 10);
  ws.frame({ type: 'message.new', message: msg('c1', 13) });
  await flush();
  assert.deepEqual(ws.frames('sync').map((s) => s.after_seq), [10]);
  assert.deepEqual(delivered(events), []);
  ws.frame({ type: 'sync.result', conversation_id: 'c1', messages: [msg('c1', 11), msg('c1', 12), msg('c1', 13)], has_more: false });
  assert.deepEqual(delivered(events), [['c1', 11], ['c1', 12], ['c1', 13]]);
});

test('recovering many conversations stays under the server frame rate', async () => {
  const { client, sockets, clock } = await setup({ options: { frameRate: 10, frameBurst: 20 } });
  for (let i = 0; i < 100; i++) client.track(`c${i}`, i);
  client.connect();
  const ws = await accept(sockets, 'at1');
  assert.equal(ws.sent.length, 20); // the auth frame and 19 syncs: the burst
  await clock.tick(1000);
  assert.equal(ws.sent.length, 30);
  await clock.tick(8000);
  assert.equal(ws.frames('sync').length, 100);
  assert.deepEqual(ws.frames('sync').map((s) => s.after_seq), [...Array(100).keys()]);
});

test('an unacknowledged send goes again after reconnect with the same client_id, resolved once', async () => {
  const { client, sockets, clock, events } = await setup();
  client.connect();
  let ws = await accept(sockets, 'at1');
  const p = client.send('c1', 'hello', { clientId: 'cid-1' });
  const offline = client.send('c1', 'second');
  await flush();
  assert.deepEqual(ws.frames('message.send').map((f) => f.client_id).slice(0, 1), ['cid-1']);
  ws.serverClose(1006);
  await flush();
  assert.deepEqual(client.pendingSends().length, 2);
  await clock.tick(1000);
  ws = await accept(sockets, 'at1');
  const resent = ws.frames('message.send');
  assert.equal(resent.length, 2);
  assert.equal(resent[0].client_id, 'cid-1');
  assert.equal(resent[0].text, 'hello');
  assert.notEqual(resent[1].client_id, 'cid-1');
  const stored = { ...msg('c1', 1, 'hello'), client_id: 'cid-1', sender_id: 'u1' };
  ws.frame({ type: 'message.ack', client_id: 'cid-1', message: stored });
  ws.frame({ type: 'message.ack', client_id: 'cid-1', message: stored }); // a duplicate ack
  assert.deepEqual(await p, stored);
  assert.deepEqual(client.pendingSends(), [resent[1].client_id]);
  assert.equal(events.filter(([t]) => t === 'message.ack').length, 2);
  ws.frame({ type: 'error', code: 'validation_failed', message: 'text too long', ref: resent[1].client_id });
  await assert.rejects(offline, (e) => e instanceof ParleyError && e.code === 'validation_failed' && e.status === 400);
  assert.deepEqual(client.pendingSends(), []);
});

test('a send refused as rate_limited is repeated with the same id', async () => {
  const { client, sockets, clock } = await setup({ options: { retryDelayMs: 2000 } });
  client.connect();
  const ws = await accept(sockets, 'at1');
  const p = client.send('c1', 'hi', { clientId: 'x' });
  await flush();
  ws.frame({ type: 'error', code: 'rate_limited', message: 'slow down', ref: 'x' });
  await clock.tick(1999);
  assert.equal(ws.frames('message.send').length, 1);
  await clock.tick(1);
  assert.deepEqual(ws.frames('message.send').map((f) => f.client_id), ['x', 'x']);
  ws.frame({ type: 'message.ack', client_id: 'x', message: msg('c1', 1) });
  assert.equal((await p).seq, 1);
});

test('the token is renewed on the open socket before it expires', async () => {
  const { client, sockets, clock, server } = await setup({ options: { renewBeforeMs: 60000 } });
  client.connect();
  const ws = await accept(sockets, 'at1');
  await clock.tick(839_000); // expires_in is 900 s: renewal is due at 840 s
  assert.equal(ws.frames('auth').length, 1);
  assert.equal(server.count('/api/auth/refresh'), 0);
  await clock.tick(1000);
  const auth = ws.frames('auth');
  assert.equal(auth.length, 2);
  assert.equal(auth[1].token, 'at2');
  assert.equal(server.count('/api/auth/refresh'), 1);
  ws.frame({ type: 'auth.ok', expires_at: new Date(clock.t + 900_000).toISOString() });
  await clock.tick(20_000); // past the reply timeout: nothing happens, the socket stays
  assert.equal(sockets.sockets.length, 1);
  assert.equal(client.state, 'open');
  await clock.tick(819_000); // the next renewal: 840 s after the first
  assert.equal(ws.frames('auth').length, 2);
  await clock.tick(1000);
  assert.deepEqual(ws.frames('auth').map((f) => f.token), ['at1', 'at2', 'at3']);
});

test('a server without renewal (error reply) gets a new socket with the fresh token', async () => {
  const { client, sockets, clock } = await setup();
  client.connect();
  const ws = await accept(sockets, 'at1');
  await clock.tick(840_000);
  const renew = ws.frames('auth')[1];
  ws.frame({ type: 'error', code: 'already_authenticated', message: 'already', ref: renew.client_id });
  await flush();
  assert.equal(ws.closed.by, 'client');
  assert.equal(sockets.sockets.length, 2);
  await accept(sockets, 'at2');
  assert.equal(client.state, 'open');
});

test('a renewal that gets no reply at all also ends in a new socket', async () => {
  const { client, sockets, clock } = await setup({ options: { replyTimeoutMs: 10000 } });
  client.connect();
  await accept(sockets, 'at1');
  await clock.tick(840_000);
  await clock.tick(9_000);
  assert.equal(sockets.sockets.length, 1);
  await clock.tick(1_000);
  assert.equal(sockets.sockets.length, 2);
  await accept(sockets, 'at2');
});

test('close 4001: refresh, then reconnect with the new token', async () => {
  const { client, sockets, clock, server } = await setup();
  client.connect();
  const ws = await accept(sockets, 'at1');
  ws.serverClose(4001, 'token expired');
  await flush();
  assert.equal(server.count('/api/auth/refresh'), 1);
  await clock.tick(1000);
  await accept(sockets, 'at2');
  assert.equal(client.state, 'open');
});

test('close 4003: logged out, never reconnects', async () => {
  const { client, sockets, clock, events, hub } = await setup();
  client.connect();
  const ws = await accept(sockets, 'at1');
  const pending = assert.rejects(client.send('c1', 'never'), (e) => e.code === 'logged_out');
  ws.serverClose(4003, 'login ended');
  await clock.tick(600_000);
  assert.equal(sockets.sockets.length, 1);
  assert.equal(client.state, 'closed');
  assert.equal(client.loggedIn, false);
  assert.equal(hub.data.size, 0);
  assert.deepEqual(events.filter(([t]) => t === 'logout').map(([, d]) => d.reason), ['ended']);
  await pending;
});

test('reconnect delays back off with jitter and reset after ready', async () => {
  const { client, sockets, clock, events } = await setup({ options: { backoff: { baseMs: 1000, maxMs: 8000 } } });
  client.connect();
  await accept(sockets, 'at1');
  for (let i = 0; i < 6; i++) {
    sockets.last.serverClose(1006);
    await flush();
  }
  // (each close after the first arrives on a socket already let go: only one counts)
  const delays = [];
  for (let i = 0; i < 5; i++) {
    const st = events.filter(([t, d]) => t === 'state' && d.state === 'reconnecting').at(-1)[1];
    delays.push(st.delayMs);
    await clock.tick(st.delayMs);
    assert.equal(sockets.sockets.length, i + 2);
    sockets.last.serverClose(1006);
    await flush();
  }
  // random() is 0.5: three quarters of each cap.
  assert.deepEqual(delays, [750, 1500, 3000, 6000, 6000]);
  const st = events.filter(([t, d]) => t === 'state' && d.state === 'reconnecting').at(-1)[1];
  await clock.tick(st.delayMs);
  await accept(sockets, 'at1');
  sockets.last.serverClose(1006);
  await flush();
  assert.equal(events.filter(([t]) => t === 'state').at(-1)[1].delayMs, 750);
});

test('a token refreshed by another tab is handed to this tab\'s socket', async () => {
  const clock = new Clock();
  const server = new FakeServer();
  const sockets = new SocketHub();
  const hub = new StorageHub();
  const locks = new Locks();
  const opts = (tab) => fakeOptions({ clock, server, sockets, tab, locks, pingIntervalMs: 0 });
  const a = new ParleyClient(opts(hub.tab()));
  const b = new ParleyClient(opts(hub.tab()));
  await a.login({ email: 'ann@example.com', password: 'correct horse' });
  await flush();
  b.connect();
  const ws = await accept(sockets, 'at1');
  await a.refresh();
  await flush();
  assert.deepEqual(ws.frames('auth').map((f) => f.token), ['at1', 'at2']);
  ws.frame({ type: 'auth.ok', expires_at: '' });
  await clock.tick(840_000); // b's renewal: a new refresh, still one at a time
  assert.equal(server.count('/api/auth/refresh'), 2);
  assert.equal(server.revoked, false);
});

test('typing is dropped while offline, read falls back to REST', async () => {
  const { client, sockets, server } = await setup();
  let read = null;
  server.route('POST', '/api/conversations/c1/read', ({ body }) => {
    read = body;
    return { status: 204 };
  });
  assert.equal(client.typing('c1', 'start'), false);
  await client.markRead('c1', 5);
  assert.deepEqual(read, { seq: 5 });
  client.connect();
  const ws = await accept(sockets, 'at1');
  assert.equal(client.typing('c1', 'start'), true);
  await client.markRead('c1', 6);
  assert.deepEqual(ws.frames('typing'), [{ type: 'typing', conversation_id: 'c1', state: 'start' }]);
  assert.deepEqual(ws.frames('read'), [{ type: 'read', conversation_id: 'c1', seq: 6 }]);
});

test('a socket that goes silent is replaced; pings keep a live one', async () => {
  const { client, sockets, clock } = await setup({ options: { pingIntervalMs: 25000 } });
  client.connect();
  const ws = await accept(sockets, 'at1');
  await clock.tick(25000);
  assert.equal(ws.frames('ping').length, 1);
  ws.frame({ type: 'pong' });
  await clock.tick(25000);
  assert.equal(ws.frames('ping').length, 2);
  assert.equal(sockets.sockets.length, 1);
  // No frame at all for more than two intervals: a new socket.
  await clock.tick(50000);
  assert.equal(ws.closed && ws.closed.by, 'client');
  await clock.tick(1000);
  assert.equal(sockets.sockets.length, 2);
});

test('back online: reconnects without waiting for the backoff', async () => {
  const listeners = new Map();
  const windowEvents = {
    addEventListener: (t, fn) => listeners.set(t, fn),
    removeEventListener: (t) => listeners.delete(t),
  };
  const { client, sockets } = await setup({ options: { windowEvents, backoff: { baseMs: 60000, maxMs: 60000 } } });
  client.connect();
  await accept(sockets, 'at1');
  sockets.last.serverClose(1006);
  await flush();
  assert.equal(client.state, 'reconnecting');
  listeners.get('online')();
  await flush();
  assert.equal(sockets.sockets.length, 2);
  await accept(sockets, 'at1');
  client.dispose();
  assert.equal(listeners.size, 0);
});

test('a conversation the user can no longer read stops being synced', async () => {
  const { client, sockets, clock, events } = await setup();
  client.track('gone', 5);
  client.track('c1', 1);
  client.connect();
  let ws = await accept(sockets, 'at1');
  ws.frame({ type: 'error', code: 'not_found', message: 'no such conversation', ref: 'sync:gone' });
  ws.frame({ type: 'sync.result', conversation_id: 'c1', messages: [], has_more: false });
  assert.equal(client.lastSeq('gone'), 0);
  assert.ok(events.some(([t, d]) => t === 'error' && d.ref === 'sync:gone'));
  ws.serverClose(1006);
  await clock.tick(1000);
  ws = await accept(sockets, 'at1');
  assert.deepEqual(ws.frames('sync').map((f) => f.conversation_id), ['c1']);
});

test('rate_limited without a ref repeats what still waits for an answer', async () => {
  const { client, sockets, clock } = await setup({ options: { retryDelayMs: 2000 } });
  client.track('c1', 3);
  client.connect();
  const ws = await accept(sockets, 'at1');
  const p = client.send('c1', 'x', { clientId: 'k' });
  await flush();
  ws.frame({ type: 'error', code: 'rate_limited', message: 'slow down' });
  await clock.tick(2000);
  assert.deepEqual(ws.frames('message.send').map((f) => f.client_id), ['k', 'k']);
  assert.deepEqual(ws.frames('sync').map((f) => f.after_seq), [3, 3]);
  ws.frame({ type: 'sync.result', conversation_id: 'c1', messages: [msg('c1', 4)], has_more: false });
  ws.frame({ type: 'sync.result', conversation_id: 'c1', messages: [msg('c1', 4)], has_more: false });
  ws.frame({ type: 'message.ack', client_id: 'k', message: msg('c1', 5) });
  assert.equal((await p).seq, 5);
  assert.equal(client.lastSeq('c1'), 4);
});

test('bounds: tracked conversations and waiting sends', async () => {
  const { client } = await setup({ options: { maxTracked: 3, maxOutbox: 2 } });
  for (const id of ['a', 'b', 'c']) client.track(id, 1);
  client.track('a', 2); // a is now the most recent
  client.track('d', 1); // b, the least recent, goes
  assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => client.lastSeq(id)), [2, 0, 1, 1]);
  const one = client.send('a', '1');
  const two = client.send('a', '2');
  await assert.rejects(client.send('a', '3'), (e) => e.code === 'outbox_full');
  assert.equal(client.pendingSends().length, 2);
  const ends = Promise.allSettled([one, two]);
  await client.logout();
  assert.deepEqual((await ends).map((r) => r.reason.code), ['logged_out', 'logged_out']);
});

test('presence: a batch arrives as single changes in order; the snapshot never undoes a later change', async () => {
  const { client, sockets } = await setup();
  const changes = [];
  const snapshots = [];
  client.on('presence', (f) => changes.push([f.user_id, f.status, f.last_seen]));
  client.on('presence.snapshot', (f) => snapshots.push(f.users));
  client.connect();
  const ws = await accept(sockets, 'at1');
  ws.frame({ type: 'presence', user_id: 'u2', status: 'away', last_seen: null });
  ws.frame({ type: 'presence.batch', users: [
    { user_id: 'u3', status: 'dnd', last_seen: null },
    { user_id: 'u4', status: 'offline', last_seen: '2026-12-01T10:00:00.000Z' },
    { user_id: 'u3', status: 'online', last_seen: null },
  ] });
  // Computed before those changes: u2's and u3's entries are stale, u5's is news.
  ws.frame({ type: 'presence.snapshot', users: [
    { user_id: 'u2', status: 'offline', last_seen: null },
    { user_id: 'u3', status: 'offline', last_seen: null },
    { user_id: 'u5', status: 'online', last_seen: null },
  ] });
  await flush();
  assert.deepEqual(changes, [['u2', 'away', null], ['u3', 'dnd', null],
    ['u4', 'offline', '2026-12-01T10:00:00.000Z'], ['u3', 'online', null]]);
  assert.deepEqual(snapshots, [[{ user_id: 'u5', status: 'online', last_seen: null }]]);
});

test('presence(ids) asks in calls of at most 1,000 ids', async () => {
  const seen = [];
  const { client, server } = await setup();
  server.route('GET', '/api/presence', ({ query }) => {
    const ids = query.get('user_ids').split(',');
    seen.push(ids.length);
    return { status: 200, body: { users: ids.map((id) => ({ user_id: id, status: 'offline', last_seen: null })) } };
  });
  const ids = Array.from({ length: 2500 }, (_, i) => i.toString(16).padStart(24, '0'));
  const got = await client.presence([...ids, ids[0]]);
  assert.deepEqual(seen, [1000, 1000, 500]);
  assert.equal(got.length, 2500);
});

test('a send keeps its quote and mentions, after a reconnect too; delivered goes as a frame', async () => {
  const { client, sockets, clock } = await setup();
  client.connect();
  let ws = await accept(sockets, 'at1');
  client.send('c1', '@b yes', { clientId: 'q1', replyTo: 'm9', mentions: ['u2'] });
  client.send('c1', 'plain', { clientId: 'q2' });
  await flush();
  const [first, second] = ws.frames('message.send');
  assert.equal(first.reply_to, 'm9');
  assert.deepEqual(first.mentions, ['u2']);
  assert.ok(!('reply_to' in second) && !('mentions' in second));
  await client.markDelivered('c1', 5);
  await flush();
  assert.deepEqual(ws.frames('delivered').at(-1), { type: 'delivered', conversation_id: 'c1', seq: 5 });
  ws.serverClose(1006);
  await flush();
  await clock.tick(1000);
  ws = await accept(sockets, 'at1');
  const again = ws.frames('message.send').find((f) => f.client_id === 'q1');
  assert.equal(again.reply_to, 'm9');
  assert.deepEqual(again.mentions, ['u2']);
});

test('user.updated about the user updates client.user at once; about others it does not', async () => {
  const { client, sockets } = await setup();
  client.connect();
  const ws = await accept(sockets, 'at1');
  let seen = null;
  client.on('user.updated', () => { seen = client.user.name; });
  ws.frame({ type: 'user.updated', user: { id: 'u2', name: 'Someone', avatar_url: null } });
  await flush();
  assert.equal(client.user.name, 'Ann');
  ws.frame({ type: 'user.updated', user: { id: 'u1', name: 'Ann B', avatar_url: '/api/attachments/a/thumbnail?a=u1&exp=9&sig=0' } });
  await flush();
  assert.equal(client.user.name, 'Ann B');
  assert.equal(seen, 'Ann B'); // the handler registered first ran first
  assert.equal(client.user.email, 'ann@example.com');
  assert.match(client.user.avatar_url, /a=u1/);
  assert.equal(client.state, 'open');
});
