/** @jsxRuntime classic */
/** @jsx h */
// The trigger panel: flow.trigger (keywords and how they match, or any
// message) and which step comes first, which the canvas shows as the edge
// leaving the trigger.
import { h, Fragment } from 'preact';

import { TRIGGER_ID, summary } from './model.js';

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
