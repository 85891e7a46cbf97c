// Parley's service worker: shows Web Push notifications (API.md, Push) and opens the
// conversation when one is clicked. The payload was decrypted by the browser; it is
// {type: "message", conversation_id, title, sender_name, mention, text?}; mention is also
// true when a message this push replaced mentioned the user. Text is shown as the
// notification's body, never as HTML.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

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
    await self.registration.showNotification(String(p.title || 'Parley'), {
      body: describe(p),
      tag: p.conversation_id, // one notification per conversation, replaced by the next
      renotify: !!p.mention,
      icon: '/favicon.svg',
      data: { conversation_id: p.conversation_id },
    });
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
