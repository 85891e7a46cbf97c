// A channel's details: its name (admins rename), who may join, the invite link (admins
// make, copy and revoke it), the members a page at a time (a channel may have 100,000;
// admins promote, demote and remove), admins adding one of their bots, and leaving.
import { useEffect, useState } from 'preact/hooks';
import { api } from './client.js';
import { Avatar } from './inbox.jsx';
import { navigate } from './router.jsx';
import { store } from './store.js';

const PAGE_SIZE = 50;

export function inviteLink(token) {
  return `${location.origin}/join/${encodeURIComponent(token)}`;
}

export function ChannelPanel({ conv, onClose }) {
  const me = store.me ? store.me.id : null;
  const admin = conv.role === 'admin';
  const [name, setName] = useState(conv.name || '');
  const [members, setMembers] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [more, setMore] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');

  function loadMembers(from) {
    setLoading(true);
    return api.members(conv.id, from, PAGE_SIZE).then((r) => {
      setMembers((old) => (from ? old.concat(r.members) : r.members));
      setCursor(r.next_cursor);
      setMore(!!r.next_cursor);
    }).catch((e) => setError(e.message || 'Could not load the members'))
      .finally(() => setLoading(false));
  }
  useEffect(() => { loadMembers(null); }, [conv.id]);

  async function run(p, done) {
    setError('');
    try {
      const r = await p;
      if (r && r.id && r.type === 'channel') store.putConversations([{ ...store.convs.get(conv.id), ...r }]);
      if (done) setNote(done);
      return r;
    } catch (e) {
      setError(e.code === 'conflict' ? 'A channel keeps at least one admin: promote someone first.' : e.message || 'That did not work');
      return null;
    }
  }

  async function setRole(m, role) {
    const r = await run(api.setRole(conv.id, m.id, role), `${m.name} is now ${role === 'admin' ? 'an admin' : 'a member'}.`);
    if (r) setMembers((list) => list.map((x) => (x.id === m.id ? { ...x, role } : x)));
  }

  async function remove(m) {
    const ok = await run(api.removeMember(conv.id, m.id).then(() => true), `${m.name} removed.`);
    if (ok) {
      setMembers((list) => list.filter((x) => x.id !== m.id));
      store.putConversations([{ ...store.convs.get(conv.id), member_count: Math.max(0, conv.member_count - 1) }]);
    }
  }

  async function leave() {
    if (!confirm(`Leave “${conv.name}”?`)) return;
    try {
      await api.removeMember(conv.id, me);
      store.removeConversation(conv.id);
      navigate('/inbox');
    } catch (e) {
      setError(e.code === 'conflict' ? 'You are the last admin: promote another member before you leave.' : e.message || 'Could not leave the channel');
    }
  }

  const link = conv.invite_token ? inviteLink(conv.invite_token) : '';
  return (
    <aside class="side" aria-label="Channel details" data-test="channel-panel">
      <div class="row"><h2 class="grow">Channel</h2><button onClick={onClose} aria-label="Close details">×</button></div>
      {admin ? (
        <form onSubmit={(e) => { e.preventDefault(); if (name.trim()) run(api.rename(conv.id, name.trim()), 'Renamed.'); }}>
          <label for="channel-rename">Name</label>
          <div class="row">
            <input id="channel-rename" class="grow" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
            <button type="submit">Rename</button>
          </div>
        </form>
      ) : <p>{conv.name}</p>}
      <p class="small muted" data-test="channel-visibility">
        {conv.public ? 'Public: anyone can find and join it under Channels.' : 'Private: people join with an invite link.'}
      </p>
      {admin && (
        <section aria-label="Invite link" class="invite">
          <h3>Invite link</h3>
          {link ? (
            <div>
              <input class="invite-link" readOnly value={link} aria-label="Invite link" data-test="invite-link"
                onFocus={(e) => e.currentTarget.select()} />
              <div class="row">
                <button onClick={() => navigator.clipboard && navigator.clipboard.writeText(link).then(() => setNote('Link copied.'), () => {})}>Copy</button>
                <button onClick={() => run(api.createInvite(conv.id), 'A new link replaces the old one.')}>New link</button>
                <button class="danger" data-test="revoke-invite"
                  onClick={() => run(api.revokeInvite(conv.id).then(() => ({ ...conv, invite_token: null })), 'The link no longer works.')}>Revoke</button>
              </div>
            </div>
          ) : (
            <button data-test="make-invite" onClick={() => run(api.createInvite(conv.id), 'Anyone with the link can join.')}>Create an invite link</button>
          )}
        </section>
      )}
      <h3>Members ({conv.member_count})</h3>
      <ul class="members" data-test="channel-members">
        {members.map((m) => (
          <li key={m.id} data-test="member" data-id={m.id}>
            <Avatar name={m.name || 'Someone'} id={m.id} pic={m.id === me ? store.userPic(me) : m.avatar_url} size="small" />
            <span class="grow">{m.name || 'Someone'}{m.id === me ? ' (you)' : ''}</span>
            {m.role === 'admin' && <span class="badge admin">admin</span>}
            {admin && m.id !== me && (
              <span class="member-actions">
                <button class="link" onClick={() => setRole(m, m.role === 'admin' ? 'member' : 'admin')} data-test="toggle-role">
                  {m.role === 'admin' ? 'Demote' : 'Promote'}<span class="sr-only"> {m.name}</span>
                </button>
                <button class="link danger-link" aria-label={`Remove ${m.name}`} onClick={() => remove(m)}>Remove</button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {more && <button disabled={loading} onClick={() => loadMembers(cursor)} data-test="more-members">{loading ? 'Loading…' : 'Show more members'}</button>}
      {admin && <AddBot conv={conv} members={members} run={run} onAdded={() => loadMembers(null)} />}
      <p aria-live="polite" class="muted small" data-test="channel-note">{note}</p>
      {error && <p class="error-text" role="alert">{error}</p>}
      <hr />
      <button class="danger" onClick={leave} data-test="leave-channel">Leave channel</button>
    </aside>
  );
}

/**
 * Adds one of the caller's own bots (Settings › Bots) to the channel as a member: it
 * then gets every post; promoted to admin, it may post too. Bots already among the
 * loaded members are not offered (adding one again changes nothing).
 */
function AddBot({ conv, members, run, onAdded }) {
  const [bots, setBots] = useState([]);
  const [pick, setPick] = useState('');
  useEffect(() => { api.bots().then(setBots).catch(() => setBots([])); }, []);
  const listed = new Set(members.map((m) => m.id));
  const free = bots.filter((b) => !listed.has(b.id));
  if (!free.length) return null;
  return (
    <form class="row" data-test="add-bot" onSubmit={async (e) => {
      e.preventDefault();
      const b = free.find((x) => x.id === pick) || free[0];
      if (await run(api.addMembers(conv.id, [b.id]), `${b.name} added: it gets every post. Promote it to let it post.`)) onAdded();
    }}>
      <label for="channel-add-bot" class="grow">Add a bot
        <select id="channel-add-bot" value={free.some((b) => b.id === pick) ? pick : free[0].id} onChange={(e) => setPick(e.currentTarget.value)}>
          {free.map((b) => <option key={b.id} value={b.id}>{b.name}</option>)}
        </select>
      </label>
      <button type="submit">Add bot</button>
    </form>
  );
}
