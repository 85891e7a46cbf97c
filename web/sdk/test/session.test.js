import { Clock, FakeServer, Locks, StorageHub, fakeOptions, flush } from './fakes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParleyClient, ParleyError } from '../parley.js';

async function twoTabs({ locks, clock = null, delay }) {
  const hub = new StorageHub();
  const server = new FakeServer({ delay });
  const a = new ParleyClient(fakeOptions({ server, tab: hub.tab(), locks, clock }));
  const b = new ParleyClient(fakeOptions({ server, tab: hub.tab(), locks, clock }));
  await a.login({ email: 'ann@example.com', password: 'correct horse' });
  await flush();
  return { hub, server, a, b };
}

test('a login is seen by another tab and survives a reload', async () => {
  const { hub, server, a, b } = await twoTabs({ locks: new Locks() });
  assert.equal(a.user.id, 'u1');
  assert.equal(b.user.id, 'u1');
  const reloaded = new ParleyClient(fakeOptions({ server, tab: hub.tab() }));
  assert.equal(reloaded.loggedIn, true);
});

test('two tabs refreshing at once with navigator.locks: one refresh, both get its tokens', async () => {
  const wait = () => new Promise((r) => setTimeout(r, 20));
  const locks = new Locks();
  const { server, a, b } = await twoTabs({ locks, delay: wait });
  const events = [];
  a.on('logout', (e) => events.push(e));
  b.on('logout', (e) => events.push(e));
  const results = await Promise.all([a.refresh(), b.refresh(), a.refresh(), b.refresh()]);
  assert.equal(results.length, 4);
  assert.equal(server.count('/api/auth/refresh'), 1);
  assert.equal(server.revoked, false);
  assert.equal(a._session.get().access_token, 'at2');
  assert.equal(b._session.get().access_token, 'at2');
  assert.deepEqual(events, []);
  assert.ok(locks.granted >= 2);
});

test('without navigator.locks a storage lease keeps the refresh single too', async () => {
  const wait = () => new Promise((r) => setTimeout(r, 30));
  const { server, a, b } = await twoTabs({ locks: null, delay: wait });
  const ends = [];
  a.on('logout', (e) => ends.push(e));
  b.on('logout', (e) => ends.push(e));
  await Promise.all([a.refresh(), b.refresh()]);
  assert.equal(server.count('/api/auth/refresh'), 1);
  assert.equal(server.revoked, false);
  assert.equal(b._session.get().refresh_token, a._session.get().refresh_token);
  // The lease is gone afterwards, and the next refresh works from either tab.
  await b.refresh();
  assert.equal(server.count('/api/auth/refresh'), 2);
  assert.equal(a._session.get().access_token, 'at3');
  assert.deepEqual(ends, []);
});

test('the same without the single flight would revoke the login (the fake server is strict)', async () => {
  const server = new FakeServer();
  const s = server.session();
  const r1 = await server.fetch('/api/auth/refresh', { method: 'POST', headers: {}, body: JSON.stringify({ refresh_token: s.refresh_token }) });
  const r2 = await server.fetch('/api/auth/refresh', { method: 'POST', headers: {}, body: JSON.stringify({ refresh_token: s.refresh_token }) });
  assert.equal(r1.status, 200);
  assert.equal(r2.status, 401);
  assert.equal(server.revoked, true);
});

test('REST calls in two tabs racing an expired token: one refresh', async () => {
  const wait = () => new Promise((r) => setTimeout(r, 5));
  const { server, a, b } = await twoTabs({ locks: new Locks(), delay: wait });
  server.route('GET', '/api/conversations', () => ({ body: { conversations: [], next_cursor: null } }));
  server.validAccess.clear(); // the server considers at1 expired
  const out = await Promise.all([a.listConversations(), b.listConversations(), a.listConversations()]);
  assert.equal(out.length, 3);
  assert.equal(server.count('/api/auth/refresh'), 1);
  assert.equal(server.revoked, false);
});

test('a refresh answered 401 ends the session in every tab', async () => {
  const { server, a, b } = await twoTabs({ locks: new Locks() });
  server.live.clear();
  const seen = [];
  a.on('logout', (e) => seen.push(['a', e.reason]));
  b.on('logout', (e) => seen.push(['b', e.reason]));
  await assert.rejects(a.refresh(), (e) => e instanceof ParleyError && e.status === 401);
  await flush();
  assert.equal(a.loggedIn, false);
  assert.equal(b.loggedIn, false);
  assert.deepEqual(seen.sort(), [['a', 'refresh_failed'], ['b', 'elsewhere']]);
});

test('a refresh that fails on the network keeps the session', async () => {
  const server = new FakeServer();
  const clock = new Clock();
  const c = new ParleyClient(fakeOptions({ server, clock }));
  await c.login({ email: 'a@b.c', password: 'x'.repeat(8) });
  server.fetch = async () => {
    throw new TypeError('offline');
  };
  c._fetch = server.fetch;
  await assert.rejects(c.refresh(), (e) => e.code === 'network' && e.status === 0);
  assert.equal(c.loggedIn, true);
});

test('logout in one tab logs the other out', async () => {
  const { a, b } = await twoTabs({ locks: new Locks() });
  const seen = [];
  b.on('logout', (e) => seen.push(e.reason));
  await a.logout();
  await flush();
  assert.equal(b.loggedIn, false);
  assert.deepEqual(seen, ['elsewhere']);
});
