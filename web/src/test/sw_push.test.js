// The service worker's pushes (web/public/sw.js, API.md Push): one notification per
// conversation, the newest message's; a push for an older message that arrives later
// (pushes from different instances reach the push service in either order) leaves the
// newer one shown. sw.js runs here in a context of its own, with a registration,
// clients and Cache API that record what it does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import vm from 'node:vm';

const SOURCE = readFileSync(new URL('../../public/sw.js', import.meta.url), 'utf8');
const ORIGIN = 'http://127.0.0.1:8080';

function worker({ focused = false } = {}) {
  const handlers = {};
  const shown = new Map(); // tag -> {title, ...options}, as the browser keeps them
  const calls = [];
  const stores = new Map();
  const caches = {
    async open(name) {
      if (!stores.has(name)) stores.set(name, new Map());
      const m = stores.get(name);
      return {
        async match(req) { return m.has(req.url) ? new Response(m.get(req.url)) : undefined; },
        async put(req, res) { m.delete(req.url); m.set(req.url, await res.text()); },
        async delete(req) { return m.delete(req.url); },
        async keys() { return [...m.keys()].map((url) => ({ url })); },
      };
    },
  };
  const self = {
    addEventListener(type, fn) { handlers[type] = fn; },
    skipWaiting() {},
    clients: {
      async matchAll() { return focused ? [{ visibilityState: 'visible', focused: true }] : []; },
      async claim() {},
    },
    registration: {
      async showNotification(title, options) {
        calls.push({ title, ...options });
        shown.set(options.tag, { title, ...options });
      },
      async getNotifications({ tag }) { return shown.has(tag) ? [shown.get(tag)] : []; },
    },
  };
  class Request {
    constructor(url) { this.url = new URL(url, `${ORIGIN}/sw.js`).href; }
  }
  vm.runInNewContext(SOURCE, { self, caches, Request, Response, URL, encodeURIComponent, Number, String, Math });
  const push = async (payload) => {
    let done = null;
    handlers.push({ data: { json: () => payload }, waitUntil(p) { done = p; } });
    await done;
  };
  const seen = () => [...(stores.get('parley-push-seen') || new Map()).keys()];
  return { push, shown, calls, seen, close: (tag) => shown.delete(tag) };
}

const msg = (seq, extra = {}) => ({
  type: 'message', conversation_id: 'c1', conversation_type: 'group', title: 'Launch crew',
  message_id: `m${seq}`, seq, sender_name: 'Ann', mention: false, text: `message ${seq}`, ...extra,
});

test('a newer message replaces the notification, an older one arriving later does not', async () => {
  const w = worker();
  await w.push(msg(5));
  assert.equal(w.shown.get('c1').body, 'Ann: message 5');
  await w.push(msg(7));
  assert.equal(w.shown.get('c1').body, 'Ann: message 7');
  await w.push(msg(6));
  assert.equal(w.shown.get('c1').body, 'Ann: message 7', 'the newer message stays');
  assert.equal(w.shown.get('c1').data.seq, 7);
  assert.equal(w.calls.length, 3, 'every push shows a notification (the newer one again)');
  assert.equal(w.calls[2].renotify, false);
  await w.push(msg(8));
  assert.equal(w.shown.get('c1').body, 'Ann: message 8');
});

test('an older message that mentions the user still alerts, over the newer one', async () => {
  const w = worker();
  await w.push(msg(7));
  await w.push(msg(6, { mention: true, text: '@you look' }));
  const last = w.calls[w.calls.length - 1];
  assert.equal(last.body, 'Ann: message 7');
  assert.equal(last.renotify, true);
});

test('once the newer notification is closed, an older message is shown', async () => {
  const w = worker();
  await w.push(msg(7));
  w.close('c1');
  await w.push(msg(6));
  assert.equal(w.shown.get('c1').body, 'Ann: message 6');
});

test('conversations are apart; a push without a seq is shown as it comes', async () => {
  const w = worker();
  await w.push(msg(9));
  await w.push(msg(2, { conversation_id: 'c2', title: 'Ann', text: 'hi' }));
  assert.equal(w.shown.get('c2').body, 'hi');
  await w.push(msg(1, { seq: undefined, text: 'no seq' }));
  assert.equal(w.shown.get('c1').body, 'Ann: no seq');
});

test('a focused window shows the message itself: no notification', async () => {
  const w = worker({ focused: true });
  await w.push(msg(1));
  assert.equal(w.calls.length, 0);
});

test('what is remembered is bounded, the oldest conversation first out', async () => {
  const w = worker();
  for (let i = 0; i < 502; i++) await w.push(msg(1, { conversation_id: `c${i}` }));
  const keys = w.seen();
  assert.equal(keys.length, 500);
  assert.equal(keys[0], `${ORIGIN}/__push-seen/c2`);
  assert.equal(keys[499], `${ORIGIN}/__push-seen/c501`);
  await w.push(msg(2, { conversation_id: 'c2' })); // shown again: the newest now
  assert.equal(w.seen()[499], `${ORIGIN}/__push-seen/c2`);
});

test('bad payloads show nothing', async () => {
  const w = worker();
  await w.push(null);
  await w.push({ type: 'other', conversation_id: 'c1' });
  await w.push({ type: 'message', conversation_id: 7 });
  assert.equal(w.calls.length, 0);
});
