// Starting a conversation: search users by name or e-mail, then open a direct chat with
// one, or pick several and name a group, or name a channel (public or by invitation).
// Also used to add members to a group.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './client.js';
import { navigate } from './router.jsx';
import { store } from './store.js';
import { startSecret } from './secret/engine.js';

/** A modal dialog: Escape closes it, focus starts inside and returns where it was. */
export function Dialog({ title, onClose, children }) {
  const box = useRef(null);
  useEffect(() => {
    const before = document.activeElement;
    const first = box.current.querySelector('input, button, textarea, select');
    if (first) first.focus();
    const onKey = (e) => {
      if (e.key === 'Escape') onClose();
      if (e.key === 'Tab') {
        const f = [...box.current.querySelectorAll('input, button, textarea, select, a[href]')].filter((x) => !x.disabled);
        if (!f.length) return;
        if (e.shiftKey && document.activeElement === f[0]) {
          e.preventDefault();
          f[f.length - 1].focus();
        } else if (!e.shiftKey && document.activeElement === f[f.length - 1]) {
          e.preventDefault();
          f[0].focus();
        }
      }
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      if (before && before.focus) before.focus();
    };
  }, []);
  return (
    <div class="dialog-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="dialog card" role="dialog" aria-modal="true" aria-labelledby="dialog-title" ref={box}>
        <h2 id="dialog-title">{title}</h2>
        {children}
      </div>
    </div>
  );
}

/** Search box with results; `onPick(user)` for each chosen one. */
export function UserSearch({ onPick, exclude = [], label = 'Find people' }) {
  const [q, setQ] = useState('');
  const [users, setUsers] = useState([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const term = q.trim();
    if (!term) {
      setUsers([]);
      return undefined;
    }
    let live = true;
    const t = setTimeout(() => {
      api.searchUsers(term).then((u) => live && (setUsers(u), setError('')))
        .catch((e) => live && setError(e.message || 'Search failed'));
    }, 200);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [q]);
  const shown = users.filter((u) => !exclude.includes(u.id) && (!store.me || u.id !== store.me.id));
  return (
    <div>
      <label for="user-search">{label}</label>
      <input id="user-search" type="search" value={q} placeholder="Name or e-mail" autocomplete="off"
        onInput={(e) => setQ(e.currentTarget.value)} data-test="user-search" />
      {error && <p class="error-text">{error}</p>}
      <ul class="results" aria-live="polite">
        {shown.map((u) => (
          <li key={u.id}>
            <span class="grow">{u.name}</span>
            <button onClick={() => { setQ(''); onPick(u); }} data-test="pick-user">Choose<span class="sr-only"> {u.name}</span></button>
          </li>
        ))}
        {q.trim() && !shown.length && !error && <li class="muted">No one found.</li>}
      </ul>
    </div>
  );
}

export function NewChatDialog({ onClose, initialKind = 'direct' }) {
  const [kind, setKind] = useState(initialKind); // direct | group | channel | secret
  const group = kind === 'group';
  const [picked, setPicked] = useState([]);
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function openDirect(u) {
    setBusy(true);
    try {
      const c = kind === 'secret' ? await startSecret(u.id) : await api.createDirect(u.id);
      store.putConversations([c]);
      onClose();
      navigate(`/c/${encodeURIComponent(c.id)}`);
    } catch (e) {
      setError(e.message || 'Could not start the chat');
      setBusy(false);
    }
  }

  async function createGroup(e) {
    e.preventDefault();
    if (!name.trim()) return setError('Give the group a name.');
    if (!picked.length) return setError('Add at least one member.');
    setBusy(true);
    try {
      const c = await api.createGroup(name.trim(), picked.map((u) => u.id));
      store.putConversations([c]);
      onClose();
      navigate(`/c/${encodeURIComponent(c.id)}`);
    } catch (err) {
      setError(err.message || 'Could not create the group');
      setBusy(false);
    }
  }

  return (
    <Dialog title="New chat" onClose={onClose}>
      <div class="filters" role="group" aria-label="Kind of chat">
        <button aria-pressed={kind === 'direct' ? 'true' : 'false'} onClick={() => setKind('direct')}>Direct</button>
        <button aria-pressed={group ? 'true' : 'false'} onClick={() => setKind('group')} data-test="group-mode">Group</button>
        <button aria-pressed={kind === 'channel' ? 'true' : 'false'} onClick={() => setKind('channel')} data-test="channel-mode">Channel</button>
        <button aria-pressed={kind === 'secret' ? 'true' : 'false'} onClick={() => setKind('secret')} data-test="secret-mode">Secret</button>
      </div>
      {kind === 'channel' ? <NewChannelForm onClose={onClose} /> : group ? (
        <form onSubmit={createGroup}>
          <label for="group-name">Group name</label>
          <input id="group-name" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
          <UserSearch label="Add members" exclude={picked.map((u) => u.id)} onPick={(u) => setPicked([...picked, u])} />
          <p>{picked.length ? 'Members: ' : 'No members yet.'}
            {picked.map((u) => (
              <span class="chip" key={u.id}>{u.name}{' '}
                <button type="button" class="link" aria-label={`Remove ${u.name}`}
                  onClick={() => setPicked(picked.filter((x) => x.id !== u.id))}>×</button>
              </span>
            ))}
          </p>
          {error && <p class="error-text" role="alert">{error}</p>}
          <div class="dialog-actions">
            <button type="button" onClick={onClose}>Cancel</button>
            <button type="submit" class="primary" disabled={busy}>Create group</button>
          </div>
        </form>
      ) : (
        <div>
          {kind === 'secret' && (
            <p class="muted small" data-test="secret-explain">A secret chat is end-to-end encrypted: only your devices and
              theirs can read it, never the server. This browser gets its keys when you start one.</p>
          )}
          <UserSearch onPick={openDirect} />
          {error && <p class="error-text" role="alert">{error}</p>}
          <div class="dialog-actions"><button type="button" onClick={onClose} disabled={busy}>Cancel</button></div>
        </div>
      )}
    </Dialog>
  );
}

/** A channel's name and whether anyone may join it by id (else only by invite link). */
function NewChannelForm({ onClose }) {
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function create(e) {
    e.preventDefault();
    if (!name.trim()) return setError('Give the channel a name.');
    setBusy(true);
    try {
      const c = await api.createChannel(name.trim(), isPublic);
      store.putConversations([c]);
      onClose();
      navigate(`/c/${encodeURIComponent(c.id)}`);
    } catch (err) {
      setError(err.message || 'Could not create the channel');
      setBusy(false);
    }
  }

  return (
    <form onSubmit={create} data-test="new-channel">
      <p class="muted small">In a channel only admins post; members read. You are its first admin.</p>
      <label for="channel-name">Channel name</label>
      <input id="channel-name" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
      <fieldset class="choice">
        <legend>Who can join</legend>
        <label><input type="radio" name="channel-visibility" checked={isPublic} onChange={() => setPublic(true)}
          data-test="channel-public" /> Anyone (listed under Channels)</label>
        <label><input type="radio" name="channel-visibility" checked={!isPublic} onChange={() => setPublic(false)}
          data-test="channel-private" /> Only people with an invite link</label>
      </fieldset>
      {error && <p class="error-text" role="alert">{error}</p>}
      <div class="dialog-actions">
        <button type="button" onClick={onClose}>Cancel</button>
        <button type="submit" class="primary" disabled={busy} data-test="create-channel">Create channel</button>
      </div>
    </form>
  );
}
