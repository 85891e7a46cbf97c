// Channels: the public ones to browse and join, a page at a time, with a button to
// create one; and the page an invite link opens (/join/<token>), which joins and
// opens the channel.
import { useEffect, useState } from 'preact/hooks';
import { api } from './client.js';
import { Link, navigate } from './router.jsx';
import { store, useStore } from './store.js';
import { NewChatDialog } from './new_chat.jsx';

function open(c) {
  store.putConversations([c]);
  navigate(`/c/${encodeURIComponent(c.id)}`);
}

export function ChannelsPage() {
  const s = useStore();
  const [list, setList] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const [creating, setCreating] = useState(false);

  function load(from) {
    setLoading(true);
    api.channels(from).then((r) => {
      setList((old) => (from ? old.concat(r.channels) : r.channels));
      setCursor(r.next_cursor);
      setError('');
    }).catch((e) => setError(e.message || 'Could not load the channels'))
      .finally(() => setLoading(false));
  }
  useEffect(() => load(null), []);

  async function join(c) {
    setBusy(c.id);
    try {
      open(await api.joinChannel({ conversationId: c.id }));
    } catch (e) {
      setError(e.message || 'Could not join');
      setBusy('');
    }
  }

  return (
    <div class="page channels" data-test="channels-page">
      <div class="row">
        <h1 class="grow">Channels</h1>
        <button class="primary" onClick={() => setCreating(true)} data-test="new-channel-button">New channel</button>
      </div>
      <p class="muted">Public channels, newest first. Only a channel's admins post; members read.</p>
      {error && <p class="error-text" role="alert">{error}</p>}
      <ul class="channel-list" aria-busy={loading ? 'true' : 'false'}>
        {list.map((c) => {
          const mine = c.role || s.convs.has(c.id);
          return (
            <li key={c.id} class="card row" data-test="channel">
              <div class="grow">
                <strong data-test="channel-name">{c.name}</strong>
                <div class="small muted">{c.member_count === 1 ? '1 member' : `${c.member_count} members`}</div>
              </div>
              {mine ? (
                <Link class="button" href={`/c/${encodeURIComponent(c.id)}`} data-test="open-channel">Open</Link>
              ) : (
                <button class="primary" disabled={busy === c.id} onClick={() => join(c)} data-test="join-channel">
                  Join<span class="sr-only"> {c.name}</span>
                </button>
              )}
            </li>
          );
        })}
        {!loading && !list.length && !error && <li class="muted">No public channels yet.</li>}
      </ul>
      {cursor && <button disabled={loading} onClick={() => load(cursor)} data-test="more-channels">{loading ? 'Loading…' : 'Show more'}</button>}
      {creating && <NewChatDialog initialKind="channel" onClose={() => setCreating(false)} />}
    </div>
  );
}

/** /join/<token>: joins the channel of an invite link and opens it. */
export function JoinPage({ token }) {
  const [error, setError] = useState('');
  useEffect(() => {
    api.joinChannel({ token }).then(open).catch((e) => setError(e.status === 404
      ? 'This invite link does not work: it may have been revoked or replaced. Ask for a new one.'
      : e.message || 'Could not join'));
  }, [token]);
  return (
    <div class="page" data-test="join-page">
      <h1>{error ? 'Could not join' : 'Joining the channel…'}</h1>
      {error && <p class="error-text" role="alert" data-test="join-error">{error}</p>}
      {error && <Link href="/channels">Browse channels</Link>}
    </div>
  );
}
