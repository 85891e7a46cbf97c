import { FakeServer, fakeOptions } from './fakes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParleyClient, ParleyError } from '../parley.js';

test('Node 18 has none of the browser globals, and the tests see none', () => {
  for (const name of ['crypto', 'WebSocket', 'localStorage', 'navigator'])
    assert.equal(globalThis[name], undefined, name);
});

test('a client built with no injection at all works without those globals', async () => {
  const c = new ParleyClient({ baseUrl: 'http://parley.test', fetch: new FakeServer().fetch });
  const ids = new Set(Array.from({ length: 1000 }, () => c.newClientId()));
  assert.equal(ids.size, 1000);
  const user = await c.login({ email: 'ann@example.com', password: 'correct horse' });
  assert.equal(user.id, 'u1');
  c.connect(); // no WebSocket: it reconnects later rather than throwing
  assert.equal(c.state, 'reconnecting');
  c.disconnect();
  assert.equal(c.state, 'closed');
});

test('errors carry the envelope: code, field, node_id, Retry-After', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  server.route('POST', '/api/flows', () => ({ status: 400, body: { error: { code: 'validation_failed',
    message: 'edge to nowhere', field: 'edges[0].to', node_id: 'n2' } } }));
  server.route('GET', '/api/users/search', () => ({ status: 429, headers: { 'Retry-After': '7' },
    body: { error: { code: 'rate_limited', message: 'slow down' } } }));
  await assert.rejects(c.createFlow({ name: 'x' }), (e) => e instanceof ParleyError && e.status === 400 &&
    e.code === 'validation_failed' && e.field === 'edges[0].to' && e.nodeId === 'n2');
  await assert.rejects(c.searchUsers('a'), (e) => e.status === 429 && e.retryAfter === 7);
});

test('wrappers send the documented method, path, query and body', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  server.route('GET', '/api/conversations/c%201/messages', () => ({ body: { messages: [], has_more: false } }));
  server.route('POST', '/api/flows/f1/test', ({ body }) => ({ body: { trace: [], outputs: [body.text], status: 'completed' } }));
  server.route('DELETE', '/api/messages/m1/reactions/%F0%9F%91%8D', () => ({ status: 204 }));
  server.route('GET', '/api/users/search', ({ query }) => ({ body: { users: [{ id: query.get('q') }] } }));
  await c.listMessages('c 1', { before_seq: 40, limit: 20 });
  const last = server.calls.at(-1);
  assert.equal(last.query, '?limit=20&before_seq=40');
  assert.equal(last.auth, 'Bearer at1');
  assert.deepEqual(await c.testFlow('f1', 'hi'), { trace: [], outputs: ['hi'], status: 'completed' });
  assert.deepEqual(server.calls.at(-1).body, { text: 'hi' });
  assert.equal(await c.unreact('m1', '👍'), undefined);
  assert.deepEqual(await c.searchUsers('a&b=c'), [{ id: 'a&b=c' }]);
  server.route('GET', '/api/search/messages', () => ({ body: { results: [], next_cursor: null } }));
  assert.deepEqual(await c.searchMessages('café au lait', { conversationId: 'c1', limit: 5, cursor: 's1.5' }),
    { results: [], next_cursor: null });
  const q = new URLSearchParams(server.calls.at(-1).query);
  assert.deepEqual([...q], [['q', 'café au lait'], ['conversation_id', 'c1'], ['limit', '5'], ['cursor', 's1.5']]);
});

test('sessions and devices: the device name at login, list, end one, end the others', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1', deviceName: 'Firefox on Linux' });
  assert.equal(server.calls.at(-1).body.device_name, 'Firefox on Linux');
  const listed = [{ id: 'l1', device_name: 'Firefox on Linux', ip: '127.0.0.1', current: true }];
  server.route('GET', '/api/auth/sessions', () => ({ body: { sessions: listed } }));
  server.route('DELETE', '/api/auth/sessions/l%202', () => ({ status: 204 }));
  server.route('DELETE', '/api/auth/sessions', ({ query }) => ({ body: { ended: query.get('others') === 'true' ? 2 : -1 } }));
  assert.deepEqual(await c.listSessions(), listed);
  assert.equal(await c.endSession('l 2'), undefined);
  assert.equal(server.calls.at(-1).method, 'DELETE');
  assert.equal(await c.endOtherSessions(), 2);
});

test('e-mail: a signup that must verify first starts no login; codes and resets', async () => {
  const server = new FakeServer();
  const reply = (status, body) => ({ ok: status < 300, status, headers: { get: (h) => (h === 'content-type' ? 'application/json' : null) },
    json: async () => body, text: async () => JSON.stringify(body) });
  const user = { id: 'u9', email: 'v@example.com', email_verified: false };
  const seen = [];
  const answers = {
    '/api/auth/signup': () => reply(201, { user }),
    '/api/auth/verify-email': (b) => reply(200, { user: { ...user, email_verified: b.code === '123456' } }),
    '/api/auth/verify-email/resend': () => reply(202, {}),
    '/api/auth/password-reset': () => reply(202, {}),
    '/api/auth/password-reset/confirm': () => reply(204, null),
  };
  const opts = fakeOptions({ server });
  const c = new ParleyClient({ ...opts, fetch: (url, init) => {
    const path = new URL(url, 'http://parley.test').pathname;
    if (!answers[path]) return opts.fetch(url, init);
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    seen.push({ path, body, auth: init.headers.Authorization || null });
    return Promise.resolve(answers[path](body));
  } });
  assert.deepEqual(await c.signup({ email: 'v@example.com', password: 'password1', name: 'V' }), user);
  assert.equal(c.loggedIn, false);
  assert.equal((await c.verifyEmail('123456', 'v@example.com')).email_verified, true);
  assert.deepEqual(seen.at(-1), { path: '/api/auth/verify-email', body: { code: '123456', email: 'v@example.com' }, auth: null });
  await c.resendVerification('v@example.com');
  assert.deepEqual(seen.at(-1).body, { email: 'v@example.com' });
  await c.requestPasswordReset('v@example.com');
  assert.deepEqual(seen.at(-1), { path: '/api/auth/password-reset', body: { email: 'v@example.com' }, auth: null });
  assert.equal(await c.confirmPasswordReset('ABCD', 'new password'), undefined);
  assert.deepEqual(seen.at(-1).body, { code: 'ABCD', password: 'new password' });
  // Logged in: the token names the account, and the stored user follows.
  await c.login({ email: 'v@example.com', password: 'password1' });
  await c.verifyEmail('123456');
  assert.deepEqual(seen.at(-1).body, { code: '123456' });
  assert.match(seen.at(-1).auth, /^Bearer /);
  assert.equal(c.user.email_verified, true);
  await c.resendVerification();
  assert.deepEqual(seen.at(-1).body, {});
});

test('contacts: a page with its filters, and a hand edit', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  server.route('GET', '/api/contacts', ({ query }) => ({
    body: { contacts: [{ id: 'k1', tags: [query.get('tag')] }], next_cursor: query.get('cursor') ? null : 'k1' } }));
  server.route('PATCH', '/api/contacts/k%201', ({ body }) => ({ body: { contact: { id: 'k 1', ...body } } }));
  const page = await c.listContactsPage({ limit: 10, tag: 'vip', q: 'mia b' });
  assert.equal(server.calls.at(-1).query, '?limit=10&tag=vip&q=mia%20b');
  assert.deepEqual(page, { contacts: [{ id: 'k1', tags: ['vip'] }], next_cursor: 'k1' });
  assert.deepEqual(await c.listContacts(), [{ id: 'k1', tags: [null] }]);
  assert.equal(server.calls.at(-1).query, '?limit=200');
  const edited = await c.updateContact('k 1', { tags: ['a'], variables: { city: null } });
  assert.deepEqual(server.calls.at(-1).body, { tags: ['a'], variables: { city: null } });
  assert.deepEqual(edited, { id: 'k 1', tags: ['a'], variables: { city: null } });
  await c.updateContact('k 1', { tags: [] });
  assert.deepEqual(server.calls.at(-1).body, { tags: [] });
});

test('a 401 is retried once after a refresh; a second 401 is the answer', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  let n = 0;
  server.route('GET', '/api/auth/me', () => ({ body: { user: { id: 'u1', n: ++n } } }));
  server.validAccess.clear();
  assert.equal((await c.me()).n, 1);
  assert.equal(server.count('/api/auth/refresh'), 1);
  assert.equal(server.calls.at(-1).auth, 'Bearer at2');
  server.route('GET', '/api/flows', () => ({ status: 401, body: { error: { code: 'unauthorized', message: 'no' } } }));
  await assert.rejects(c.listFlows(), (e) => e.status === 401);
  assert.equal(server.count('/api/auth/refresh'), 2);
});

test('the socket URL follows the page: wss on https', () => {
  const c = new ParleyClient({ storage: null, location: { href: 'https://chat.example.com/inbox/c1' } });
  assert.equal(c._socketUrl(), 'wss://chat.example.com/ws');
  const d = new ParleyClient({ storage: null, baseUrl: 'http://127.0.0.1:8080/' });
  assert.equal(d._socketUrl(), 'ws://127.0.0.1:8080/ws');
});

test('channels: create, the directory, join by token or id, members, invites, roles', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  const ch = { id: 'ch1', type: 'channel', name: 'News', public: true, member_count: 1, role: 'admin' };
  server.route('POST', '/api/conversations', ({ body }) => ({ status: 201, body: { conversation: { ...ch, echo: body } } }));
  const made = await c.createChannel('News', 1);
  assert.deepEqual(made.echo, { type: 'channel', name: 'News', public: true });
  server.route('GET', '/api/channels', () => ({ body: { channels: [ch], next_cursor: 'x1' } }));
  assert.equal((await c.listChannels({ limit: 10, cursor: 'c0' })).next_cursor, 'x1');
  assert.equal(server.calls.at(-1).query, '?limit=10&cursor=c0');
  server.route('POST', '/api/channels/join', ({ body }) => ({ status: 201, body: { conversation: { ...ch, echo: body } } }));
  assert.deepEqual((await c.joinChannel({ token: 't0k' })).echo, { token: 't0k' });
  assert.deepEqual((await c.joinChannel({ conversationId: 'ch1' })).echo, { conversation_id: 'ch1' });
  server.route('GET', '/api/conversations/ch1/members', () => ({ body: { members: [{ id: 'u1', name: 'A', role: 'admin' }], next_cursor: null } }));
  assert.equal((await c.listMembers('ch1', { limit: 50 })).members[0].role, 'admin');
  server.route('POST', '/api/conversations/ch1/invite', () => ({ body: { conversation: { ...ch, invite_token: 'abc' } } }));
  assert.equal((await c.createInvite('ch1')).invite_token, 'abc');
  server.route('DELETE', '/api/conversations/ch1/invite', () => ({ status: 204 }));
  assert.equal(await c.revokeInvite('ch1'), undefined);
  server.route('PATCH', '/api/conversations/ch1/members/u%202', ({ body }) => ({ body: { member: { id: 'u 2', role: body.role } } }));
  assert.deepEqual(await c.setMemberRole('ch1', 'u 2', 'admin'), { id: 'u 2', role: 'admin' });
});

test('receipts and settings: delivered by REST while offline, who read a message, mute', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  server.route('POST', '/api/conversations/c%201/delivered', () => ({ status: 204 }));
  assert.equal(await c.markDelivered('c 1', 7), undefined); // no socket: REST
  assert.deepEqual(server.calls.at(-1).body, { seq: 7 });
  const reads = { message_id: 'm1', seq: 3, read_by: [{ user_id: 'u2', name: 'B', seq: 4 }], delivered_to: [] };
  server.route('GET', '/api/conversations/c1/messages/m1/reads', () => ({ body: reads }));
  assert.deepEqual(await c.messageReads('c1', 'm1'), reads);
  server.route('PATCH', '/api/conversations/c1/settings', ({ body }) => ({ body: { conversation: { id: 'c1', muted_until: body.muted_until } } }));
  const until = '2099-01-01T00:00:00.000Z';
  assert.equal((await c.updateConversationSettings('c1', { muted_until: until })).muted_until, until);
  assert.deepEqual(server.calls.at(-1).body, { muted_until: until });
});

test('flow versions, stats and Continue with Instagram: paths, query and answers', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  server.route('POST', '/api/flows/f%201/publish', () => ({ body: { flow: { id: 'f 1', version: 3 } } }));
  server.route('GET', '/api/flows/f1/versions', () => ({ body: { versions: [{ version: 2 }, { version: 1 }] } }));
  server.route('GET', '/api/flows/f1/versions/2', () => ({ body: { version: { version: 2, nodes: [] } } }));
  server.route('POST', '/api/flows/f1/versions/1/restore', () => ({ body: { flow: { id: 'f1', version: 2 } } }));
  server.route('GET', '/api/flows/f1/stats', ({ query }) => ({ body: { stats: { version: query.get('version') } } }));
  server.route('GET', '/api/instagram/oauth/start', () => ({ body: { url: 'https://i.test/a', state: 's' } }));
  server.route('POST', '/api/instagram/oauth/finish', ({ body }) => ({ body: { account: { code: body.code, state: body.state } } }));
  assert.equal((await c.publishFlow('f 1')).version, 3);
  assert.deepEqual((await c.listFlowVersions('f1')).map((v) => v.version), [2, 1]);
  assert.equal((await c.getFlowVersion('f1', 2)).version, 2);
  assert.equal((await c.restoreFlowVersion('f1', 1)).version, 2);
  assert.equal((await c.flowStats('f1', 2)).version, '2');
  assert.equal(server.calls.at(-1).query, '?version=2');
  assert.equal((await c.flowStats('f1')).version, null);
  assert.equal(server.calls.at(-1).query, '');
  assert.deepEqual(await c.instagramOAuthStart(), { url: 'https://i.test/a', state: 's' });
  assert.deepEqual(await c.instagramOAuthFinish('c1', 's'), { code: 'c1', state: 's' });
});

test('avatars: the user\'s (the session\'s user follows) and a group\'s, set and removed', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  const url = '/api/attachments/a1/thumbnail?a=u1&exp=9&sig=00';
  server.route('PUT', '/api/user/avatar', ({ body }) => ({
    body: { user: { id: 'u1', name: 'Ann', avatar_url: body.attachment_id ? url : null } } }));
  assert.equal((await c.setAvatar('a1')).avatar_url, url);
  assert.deepEqual(server.calls.at(-1).body, { attachment_id: 'a1' });
  assert.equal(c.user.avatar_url, url);
  assert.equal((await c.setAvatar(null)).avatar_url, null);
  assert.deepEqual(server.calls.at(-1).body, { attachment_id: null });
  assert.equal(c.user.avatar_url, null);
  server.route('PUT', '/api/conversations/g%201/avatar', ({ body }) => ({
    body: { conversation: { id: 'g 1', avatar_url: body.attachment_id ? url : null } } }));
  assert.equal((await c.setConversationAvatar('g 1', 'a2')).avatar_url, url);
  assert.deepEqual(server.calls.at(-1).body, { attachment_id: 'a2' });
  server.route('PUT', '/api/conversations/g2/avatar', () => ({ status: 403,
    body: { error: { code: 'forbidden', message: 'admins only' } } }));
  await assert.rejects(c.setConversationAvatar('g2', null), (e) => e.status === 403 && e.code === 'forbidden');
});
