// The message box: Enter sends, Shift+Enter starts a new line; a message over 4000
// characters is refused here with the reason; typing is signalled while the person types.
import { useEffect, useRef, useState } from 'preact/hooks';

export const MAX_TEXT = 4000;
const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;

export function Composer({ conv, disabled, onSend, onTyping }) {
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const area = useRef(null);
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

  function input(e) {
    const v = e.currentTarget.value;
    setText(v);
    setError('');
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
    if (!body || disabled || busy) return;
    if (over) {
      setError(`This message is too long: ${length} characters, and a message can have at most ${MAX_TEXT}. Shorten it or split it into several messages.`);
      return;
    }
    stopTyping();
    const result = onSend(body);
    if (result && typeof result.then === 'function') {
      setBusy(true);
      try {
        await result;
        setText('');
      } catch (e) {
        setError(e.code === 'outside_messaging_window'
          ? 'Not sent: the 24-hour reply window has closed for this customer.'
          : (e && e.message) || 'Not sent');
      } finally {
        setBusy(false);
      }
    } else {
      setText('');
    }
    if (area.current) area.current.focus();
  }

  const id = `composer-${conv.id}`;
  return (
    <div class="composer-wrap">
      <form class="composer" onSubmit={(e) => { e.preventDefault(); send(); }}>
        <label class="sr-only" for={id}>Message</label>
        <textarea id={id} ref={area} rows={1} value={text} disabled={disabled} data-test="composer"
          placeholder={disabled ? 'Replies are closed' : 'Write a message…'}
          aria-invalid={over ? 'true' : undefined} aria-describedby={`${id}-count ${id}-error`}
          onInput={input}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            }
          }} />
        <button type="submit" class="primary" disabled={disabled || busy || over || !text.trim()} data-test="send">Send</button>
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
