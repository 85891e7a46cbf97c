/** @jsxRuntime classic */
/** @jsx h */
// The builder's side panels: the trigger (flow.trigger and which step comes
// first), the palette that adds steps, the test panel (the dry run) and the
// runs log. Each panel is a labelled section usable by keyboard alone.
import { h, Fragment } from 'preact';
import { useState } from 'preact/hooks';

import { NODE_TYPES, TRIGGER_ID, TYPE_LABELS, resultText, summary } from './model.js';

export function TriggerPanel({ trigger, onChange, nodes, start, onStart, error }) {
  const type = trigger.type === 'keyword' ? 'keyword' : 'any_message';
  const steps = nodes.filter((n) => n.id !== TRIGGER_ID);
  return (
    <section class={`flow-panel flow-trigger${error ? ' has-error' : ''}`} aria-labelledby="flow-trigger-title">
      <h2 id="flow-trigger-title" class="flow-panel__title">
        Trigger
      </h2>
      <div class="flow-field">
        <label for="flow-trigger-type">Runs when</label>
        <select
          id="flow-trigger-type"
          class="flow-input"
          value={type}
          onChange={(e) => onChange({ ...trigger, type: e.currentTarget.value })}
        >
          <option value="keyword">A keyword matches</option>
          <option value="any_message">Any message arrives</option>
        </select>
      </div>
      {type === 'keyword' && (
        <Fragment>
          <div class="flow-field">
            <label for="flow-trigger-keywords">Keywords</label>
            <input
              id="flow-trigger-keywords"
              class="flow-input"
              value={trigger.keywordsText}
              aria-describedby="flow-trigger-keywords-hint"
              onInput={(e) => onChange({ ...trigger, keywordsText: e.currentTarget.value })}
            />
            <p class="flow-field__hint" id="flow-trigger-keywords-hint">
              Separate keywords with commas; case does not matter.
            </p>
          </div>
          <div class="flow-field">
            <label for="flow-trigger-match">Match</label>
            <select
              id="flow-trigger-match"
              class="flow-input"
              value={trigger.match || 'contains'}
              onChange={(e) => onChange({ ...trigger, match: e.currentTarget.value })}
            >
              <option value="contains">Contains a keyword</option>
              <option value="exact">Is exactly a keyword</option>
              <option value="starts_with">Starts with a keyword</option>
            </select>
          </div>
        </Fragment>
      )}
      <div class="flow-field">
        <label for="flow-trigger-start">First step</label>
        <select id="flow-trigger-start" class="flow-input" value={start || ''} onChange={(e) => onStart(e.currentTarget.value || null)}>
          <option value="">(none yet)</option>
          {steps.map((n) => (
            <option value={n.id} key={n.id}>
              {`${n.id}: ${summary(n.type, n.data.fields)}`}
            </option>
          ))}
        </select>
      </div>
      {error && (
        <p class="flow-field__error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

export function Palette({ onAdd }) {
  return (
    <section class="flow-panel flow-palette" aria-labelledby="flow-palette-title">
      <h2 id="flow-palette-title" class="flow-panel__title">
        Add a step
      </h2>
      <div class="flow-palette__items">
        {NODE_TYPES.map((t) => (
          <button type="button" key={t} class={`flow-palette__item flow-palette__item--${t}`} onClick={() => onAdd(t)} aria-label={`Add a ${TYPE_LABELS[t].toLowerCase()} step`}>
            {TYPE_LABELS[t]}
          </button>
        ))}
      </div>
      <p class="flow-muted flow-palette__help">
        On the canvas: Tab to a step and press Enter to select it, arrow keys move it, Delete removes it. Drag from a step's
        right edge to another step to connect them, or use the step's “go to” lists.
      </p>
    </section>
  );
}

const STATUS_TEXT = {
  completed: 'completed',
  failed: 'failed',
  step_limit: 'stopped at the step limit',
  output_limit: 'stopped: too much text',
  waiting: 'waiting',
  running: 'running',
};

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

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function RunsPanel({ runs, error, onRefresh, onShow, shown }) {
  return (
    <section class="flow-panel flow-runs" aria-labelledby="flow-runs-title">
      <div class="flow-row flow-row--between">
        <h2 id="flow-runs-title" class="flow-panel__title">
          Runs
        </h2>
        <button type="button" class="flow-button flow-button--small" onClick={onRefresh}>
          Refresh
        </button>
      </div>
      {error && <p class="flow-field__error">{error}</p>}
      {runs && runs.length === 0 && <p class="flow-muted">No runs yet. Active flows run when a matching Instagram message arrives.</p>}
      {runs && runs.length > 0 && (
        <ul class="flow-runs__list">
          {runs.map((r) => (
            <li key={r.id} class={`flow-run${shown === r.id ? ' is-shown' : ''}`}>
              <span class={`flow-status flow-status--${r.status}`}>{STATUS_TEXT[r.status] || r.status}</span>
              <time dateTime={r.created_at}>{when(r.created_at)}</time>
              <span class="flow-muted">
                {(r.trace || []).length} step{(r.trace || []).length === 1 ? '' : 's'}
              </span>
              <button
                type="button"
                class="flow-button flow-button--small"
                aria-pressed={shown === r.id ? 'true' : 'false'}
                onClick={() => onShow(r)}
              >
                Show path
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
