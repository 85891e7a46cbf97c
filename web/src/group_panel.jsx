// A group's details: rename (admins), members with admin badges, add and remove
// members (admins), leave. Changes arrive back live as conversation.updated.
import { useEffect, useState } from 'preact/hooks';
import { AvatarPicker } from './avatar_picker.jsx';
import { api } from './client.js';
import { Avatar } from './inbox.jsx';
import { navigate } from './router.jsx';
import { store } from './store.js';
import { UserSearch } from './new_chat.jsx';

export function GroupPanel({ conv, onClose }) {
  const me = store.me ? store.me.id : null;
  const admin = conv.participants.some((p) => p.id === me && p.role === 'admin');
  const [name, setName] = useState(conv.name || '');
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');

  async function run(p, done) {
    setError('');
    try {
      const r = await p;
      if (r && r.conversation) store.putConversations([r.conversation]);
      else if (r && r.id && r.participants) store.putConversations([r]);
      if (done) setNote(done);
    } catch (e) {
      setError(e.message || 'That did not work');
    }
  }

  async function leave() {
    if (!confirm(`Leave “${conv.name}”?`)) return;
    try {
      await api.removeMember(conv.id, me);
      store.removeConversation(conv.id);
      navigate('/inbox');
    } catch (e) {
      setError(e.message || 'Could not leave the group');
    }
  }

  return (
    <aside class="side" aria-label="Group details" data-test="group-panel">
      <div class="row"><h2 class="grow">Group</h2><button onClick={onClose} aria-label="Close details">×</button></div>
      {admin && (
        <AvatarPicker current={conv.avatar_url || null} name={conv.name} id={conv.id} label={`the group ${conv.name}`}
          testId="group-avatar" save={async (attachmentId) => {
            store.putConversations([await api.setGroupAvatar(conv.id, attachmentId)]);
          }} />
      )}
      {admin ? (
        <form onSubmit={(e) => { e.preventDefault(); if (name.trim()) run(api.rename(conv.id, name.trim()), 'Renamed.'); }}>
          <label for="group-rename">Name</label>
          <div class="row">
            <input id="group-rename" class="grow" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
            <button type="submit">Rename</button>
          </div>
        </form>
      ) : <p>{conv.name}</p>}
      <h3>Members ({conv.participants.length})</h3>
      <ul class="members">
        {conv.participants.map((p) => (
          <li key={p.id} data-test="member" data-id={p.id}>
            <Avatar name={p.name} id={p.id} pic={store.userPic(p.id) || p.avatar_url} size="small" />
            <span class="grow">{p.name}{p.id === me ? ' (you)' : ''}</span>
            {p.role === 'admin' && <span class="badge admin">admin</span>}
            {admin && p.id !== me && (
              <button class="icon" aria-label={`Remove ${p.name}`} onClick={() => run(api.removeMember(conv.id, p.id), `${p.name} removed.`)}>Remove</button>
            )}
          </li>
        ))}
      </ul>
      {admin && (adding ? (
        <div>
          <UserSearch label="Add a member" exclude={conv.participants.map((p) => p.id)}
            onPick={(u) => run(api.addMembers(conv.id, [u.id]), `${u.name} added.`)} />
          <button onClick={() => setAdding(false)}>Done</button>
        </div>
      ) : <button onClick={() => setAdding(true)}>Add members</button>)}
      {admin && <AddBot conv={conv} run={run} />}
      <p aria-live="polite" class="muted small">{note}</p>
      {error && <p class="error-text" role="alert">{error}</p>}
      <hr />
      <button class="danger" onClick={leave}>Leave group</button>
    </aside>
  );
}

/** Adds one of the caller's own bots (Settings › Bots) to the group as a member. */
function AddBot({ conv, run }) {
  const [bots, setBots] = useState([]);
  const [pick, setPick] = useState('');
  useEffect(() => { api.bots().then(setBots).catch(() => setBots([])); }, []);
  const inGroup = new Set(conv.participants.map((p) => p.id));
  const free = bots.filter((b) => !inGroup.has(b.id));
  if (!free.length) return null;
  return (
    <form class="row" data-test="add-bot" onSubmit={(e) => {
      e.preventDefault();
      const b = free.find((x) => x.id === pick) || free[0];
      run(api.addMembers(conv.id, [b.id]), `${b.name} added.`);
    }}>
      <label for="add-bot" class="grow">Add a bot
        <select id="add-bot" value={free.some((b) => b.id === pick) ? pick : free[0].id} onChange={(e) => setPick(e.currentTarget.value)}>
          {free.map((b) => <option key={b.id} value={b.id}>{b.name}</option>)}
        </select>
      </label>
      <button type="submit">Add bot</button>
    </form>
  );
}
