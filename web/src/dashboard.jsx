// The dashboard: unread messages, Instagram conversations whose reply window is open,
// contacts, active flows and the latest activity across conversations.
import { useEffect, useState } from 'preact/hooks';
import { api, call } from './client.js';
import { shortTime, windowOpen } from './format.js';
import { Link } from './router.jsx';
import { useStore } from './store.js';
import { loadMoreConversations } from './inbox.jsx';
import { ChannelBadge } from './inbox.jsx';

function Stat({ num, label, href, test, note }) {
  return (
    <Link href={href} class="card stat" data-test={test}>
      <div class="num">{num === null ? '…' : num}</div>
      <div class="label">{label}</div>
      {note && <div class="small muted" data-test="stat-note">{note}</div>}
    </Link>
  );
}

export function DashboardPage() {
  const s = useStore();
  const [data, setData] = useState({ contacts: null, flows: null, igOpen: null });
  const [error, setError] = useState('');

  useEffect(() => {
    if (!s.listLoaded) loadMoreConversations();
    let live = true;
    Promise.all([
      api.contacts().catch(() => []),
      api.flows().catch(() => []),
      call('GET', '/api/messages/instagram').then((r) => r.conversations || []).catch(() => []),
    ]).then(([contacts, flows, igConvs]) => {
      if (!live) return;
      const open = new Set(contacts.filter((c) => windowOpen(c.last_inbound_at)).map((c) => c.id));
      setData({
        contacts: contacts.length,
        flows: flows.filter((f) => f.status === 'active').length,
        igOpen: igConvs.filter((c) => open.has(c.contact_id || (c.contact && c.contact.id))).length,
      });
    }).catch((e) => live && setError(e.message));
    return () => { live = false; };
  }, []);

  // Unread counts come per conversation: with pages of the list still unloaded the sum
  // is a lower bound, said as such.
  const unread = s.unreadTotal();
  const recent = s.order.slice(0, 8).map((id) => s.convs.get(id)).filter((c) => c.last_message);
  return (
    <div class="page">
      <h1>Dashboard</h1>
      <div class="stats">
        <Stat num={!s.listLoaded ? null : unread.complete ? unread.n : `${unread.n}+`} label="Unread messages"
          href="/inbox" test="stat-unread"
          note={s.listLoaded && !unread.complete ? `in your ${s.order.length} most recent conversations` : ''} />
        <Stat num={data.igOpen} label="Instagram chats with an open reply window" href="/inbox/instagram" test="stat-ig-open" />
        <Stat num={data.contacts} label="Contacts" href="/contacts" test="stat-contacts" />
        <Stat num={data.flows} label="Active flows" href="/flows" test="stat-flows" />
      </div>
      {error && <p class="error-text">{error}</p>}
      <section class="card" aria-labelledby="recent-h">
        <h2 id="recent-h">Recent activity</h2>
        {!recent.length ? <p class="muted">{s.listLoaded ? 'Nothing yet.' : 'Loading…'}</p> : (
          <ul class="activity">
            {recent.map((c) => (
              <li key={c.id}>
                <ChannelBadge type={c.type} />
                <Link href={`/c/${encodeURIComponent(c.id)}`} class="grow">{s.title(c)}</Link>
                <span class="muted small">{c.last_message.deleted ? 'deleted' : (c.last_message.text || '').slice(0, 60)}</span>
                <span class="muted small">{shortTime(c.last_message.created_at)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
