import { FakeServer, fakeOptions } from './fakes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParleyBot, ParleyClient, ParleyError } from '../parley.js';

test('the owner\'s bot calls send the documented method, path and body', async () => {
  const server = new FakeServer();
  const c = new ParleyClient(fakeOptions({ server }));
  await c.login({ email: 'a@b.c', password: 'password1' });
  const bot = { id: 'b1', name: 'Helper', status: 'active' };
  server.route('POST', '/api/bots', () => ({ status: 201, body: { bot, token: 't', signing_secret: 's' } }));
  server.route('GET', '/api/bots', () => ({ body: { bots: [bot] } }));
  server.route('PATCH', '/api/bots/b1', () => ({ body: { bot } }));
  server.route('POST', '/api/bots/b1/token', () => ({ body: { bot, token: 't2' } }));
  server.route('DELETE', '/api/bots/b1', () => ({ status: 204 }));
  const made = await c.createBot({ name: 'Helper', webhookUrl: 'https://h.example/x' });
  assert.equal(made.token, 't');
  assert.deepEqual(server.calls.at(-1).body, { name: 'Helper', webhook_url: 'https://h.example/x' });
  assert.deepEqual(await c.listBots(), [bot]);
  await c.updateBot('b1', { enabled: true });
  assert.deepEqual(server.calls.at(-1).body, { enabled: true });
  assert.equal((await c.rotateBotToken('b1')).token, 't2');
  await c.deleteBot('b1');
  assert.equal(server.calls.at(-1).method, 'DELETE');
});

test('a bot posts and edits with its Bot token, and reads errors from the envelope', async () => {
  const seen = [];
  const reply = (status, body) => ({ status, ok: status < 300, json: async () => body });
  const fetch = async (url, init) => {
    seen.push({ url, ...init });
    if (init.method === 'POST') return reply(201, { message: { id: 'm1', text: 'hi' } });
    if (init.method === 'PATCH') return reply(401, { error: { code: 'unauthorized', message: 'no' } });
    return reply(200, { messages: [], has_more: false });
  };
  const b = new ParleyBot({ baseUrl: 'http://parley.test', token: 'tok', fetch });
  const m = await b.postMessage('c 1', 'hi', { clientId: 'k' });
  assert.equal(m.id, 'm1');
  assert.equal(seen[0].url, 'http://parley.test/api/conversations/c%201/messages');
  assert.equal(seen[0].headers.Authorization, 'Bot tok');
  assert.deepEqual(JSON.parse(seen[0].body), { text: 'hi', client_id: 'k' });
  await assert.rejects(b.editMessage('m1', 'x'), (e) => e instanceof ParleyError && e.status === 401 && e.code === 'unauthorized');
  await b.listMessages('c1', { limit: 5 });
  assert.equal(seen[2].url, 'http://parley.test/api/conversations/c1/messages?limit=5');
});
