/** @jsxRuntime classic */
/** @jsx h */
// The caller's flows: name, status, trigger and last change, with a way to
// start a new one. Opening one hands its id to the router.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { triggerSummary } from './model.js';

const steps = (n) => `${n} step${n === 1 ? '' : 's'}`;

const STATUS_LABELS = { draft: 'Draft', active: 'Active', archived: 'Archived' };

export function FlowList({ api, onOpen, onNew }) {
  const [state, setState] = useState({ flows: null, error: null });
  useEffect(() => {
    let live = true;
    api.list().then(
      (flows) => live && setState({ flows, error: null }),
      (e) => live && setState({ flows: null, error: e.message }),
    );
    return () => {
      live = false;
    };
  }, [api]);
  const flows = state.flows
    ? [...state.flows].sort((a, b) => (a.status === 'archived') - (b.status === 'archived') || (b.updated_at || '').localeCompare(a.updated_at || ''))
    : null;
  return (
    <section class="flows-list" aria-labelledby="flows-list-title">
      <div class="flow-row flow-row--between">
        <h1 id="flows-list-title" class="flows-list__title">
          Flows
        </h1>
        <button type="button" class="flow-button flow-button--primary" onClick={onNew}>
          New flow
        </button>
      </div>
      <p class="flow-muted">Automations that answer Instagram messages. Only active flows run.</p>
      {state.error && (
        <p class="flow-field__error" role="alert">
          {state.error}
        </p>
      )}
      {!flows && !state.error && (
        <p class="flow-muted" role="status">
          Loading…
        </p>
      )}
      {flows && flows.length === 0 && <p class="flow-muted">No flows yet. Start one with “New flow”.</p>}
      {flows && flows.length > 0 && (
        <ul class="flows-list__items">
          {flows.map((f) => (
            <li key={f.id} class={`flows-list__item flows-list__item--${f.status}`}>
              <button type="button" class="flows-list__open" onClick={() => onOpen(f.id)}>
                <span class="flows-list__name">{f.name}</span>
                <span class="flow-muted flows-list__trigger">{triggerSummary(f.trigger)}</span>
              </button>
              <span class={`flow-badge flow-badge--${f.status}`}>{STATUS_LABELS[f.status] || f.status}</span>
              <span class="flow-muted">{steps((f.nodes || []).length)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
