/** @jsxRuntime classic */
/** @jsx h */
// The flow's published versions: which one is live, publishing the draft,
// and restoring an earlier version into the draft (publish it to make it
// live). Runs keep the version they started on, whatever happens here.
import { h } from 'preact';

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function VersionsPanel({ versions, live, error, busy, canPublish, onPublish, onRestore }) {
  return (
    <section class="flow-panel flow-versions" aria-labelledby="flow-versions-title" data-test="flow-versions">
      <div class="flow-row flow-row--between">
        <h2 id="flow-versions-title" class="flow-panel__title">
          Versions
        </h2>
        <button type="button" class="flow-button flow-button--small flow-button--primary" disabled={busy || !canPublish}
          onClick={onPublish} data-test="flow-publish">
          Publish
        </button>
      </div>
      <p class="flow-muted">
        {live ? `Version ${live} is live: new runs start on it.` : 'Not published yet: publishing makes the draft live.'}
      </p>
      {error && <p class="flow-field__error">{error}</p>}
      {versions && versions.length > 0 && (
        <ul class="flow-versions__list">
          {versions.map((v) => (
            <li key={v.version} class={`flow-version${v.version === live ? ' is-live' : ''}`} data-version={v.version}>
              <span class="flow-version__n">v{v.version}</span>
              <time dateTime={v.created_at}>{when(v.created_at)}</time>
              {v.version === live && <span class="flow-badge flow-badge--active">live</span>}
              <button type="button" class="flow-button flow-button--small" disabled={busy}
                aria-label={`Restore version ${v.version} into the draft`} onClick={() => onRestore(v.version)}>
                Restore
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
