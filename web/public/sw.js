// Parley's service worker: shows Web Push notifications (API.md, Push) and opens the
// conversation when one is clicked. The payload was decrypted by the browser; it is
// {type: "message", conversation_id, title, seq, sender_name, mention, text?}; mention is
// also true when a message this push replaced mentioned the user. Text is shown as the
// notification's body, never as HTML.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// The newest message shown for each conversation (its seq), so that a push for an older
// one that arrives later (messages of one conversation stored through different
// instances are pushed by each, in either order) does not replace it. Kept in the Cache
// API, since a worker's variables end with it: one entry per conversation, the
// SEEN_MAX most recently shown.
const SEEN = 'parley-push-seen';
const SEEN_MAX = 500;
const seenKey = (cid) => new Request(`/__push-seen/${encodeURIComponent(cid)}`);

async function newestShown(cid) {
  const cache = await caches.open(SEEN);
  const r = await cache.match(seenKey(cid));
  const seq = r ? Number(await r.text()) : NaN;
  return Number.isSafeInteger(seq) ? seq : null;
}

async function rememberShown(cid, seq) {
  const cache = await caches.open(SEEN);
  await cache.delete(seenKey(cid)); // put again: the newest entry is the last key
  await cache.put(seenKey(cid), new Response(String(seq)));
  const keys = await cache.keys();
  for (const k of keys.slice(0, Math.max(0, keys.length - SEEN_MAX))) await cache.delete(k);
}

function describe(p) {
  if (p.text) return p.title === p.sender_name ? p.text : `${p.sender_name}: ${p.text}`;
  if (p.mention) return `${p.sender_name} mentioned you`;
  return p.title === p.sender_name ? 'New message' : `New message from ${p.sender_name}`;
}

self.addEventListener('push', (event) => {
  let p = null;
  try {
    p = event.data ? event.data.json() : null;
  } catch (e) {
    p = null;
  }
  if (!p || p.type !== 'message' || typeof p.conversation_id !== 'string') return;
  event.waitUntil((async () => {
    // A window of the app that is open and visible shows the message itself.
    const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    if (wins.some((w) => w.visibilityState === 'visible' && w.focused)) return;
    const cid = p.conversation_id;
    const seq = Number.isSafeInteger(p.seq) ? p.seq : null;
    const newest = seq === null ? null : await newestShown(cid).catch(() => null);
    if (seq !== null && newest !== null && seq <= newest) {
      // An older message than the one shown: that one stays (shown again as it is, since
      // a push must show a notification; a mention still alerts). Once the user has
      // closed it, the older message is shown.
      const [shown] = await self.registration.getNotifications({ tag: cid });
      if (shown) {
        await self.registration.showNotification(shown.title, {
          body: shown.body, tag: cid, renotify: !!p.mention, icon: '/favicon.svg', data: shown.data,
        });
        return;
      }
    }
    await self.registration.showNotification(String(p.title || 'Parley'), {
      body: describe(p),
      tag: cid, // one notification per conversation, replaced by the next
      renotify: !!p.mention,
      icon: '/favicon.svg',
      data: { conversation_id: cid, seq },
    });
    if (seq !== null && (newest === null || seq > newest)) await rememberShown(cid, seq).catch(() => {});
  })());
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.conversation_id;
  const url = id ? `/c/${encodeURIComponent(id)}` : '/inbox';
  event.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of wins) {
      if ('focus' in w) {
        await w.focus();
        if ('navigate' in w) await w.navigate(url);
        return;
      }
    }
    await self.clients.openWindow(url);
  })());
});
