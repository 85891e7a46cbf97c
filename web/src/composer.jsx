// The message box: Enter sends, Shift+Enter starts a new line; a message over 4000
// characters is refused here with the reason; typing is signalled while the person types.
// A quoted message (replyTo) shows above the box until sent or cancelled; "@" opens a
// list of the conversation's other participants, and the ones picked (and still named
// in the text) are sent as mentions. Files come through the attach button, a drop on the
// box or a paste; they upload at once (attachments.jsx) and go with the message.
import { useEffect, useRef, useState } from 'preact/hooks';
import { PendingFiles, useUploads } from './attachments.jsx';
import { store } from './store.js';

export const MAX_TEXT = 4000;
const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;

const MENTIONS_MAX = 20; // docs/API.md, Replies and mentions
const SUGGESTIONS = 6;

/** The "@query" being typed just before the caret, or null. */
function mentionQuery(text, caret) {
  const m = /(^|\s)@([^\s@]{0,30})$/.exec(text.slice(0, caret));
  return m ? { query: m[2], start: caret - m[2].length - 1 } : null;
}

export function Composer({ conv, disabled, onSend, onTyping, replyTo, onCancelReply }) {
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [picked, setPicked] = useState([]); // [{id, name}] mentioned so far
  const [suggest, setSuggest] = useState(null); // {query, start, items, at}
  const area = useRef(null);
  const picker = useRef(null);
  const [dragging, setDragging] = useState(false);
  const uploads = useUploads();
  // An Instagram message carries text or one image, video or audio file (docs/API.md).
  const canAttach = conv.type !== 'secret' && !disabled;
  const typingAt = useRef(0);
  const idle = useRef(null);

  const stopTyping = () => {
    clearTimeout(idle.current);
    if (typingAt.current && onTyping) onTyping('stop');
    typingAt.current = 0;
  };
  useEffect(() => stopTyping, []);

  const length = [...text].length;
  const over = length > MAX_TEXT;

  const mentionable = conv.type === 'instagram' || conv.type === 'secret' ? []
    : (conv.participants || []).filter((p) => !store.me || p.id !== store.me.id);

  function lookFor(v, caret) {
    const q = mentionable.length ? mentionQuery(v, caret) : null;
    if (!q) return setSuggest(null);
    const low = q.query.toLowerCase();
    const items = mentionable.filter((p) => (p.name || '').toLowerCase().includes(low)).slice(0, SUGGESTIONS);
    setSuggest(items.length ? { ...q, items, at: 0 } : null);
  }

  function pick(p) {
    const el = area.current;
    const caret = el ? el.selectionStart : text.length;
    const before = text.slice(0, suggest.start);
    const after = text.slice(caret);
    const next = `${before}@${p.name} ${after}`;
    setText(next);
    if (!picked.some((x) => x.id === p.id)) setPicked([...picked, { id: p.id, name: p.name }]);
    setSuggest(null);
    const at = before.length + p.name.length + 2;
    requestAnimationFrame(() => {
      if (area.current) {
        area.current.focus();
        area.current.setSelectionRange(at, at);
      }
    });
  }

  function input(e) {
    const v = e.currentTarget.value;
    setText(v);
    setError('');
    lookFor(v, e.currentTarget.selectionStart);
    if (!onTyping) return;
    const now = Date.now();
    if (v && now - typingAt.current > TYPING_EVERY_MS) {
      typingAt.current = now;
      onTyping('start');
    }
    clearTimeout(idle.current);
    idle.current = setTimeout(stopTyping, TYPING_IDLE_MS);
    if (!v) stopTyping();
  }

  async function send() {
    const body = text.trim();
    const files = uploads.ready;
    if ((!body && !files.length) || disabled || busy || uploads.busy) return;
    if (conv.type === 'instagram' && files.length && (body || files.length > 1)) {
      setError('Instagram takes either text or one file per message: send them one by one.');
      return;
    }
    if (over) {
      setError(`This message is too long: ${length} characters, and a message can have at most ${MAX_TEXT}. Shorten it or split it into several messages.`);
      return;
    }
    // Mentions picked from the list whose "@name" is still in the text.
    const mentions = picked.filter((p) => body.includes(`@${p.name}`)).map((p) => p.id);
    if (mentions.length > MENTIONS_MAX) {
      setError(`A message can mention at most ${MENTIONS_MAX} people.`);
      return;
    }
    stopTyping();
    setSuggest(null);
    const result = onSend(body || null, { mentions, replyTo, attachments: files });
    if (files.length) uploads.clear();
    if (result && typeof result.then === 'function') {
      setBusy(true);
      try {
        await result;
        setText('');
        setPicked([]);
      } catch (e) {
        setError(e.code === 'outside_messaging_window'
          ? 'Not sent: the 24-hour reply window has closed for this customer.'
          : (e && e.message) || 'Not sent');
      } finally {
        setBusy(false);
      }
    } else {
      setText('');
      setPicked([]);
    }
    if (area.current) area.current.focus();
  }

  useEffect(() => {
    if (replyTo && area.current) area.current.focus();
  }, [replyTo && replyTo.id]);

  const id = `composer-${conv.id}`;
  const dropProps = canAttach ? {
    onDragOver: (e) => {
      if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) {
        e.preventDefault();
        setDragging(true);
      }
    },
    onDragLeave: () => setDragging(false),
    onDrop: (e) => {
      setDragging(false);
      if (e.dataTransfer && e.dataTransfer.files.length) {
        e.preventDefault();
        uploads.add(e.dataTransfer.files);
      }
    },
  } : {};
  const hasFiles = uploads.ready.length > 0;
  return (
    <div class={`composer-wrap${dragging ? ' dragging' : ''}`} {...dropProps}>
      {replyTo && (
        <div class="reply-bar" data-test="reply-bar">
          <span class="quote">
            <span class="quote-who">Replying to {store.userName(replyTo.sender_id)}</span>
            <span class="quote-text">{replyTo.text == null ? 'Attachment' : replyTo.text.slice(0, 100)}</span>
          </span>
          <button type="button" class="icon" aria-label="Cancel the reply" onClick={onCancelReply} data-test="reply-cancel">✕</button>
        </div>
      )}
      {suggest && (
        <ul class="mention-list" role="listbox" aria-label="Mention someone" data-test="mention-list">
          {suggest.items.map((p, i) => (
            <li key={p.id} role="option" aria-selected={i === suggest.at ? 'true' : 'false'}
              class={i === suggest.at ? 'active' : ''} data-test="mention-option"
              onMouseDown={(e) => { e.preventDefault(); pick(p); }}>@{p.name}</li>
          ))}
        </ul>
      )}
      <PendingFiles uploads={uploads} />
      <form class="composer" onSubmit={(e) => { e.preventDefault(); send(); }}>
        {canAttach && (
          <>
            <input ref={picker} type="file" multiple class="sr-only" tabIndex={-1} aria-hidden="true"
              data-test="file-input"
              onChange={(e) => { uploads.add(e.currentTarget.files); e.currentTarget.value = ''; }} />
            <button type="button" class="icon attach" aria-label="Attach files" title="Attach files"
              onClick={() => picker.current && picker.current.click()} data-test="attach">
              <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none" stroke="currentColor"
                stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
                <path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7L14 4.5a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7.5" />
              </svg>
            </button>
          </>
        )}
        <label class="sr-only" for={id}>Message</label>
        <textarea id={id} ref={area} rows={1} value={text} disabled={disabled} data-test="composer"
          placeholder={disabled ? 'Replies are closed' : 'Write a message…'}
          aria-invalid={over ? 'true' : undefined} aria-describedby={`${id}-count ${id}-error`}
          onInput={input}
          onPaste={(e) => {
            const files = e.clipboardData ? [...e.clipboardData.files] : [];
            if (canAttach && files.length) {
              e.preventDefault();
              uploads.add(files);
            }
          }}
          onKeyDown={(e) => {
            if (suggest) {
              const n = suggest.items.length;
              if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
                e.preventDefault();
                setSuggest({ ...suggest, at: (suggest.at + (e.key === 'ArrowDown' ? 1 : n - 1)) % n });
                return;
              }
              if (e.key === 'Enter' || e.key === 'Tab') {
                e.preventDefault();
                pick(suggest.items[suggest.at]);
                return;
              }
              if (e.key === 'Escape') {
                setSuggest(null);
                return;
              }
            }
            if (e.key === 'Escape' && replyTo && onCancelReply) onCancelReply();
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            }
          }} />
        <button type="submit" class="primary" data-test="send"
          disabled={disabled || busy || over || uploads.busy || (!text.trim() && !hasFiles)}>Send</button>
      </form>
      <div id={`${id}-count`} class={`counter${over ? ' over' : ''}`} aria-live="polite">
        {length > MAX_TEXT - 500 ? `${length} / ${MAX_TEXT}` : ''}
      </div>
      <div id={`${id}-error`} class="composer-error">
        {(error || over) && (
          <p class="error-text" role="alert" data-test="composer-error">
            {error || `Too long: ${length} characters, at most ${MAX_TEXT} fit in one message.`}
          </p>
        )}
      </div>
    </div>
  );
}
