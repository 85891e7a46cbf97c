// Secret chats on screen: a message's plaintext once this browser opened it (or a clear
// placeholder when it cannot: never an exception in the view), the composer's send
// through the engine, and the safety number two people compare to trust their keys.
import { useEffect, useState } from 'preact/hooks';
import { LockIcon } from '../inbox.jsx';
import { store } from '../store.js';
import { device, readSecret, safety, sendSecret } from './engine.js';
import { fingerprint } from './x3dh.js';

/** The body of a secret message: "Decrypting…", its text, or why it cannot be read. */
export function SecretBody({ m }) {
  const [res, setRes] = useState(null);
  useEffect(() => {
    let live = true;
    setRes(null);
    readSecret(m).then((r) => live && setRes(r));
    return () => { live = false; };
  }, [m.id]);
  if (!res) return <span class="encrypted" data-test="decrypting">Decrypting…</span>;
  if (res.error) return <span class="encrypted undecryptable" data-test="undecryptable" title={res.error}><LockIcon /> {res.error}</span>;
  return <span class="text secret-text" data-test="secret-text">{res.text}</span>;
}

/** The composer's send in a secret chat: sealed here, posted as ciphertexts. */
export function secretSend(conv) {
  return (text) => {
    if (!text) return Promise.reject(new Error('Secret chats carry text only.'));
    return sendSecret(conv, text);
  };
}

/** Registers this browser's device when a secret chat opens (first use). */
export function useSecretDevice(conv) {
  const [error, setError] = useState('');
  useEffect(() => {
    if (!conv || conv.type !== 'secret') return;
    device().then(() => setError(''), (e) => setError((e && e.message) || 'could not set up keys'));
  }, [conv && conv.id]);
  return error;
}

/** The header's "Verify" button and its panel: the safety number and every key. */
export function SafetyButton({ conv }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button onClick={() => setOpen(!open)} aria-expanded={open ? 'true' : 'false'} data-test="safety-button">Verify keys</button>
      {open && <SafetyPanel conv={conv} onClose={() => setOpen(false)} />}
    </>
  );
}

function SafetyPanel({ conv, onClose }) {
  const [info, setInfo] = useState(null);
  const [error, setError] = useState('');
  const peer = store.peer(conv);
  useEffect(() => {
    if (!peer) return;
    safety(peer.id).then(async (s) => {
      const fp = async (list) => Promise.all(list.map(async (d) => ({ ...d, fp: await fingerprint(d.key) })));
      setInfo({ ...s, mine: await fp(s.mine), theirs: await fp(s.theirs) });
    }).catch((e) => setError((e && e.message) || 'Could not load the keys'));
  }, [conv.id]);
  const name = (peer && peer.name) || 'them';
  return (
    <div class="safety card" role="dialog" aria-label="Safety number" data-test="safety-panel">
      <h3>Safety number with {name}</h3>
      {error && <p class="error-text" role="alert">{error}</p>}
      {!info && !error && <p class="muted small">Loading keys…</p>}
      {info && (
        <>
          <p class="safety-number" data-test="safety-number">{info.number.join(' ')}</p>
          <p class="small muted">Compare this number with {name} in person or on a call: it is the same on both
            sides only when each of you sees the other's real keys. It changes when either of you adds a device.</p>
          <h4>{name}'s devices</h4>
          {info.theirs.length ? (
            <ul class="small keys" data-test="their-keys">{info.theirs.map((d) => <li key={d.id}><code>{d.fp}</code></li>)}</ul>
          ) : <p class="small muted">None with keys yet.</p>}
          <h4>Your devices</h4>
          <ul class="small keys" data-test="my-keys">
            {info.mine.map((d) => <li key={d.id}>{d.name}{d.id === info.device ? ' (this browser)' : ''}: <code>{d.fp}</code></li>)}
          </ul>
        </>
      )}
      <button class="small" onClick={onClose}>Close</button>
    </div>
  );
}
