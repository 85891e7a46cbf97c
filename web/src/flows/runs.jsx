/** @jsxRuntime classic */
/** @jsx h */
// The runs log: the flow's recorded runs, newest first, each with its status,
// time and length, and a button that highlights its path on the canvas.
import { h } from 'preact';

import { STATUS_TEXT } from './status.js';

const MAX_SHOWN_REPLIES = 3;

/** The texts a run sent, from its trace. */
function replies(run) {
  return (run.trace || []).filter((t) => t.result && typeof t.result.text === 'string').map((t) => t.result.text);
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
              {replies(r).length > 0 && (
                <ul class="flow-run__replies" aria-label="Replies sent">
                  {replies(r)
                    .slice(0, MAX_SHOWN_REPLIES)
                    .map((text, i) => (
                      <li key={i}>{text}</li>
                    ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
