/** @jsxRuntime classic */
/** @jsx h */
// The test panel: the dry run of docs/API.md (nothing is sent or stored) with
// its status, the replies it would send and the path it took, which the
// editor also highlights on the canvas.
import { h, Fragment } from 'preact';
import { useState } from 'preact/hooks';

import { resultText } from './model.js';
import { STATUS_TEXT } from './status.js';

function Trace({ trace }) {
  return (
    <ol class="flow-trace">
      {trace.map((t, i) => (
        <li key={i}>
          <span class="flow-node__id">{t.node_id}</span> <span class="flow-trace__type">{t.type}</span> {resultText(t)}
        </li>
      ))}
    </ol>
  );
}

export function TestPanel({ onRun, result, busy, error, onClear }) {
  const [text, setText] = useState('');
  const [username, setUsername] = useState('');
  const submit = (e) => {
    e.preventDefault();
    if (text.trim()) onRun(text, username.trim() ? { username: username.trim() } : null);
  };
  return (
    <section class="flow-panel flow-test" aria-labelledby="flow-test-title">
      <h2 id="flow-test-title" class="flow-panel__title">
        Test
      </h2>
      <form onSubmit={submit} class="flow-test__form">
        <div class="flow-field">
          <label for="flow-test-text">Incoming message</label>
          <input id="flow-test-text" class="flow-input" value={text} maxLength={4000} onInput={(e) => setText(e.currentTarget.value)} />
        </div>
        <div class="flow-field">
          <label for="flow-test-username">Contact username (optional)</label>
          <input id="flow-test-username" class="flow-input" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </div>
        <div class="flow-row">
          <button type="submit" class="flow-button flow-button--primary" disabled={busy || !text.trim()}>
            {busy ? 'Running…' : 'Run test'}
          </button>
          {result && (
            <button type="button" class="flow-button" onClick={onClear}>
              Clear highlight
            </button>
          )}
        </div>
        <p class="flow-muted">A dry run: nothing is sent or stored. The flow is saved first.</p>
      </form>
      <div aria-live="polite" class="flow-test__result">
        {error && <p class="flow-field__error">{error}</p>}
        {result && (
          <Fragment>
            <p class={`flow-status flow-status--${result.status}`} data-status={result.status}>
              Status: <strong>{STATUS_TEXT[result.status] || result.status}</strong>, {result.trace.length} step
              {result.trace.length === 1 ? '' : 's'}
            </p>
            {result.outputs.length > 0 ? (
              <Fragment>
                <h3 class="flow-panel__subtitle">Replies</h3>
                <ul class="flow-outputs">
                  {result.outputs.map((o, i) => (
                    <li key={i} class="flow-outputs__item">
                      {o}
                    </li>
                  ))}
                </ul>
              </Fragment>
            ) : (
              <p class="flow-muted">No reply would be sent.</p>
            )}
            <h3 class="flow-panel__subtitle">Path</h3>
            {result.trace.length ? <Trace trace={result.trace} /> : <p class="flow-muted">The trigger would not start any step.</p>}
          </Fragment>
        )}
      </div>
    </section>
  );
}
