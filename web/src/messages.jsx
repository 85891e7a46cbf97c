// The message window of a chat: day separators, bubbles, ticks, reactions, edit and
// delete. Keeps the reader's place when pages are added above or trimmed below, and
// follows new messages while the reader is at the bottom.
import { fileSize } from './attachments.jsx';
import { memo } from 'preact/compat';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, client, openAttachment, refreshAttachments } from './client.js';
import { clock, dayKey, dayLabel } from './format.js';
import { Avatar } from './inbox.jsx';
import { store } from './store.js';
import { SecretBody } from './secret/secret_view.jsx';

const EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🎉'];
const EDGE = 300; // px from an edge that loads the next page

function senderKind(m) {
  if (String(m.sender_id || '').startsWith('ig:')) return ['customer', 'Customer'];
  if (m.source === 'flow') return ['flow', 'Flow'];
  return ['agent', 'Agent'];
}

/** What an Instagram message carries beyond its text (docs/API.md, Messages). */
/**
 * What a stored file's signed URL needs (docs/API.md, Downloads): a picture or player that
 * fails to load (its URL expired while the chat was open) reads the message again, and a
 * link opened after expiry opens the fresh URL.
 */
function fresh(m, a) {
  return {
    onError: () => refreshAttachments(m.conversation_id, m.seq),
    open: (ev) => openAttachment(ev, m.conversation_id, m.seq, a),
    save: (ev) => openAttachment(ev, m.conversation_id, m.seq, a, { download: true }),
  };
}

/** A file uploaded to Parley (it has an id and a signed url): inline image, player or chip. */
function StoredFile({ a, m }) {
  const f = fresh(m, a);
  if (a.type === 'image') {
    return (
      <a class="att att-photo" href={a.url} target="_blank" rel="noopener noreferrer" data-test="att-image"
        title={`${a.name} (${fileSize(a.size)}), open full size`} onClick={f.open}>
        <img src={a.thumbnail_url || a.url} alt={a.name} loading="lazy" onError={f.onError}
          width={a.width || undefined} height={a.height || undefined} />
      </a>
    );
  }
  if (a.type === 'video') return <span class="att" data-test="att-video"><video src={a.url} controls preload="metadata" aria-label={a.name} onError={f.onError} /></span>;
  if (a.type === 'audio') return <span class="att" data-test="att-audio"><audio src={a.url} controls preload="metadata" aria-label={a.name} onError={f.onError} /></span>;
  return (
    <a class="att file-chip" href={a.url} download={a.name} data-test="att-file" onClick={f.save}>
      <svg class="fc-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none"
        stroke="currentColor" stroke-width="2" stroke-linejoin="round">
        <path d="M14 3H6v18h12V7z" /><path d="M14 3v4h4" />
      </svg>
      <span class="fc-name">{a.name}</span>
      <span class="fc-size">{fileSize(a.size)}</span>
    </a>
  );
}

/** What a story mention or a shared post is, said over its picture or clip. */
const CARD_LABELS = {
  story_mention: 'Mentioned you in their story',
  story_reply: 'Replied to your story',
  share: 'Shared a post',
};

/**
 * Instagram media stored in Parley (docs/API.md, Instagram media): a story
 * mention or a share is a card, its picture or clip with a link to open it;
 * an image, video or audio is shown as any stored file.
 */
function StoredMedia({ a, m }) {
  const label = CARD_LABELS[a.type];
  if (!label) return <StoredFile a={a} m={m} />;
  const f = fresh(m, a);
  const kind = String(a.content_type || '').split('/')[0];
  return (
    <span class="att att-card" data-test={`att-${a.type}`}>
      <span class="att-card-label">{label}</span>
      {kind === 'image' && <img src={a.thumbnail_url || a.url} alt={label} loading="lazy" onError={f.onError}
        width={a.width || undefined} height={a.height || undefined} />}
      {kind === 'video' && <video src={a.url} controls preload="metadata" aria-label={label} onError={f.onError} />}
      <a href={a.url} target="_blank" rel="noopener noreferrer" onClick={f.open}>Open</a>
    </span>
  );
}

function Attachment({ a, m }) {
  if (a.id && a.source_url && typeof a.size === 'number') return <StoredMedia a={a} m={m} />;
  if (a.id && typeof a.size === 'number') return <StoredFile a={a} m={m} />;
  const link = (label) => (a.url
    ? <a href={a.url} target="_blank" rel="noopener noreferrer">{label}</a> : <span>{label}</span>);
  switch (a.type) {
    case 'image':
      return <a class="att" href={a.url} target="_blank" rel="noopener noreferrer" data-test="att-image"><img src={a.url} alt="Photo from the customer" loading="lazy" referrerpolicy="no-referrer" /></a>;
    case 'video':
      return <span class="att" data-test="att-video"><video src={a.url} controls preload="none" aria-label="Video from the customer" /></span>;
    case 'audio':
      return <span class="att" data-test="att-audio"><audio src={a.url} controls preload="none" aria-label="Voice message from the customer" /></span>;
    case 'file':
      return <span class="att att-note" data-test="att-file">📎 {link('File')}</span>;
    case 'share':
      return <span class="att att-note" data-test="att-share">↪ {link('Shared a post')}</span>;
    case 'story_mention':
      return <span class="att att-note" data-test="att-story_mention">Mentioned you in their {link('story')}</span>;
    case 'story_reply':
      return <span class="att att-note" data-test="att-story_reply">Replied to your {link('story')}</span>;
    case 'quick_reply':
      return <span class="att att-note" data-test="att-quick_reply">Quick reply <span class="chip">{a.payload}</span></span>;
    case 'postback':
      return <span class="att att-note" data-test="att-postback">Tapped the button “{a.title}” <span class="chip">{a.payload}</span></span>;
    case 'referral':
      return <span class="att att-note" data-test="att-referral">Opened the chat from a link{a.ref ? <> (ref <span class="chip">{a.ref}</span>)</> : null}</span>;
    case 'unsupported':
      return <span class="att att-note" data-test="att-unsupported">An Instagram event Parley does not show ({a.raw_type || 'unknown'})</span>;
    default:
      return <span class="att att-note" data-test="att-other">{a.type} {a.url ? link('attachment') : null}</span>;
  }
}

/**
 * A message's text with its mentions ("@Name" of each mentioned user) highlighted;
 * user text stays text, never markup.
 */
function Text({ text, mentions }) {
  if (!mentions || !mentions.length) return <span class="text">{text}</span>;
  const me = store.me ? store.me.id : null;
  const names = mentions.map((id) => ({ id, tag: `@${store.userName(id)}` }))
    .sort((a, b) => b.tag.length - a.tag.length);
  const parts = [];
  let rest = text;
  let key = 0;
  while (rest) {
    let best = null;
    for (const n of names) {
      const at = rest.indexOf(n.tag);
      if (at >= 0 && (!best || at < best.at)) best = { ...n, at };
    }
    if (!best) {
      parts.push(rest);
      break;
    }
    if (best.at) parts.push(rest.slice(0, best.at));
    parts.push(<span key={key++} class={`mention${best.id === me ? ' me' : ''}`} data-test="mention">{best.tag}</span>);
    rest = rest.slice(best.at + best.tag.length);
  }
  return <span class="text">{parts}</span>;
}

/** The quoted message's preview, as taken when the reply was sent (docs/API.md). */
function Quote({ q }) {
  const jump = () => {
    const node = document.querySelector(`.chat [data-seq="${q.seq}"]`);
    if (!node) return;
    node.scrollIntoView({ block: 'center' });
    node.classList.add('focused');
    setTimeout(() => node.classList.remove('focused'), 2000);
  };
  return (
    <button type="button" class="quote" onClick={jump} data-test="quote"
      aria-label={`Reply to ${store.userName(q.sender_id)}: ${q.text == null ? 'attachment' : q.text}`}>
      <span class="quote-who">{store.userName(q.sender_id)}</span>
      <span class="quote-text">{q.text == null ? 'Attachment' : q.text}</span>
    </button>
  );
}

/** A call's history message (docs/API.md, Calls). */
function callText(call) {
  const kind = call.media === 'video' ? 'Video call' : 'Call';
  if (call.status === 'ended') {
    const s = Math.round((call.duration_ms || 0) / 1000);
    return `${kind}, ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }
  return `${kind}: ${call.status === 'declined' ? 'declined' : call.status === 'busy' ? 'busy' : 'missed'}`;
}

function Body({ m, ig }) {
  if (m.deleted) return ig && String(m.sender_id || '').startsWith('ig:') ? 'The customer unsent this message' : 'This message was deleted';
  if (m.ciphertexts) return <SecretBody m={m} />;
  if (m.call) return <span class="call-record" data-test="call-record">{callText(m.call)}</span>;
  const atts = m.attachments || [];
  // A postback's text is its button title, said again by the attachment.
  const text = atts.some((a) => a.type === 'postback') ? null : m.text;
  if (text == null && !atts.length && !m.reply_to) return '[empty message]';
  return (
    <>
      {m.reply_to && <Quote q={m.reply_to} />}
      {text != null && <Text text={text} mentions={m.mentions} />}
      {atts.map((a, i) => <Attachment a={a} m={m} key={i} />)}
    </>
  );
}

/** Sent, delivered and read (docs/API.md, Receipts): `tick` is 'read', 'delivered' or 'sent'. */
function Ticks({ m, tick }) {
  if (m.failed) return <span class="error-text">Not sent: {m.failed}</span>;
  if (m.pending) return <span class="ticks" aria-label="Sending" data-test="tick-sending">🕓</span>;
  if (tick === 'read') return <span class="ticks read" aria-label="Read" data-test="tick-read">✓✓</span>;
  if (tick === 'delivered') return <span class="ticks delivered" aria-label="Delivered" data-test="tick-delivered">✓✓</span>;
  return <span class="ticks" aria-label="Sent" data-test="tick-sent">✓</span>;
}

/** A group message's readers, asked when opened (worked out by the server from positions). */
function ReadBy({ m, onClose }) {
  const [res, setRes] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api.reads(m.conversation_id, m.id).then(setRes, (e) => setError(e.message || 'Could not load'));
  }, [m.id, m.seq]);
  const names = (list) => list.map((x) => x.name || store.userName(x.user_id));
  return (
    <div class="read-by" role="dialog" aria-label="Read by" data-test="read-by">
      {error && <p class="error-text">{error}</p>}
      {!res && !error && <p class="muted small">Loading…</p>}
      {res && (
        <>
          <p class="small"><strong>Read by</strong> {res.read_by.length ? names(res.read_by).join(', ') : 'nobody yet'}</p>
          {res.delivered_to.length > 0 && (
            <p class="small"><strong>Delivered to</strong> {names(res.delivered_to).join(', ')}</p>
          )}
        </>
      )}
      <button class="small" onClick={onClose}>Close</button>
    </div>
  );
}

/** An Instagram reply's delivery: pending, sent, or failed with Graph's error and a Retry
 * that resends it with the same client_id (the server sends it at most once). */
function Delivery({ m, onError }) {
  const [busy, setBusy] = useState(false);
  if (m.status === 'pending') {
    return <span class="delivery pending" aria-label="Sending to Instagram" data-test="ig-pending">🕓 Sending…</span>;
  }
  if (m.status === 'sent') {
    return <span class="delivery sent" aria-label="Delivered to Instagram" data-test="ig-sent">✓ Sent</span>;
  }
  const err = m.error || {};
  const unknown = err.code === 'unknown_outcome';
  const retry = async () => {
    if (unknown && !confirm('Instagram did not answer: the customer may already have this message. Send it again?')) return;
    setBusy(true);
    onError('');
    try {
      const res = await client.send(m.conversation_id, m.text, { clientId: m.client_id });
      if (res && res.seq) store.onUpdated(res);
    } catch (e) {
      onError(e.message || 'Could not retry');
    }
    setBusy(false);
  };
  return (
    <div class="delivery failed" role="alert" data-test="ig-failed">
      <span class="error-text">Not delivered{unknown ? ' (outcome unknown)' : ''}: {err.message || 'Instagram refused it'}
        {err.code && !unknown ? ` (${err.code})` : ''}</span>
      {m.client_id && (
        <button class="small" disabled={busy} onClick={retry} data-test="ig-retry">{busy ? 'Retrying…' : 'Retry'}</button>
      )}
    </div>
  );
}

// A message re-renders only when it, its read state or its neighbourhood changes, so a
// page added to a window of hundreds costs the new messages only.
const Message = memo(function Message({ m, ig, own, showSender, senderPic, read, tick, group, admin }) {
  const [editing, setEditing] = useState(false);
  const [readers, setReaders] = useState(false);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState('');
  const [picking, setPicking] = useState(false);
  const me = store.me ? store.me.id : null;

  async function run(p) {
    setError('');
    try {
      const res = await p;
      if (res && res.seq) store.onUpdated(res);
      return true;
    } catch (e) {
      setError(e.message || 'That did not work');
      return false;
    }
  }
  const save = async () => {
    const text = draft.trim();
    if (!text || [...text].length > 4000) return setError('A message is 1 to 4000 characters.');
    if (await run(api.edit(m.id, text))) setEditing(false);
  };
  const toggle = (emoji) => {
    const r = (m.reactions || []).find((x) => x.emoji === emoji);
    const mine = r && me && r.user_ids.includes(me);
    if (mine) {
      run(api.unreact(m.id, emoji).then(() => ({ ...m, reactions: m.reactions
        .map((x) => (x.emoji === emoji ? { ...x, user_ids: x.user_ids.filter((u) => u !== me) } : x))
        .filter((x) => x.user_ids.length) })));
    } else {
      run(api.react(m.id, emoji));
    }
  };

  const kind = ig ? senderKind(m) : null;
  const cls = `msg${own ? ' own' : ''}${group && !own ? ' in-group' : ''}${m.deleted ? ' deleted' : ''}${m.failed ? ' failed' : ''}${!own && store.mentionsMe(m) ? ' mentions-me' : ''}`;
  return (
    <div class={cls} data-seq={m.seq || undefined} data-test="msg">
      {showSender && (
        <span class="msg-avatar" data-test="msg-avatar">
          <Avatar name={store.userName(m.sender_id)} id={m.sender_id} pic={senderPic} size="small" />
        </span>
      )}
      {showSender && <div class="sender">{store.userName(m.sender_id)}</div>}
      {editing ? (
        <div class="edit-box">
          <label class="sr-only" for={`edit-${m.id}`}>Edit message</label>
          <textarea id={`edit-${m.id}`} value={draft} rows={3} onInput={(e) => setDraft(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); save(); }
              if (e.key === 'Escape') setEditing(false);
            }} />
          <div class="row"><button class="primary" onClick={save}>Save</button><button onClick={() => setEditing(false)}>Cancel</button></div>
        </div>
      ) : (
        <div class="bubble" data-test="bubble">
          <Body m={m} ig={ig} />
        </div>
      )}
      {(m.reactions || []).length > 0 && (
        <div class="reactions">
          {m.reactions.map((r) => (
            <button key={r.emoji} aria-pressed={me && r.user_ids.includes(me) ? 'true' : 'false'} onClick={() => toggle(r.emoji)}
              aria-label={`${r.emoji} ${r.user_ids.length}, ${me && r.user_ids.includes(me) ? 'remove your reaction' : 'react'}`}>
              {r.emoji} {r.user_ids.length}
            </button>
          ))}
        </div>
      )}
      <div class="meta">
        {kind && <span class={`badge ${kind[0]}`} data-test="source-badge">{kind[1]}</span>}
        <time dateTime={m.created_at}>{clock(m.created_at)}</time>
        {m.edited_at && !m.deleted && <span data-test="edited">edited</span>}
        {own && !ig && <Ticks m={m} tick={tick} />}
        {own && ig && read && m.status !== 'failed' && <span class="ticks read" aria-label="Seen" data-test="tick-read">✓✓</span>}
        {own && ig && !read && m.status && m.status !== 'failed' && <Delivery m={m} onError={setError} />}
        {own && ig && !m.status && (m.pending || m.failed) && <Ticks m={m} tick="sent" />}
        {m.id && !m.deleted && !editing && (
          <span class="msg-actions">
            <button class="icon" aria-label="React" aria-expanded={picking ? 'true' : 'false'}
              onClick={() => setPicking(!picking)} data-test="react">☺</button>
            {!ig && !m.ciphertexts && m.seq && (
              <button class="icon" onClick={() => store.setReply(m.conversation_id, m)} data-test="reply">Reply</button>
            )}
            {own && group && (
              <button class="icon" aria-expanded={readers ? 'true' : 'false'} onClick={() => setReaders(!readers)} data-test="read-by-open">Read by</button>
            )}
            {own && !m.ciphertexts && <button class="icon" onClick={() => { setDraft(m.text || ''); setEditing(true); }} data-test="edit">Edit</button>}
            {(own || admin) && !ig && (
              <button class="icon" data-test="delete" onClick={() => {
                if (confirm('Delete this message for everyone?')) run(api.remove(m.id).then(() => ({ ...m, deleted: true, text: null })));
              }}>Delete</button>
            )}
          </span>
        )}
      </div>
      {own && ig && m.status === 'failed' && <Delivery m={m} onError={setError} />}
      {readers && <ReadBy m={m} onClose={() => setReaders(false)} />}
      {picking && (
        <div class="row" role="group" aria-label="Reactions">
          {EMOJI.map((e) => (
            <button key={e} class="icon" aria-label={`React ${e}`} onClick={() => { setPicking(false); toggle(e); }}>{e}</button>
          ))}
        </div>
      )}
      {error && <p class="error-text" role="alert">{error}</p>}
    </div>
  );
});

/**
 * The part of the window that is in the DOM. The store's window grows by pages of 50,
 * but a page put into the DOM at once costs one long frame (creating, styling and laying
 * out 50 messages), so at each end the DOM grows by at most REVEAL messages a frame (a
 * few live messages appear at once). `range` holds the seqs of the first and last
 * message shown; it survives re-renders, follows trims, and starts again at the newest
 * end when the window is replaced. `beforeReveal` runs before each growth step.
 */
const REVEAL = 10;

function useRevealed(items, beforeReveal) {
  const range = useRef(null);
  const frame = useRef(0);
  const [, setTick] = useState(0);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  const n = items.length;
  if (!n) {
    range.current = null;
    return { shown: items, done: true };
  }
  let r = range.current;
  if (!r || r.hi < items[0].seq || r.lo > items[n - 1].seq) {
    r = { lo: items[Math.max(0, n - REVEAL)].seq, hi: items[n - 1].seq, step: false };
  }
  let lo = 0;
  while (lo < n - 1 && items[lo].seq < r.lo) lo++;
  let hi = n - 1;
  while (hi > lo && items[hi].seq > r.hi) hi--;
  const grow = (missing) => (missing <= REVEAL || r.step ? Math.min(missing, REVEAL) : 0);
  lo -= grow(lo);
  hi += grow(n - 1 - hi);
  const done = lo === 0 && hi === n - 1;
  range.current = { lo: items[lo].seq, hi: items[hi].seq, step: false, done };
  if (!done && !frame.current) {
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      if (!range.current || range.current.done) return;
      beforeReveal();
      range.current.step = true;
      setTick((t) => t + 1);
    });
  }
  return { shown: done ? items : items.slice(lo, hi + 1), done };
}

export function MessageList({ conv, ch, loadOlder, loadNewer, onBottom }) {
  const box = useRef(null);
  const anchor = useRef(null);
  const bottom = useRef(true);

  // Before the DOM above the reader changes, remember a visible message and where it sits.
  const remember = () => {
    const el = box.current;
    if (!el || bottom.current) return;
    for (const node of el.querySelectorAll('[data-seq]')) {
      if (node.offsetTop + node.offsetHeight > el.scrollTop) {
        anchor.current = { seq: node.dataset.seq, offset: node.offsetTop - el.scrollTop };
        return;
      }
    }
  };
  const { shown, done } = useRevealed(ch.items, remember);
  const first = shown.length ? shown[0].seq : 0;
  const count = shown.length + ch.pending.length;
  const revealedFirst = !ch.items.length || ch.items[0].seq === first;

  // Pages load at the edges once the DOM holds the whole window.
  const edges = () => {
    const el = box.current;
    if (!el || !ch.loaded || !done) return;
    if (el.scrollTop < EDGE && ch.hasOlder) {
      remember();
      loadOlder();
    } else if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE && ch.hasNewer) {
      remember();
      loadNewer();
    }
  };

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (bottom.current) {
      el.scrollTop = el.scrollHeight;
      anchor.current = null;
    } else {
      const a = anchor.current;
      if (a) {
        const node = el.querySelector(`[data-seq="${a.seq}"]`);
        if (node) el.scrollTop = node.offsetTop - a.offset;
        anchor.current = null;
      }
    }
    // A reader who reached an edge while the DOM was still growing gets the next page now;
    // so does a first page shorter than the box, which cannot be scrolled.
    if (done && ch.loaded && ch.hasOlder && el.scrollHeight <= el.clientHeight + 40) loadOlder();
    else if (!bottom.current) edges();
  }, [first, count, ch.hasNewer, done, ch.loaded]);

  const onScroll = () => {
    const el = box.current;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40 && !ch.hasNewer;
    if (atBottom !== bottom.current) {
      bottom.current = atBottom;
      onBottom(atBottom);
    }
    edges();
  };

  const me = store.me ? store.me.id : null;
  // An Instagram contact's read position comes with the conversation (after a reload)
  // and live as read frames from "ig:<id>".
  const ig = conv.type === 'instagram';
  const readSeq = Math.max(store.readByOthers(conv.id), (conv.contact && conv.contact.last_read_seq) || 0);
  // Direct and group: read or delivered once every other participant got that far.
  const others = ig ? null : store.othersPositions(conv);
  const tickOf = (m) => (!m.seq ? 'sent' : others.read >= m.seq ? 'read'
    : others.delivered >= m.seq ? 'delivered' : 'sent');
  const admin = conv.type === 'channel' ? conv.role === 'admin'
    : (conv.participants || []).some((p) => p.id === me && p.role === 'admin');
  const rows = [];
  let prevDay = 0;
  let prevSender = null;
  const all = ch.pending.length ? shown.concat(ch.pending) : shown;
  for (const m of all) {
    const day = dayKey(m.created_at);
    if (day !== prevDay) {
      rows.push(<div class="day" key={`d${day}`} data-test="day"><span>{dayLabel(m.created_at)}</span></div>);
      prevDay = day;
      prevSender = null;
    }
    const own = m.sender_id === me;
    rows.push(
      <Message key={m.seq ? `s${m.seq}` : `p${m.client_id}`} m={m} ig={ig} own={own} admin={admin}
        read={own && ig && !!m.seq && readSeq >= m.seq} tick={own && !ig ? tickOf(m) : null}
        group={conv.type === 'group'}
        showSender={!own && conv.type === 'group' && m.sender_id !== prevSender}
        senderPic={!own && conv.type === 'group' ? store.userPic(m.sender_id) : null} />,
    );
    prevSender = m.sender_id;
  }
  return (
    <div class="messages" ref={box} onScroll={onScroll} role="region" aria-label="Messages" data-test="messages" tabIndex={0}>
      {ch.loaded && !ch.hasOlder && revealedFirst && <p class="list-status" data-test="history-start">This is the beginning of the conversation.</p>}
      {ch.loaded && (ch.hasOlder || !revealedFirst) && <p class="list-status">Loading earlier messages…</p>}
      {!ch.loaded && <p class="list-status">{ch.error || 'Loading…'}</p>}
      {rows}
      {ch.hasNewer && <p class="list-status">{ch.newBelow ? `${ch.newBelow} new messages below…` : 'Loading newer messages…'}</p>}
    </div>
  );
}
