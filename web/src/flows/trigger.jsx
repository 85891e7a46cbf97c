/** @jsxRuntime classic */
/** @jsx h */
// The trigger panel: flow.trigger (keywords, any message, a comment, a story
// reply or mention, a button or quick reply, an ig.me link), which step comes
// first (the canvas shows it as the edge leaving the trigger) and the flow's
// settings (priority, run once, cooldown).
import { h, Fragment } from 'preact';

import { TimezoneField } from '../timezone_field.jsx';
import { TRIGGER_ID, summary } from './model.js';

const TYPES = [
  ['keyword', 'A keyword matches'],
  ['any_message', 'Any message arrives'],
  ['comment', 'Someone comments on a post or reel'],
  ['story_reply', 'Someone replies to your story'],
  ['story_mention', 'Someone mentions you in a story'],
  ['postback', 'A button or quick reply is tapped'],
  ['referral', 'Someone opens an ig.me link'],
];

function Line({ id, label, hint, value, onInput, multiline }) {
  const Input = multiline ? 'textarea' : 'input';
  return (
    <div class="flow-field">
      <label for={id}>{label}</label>
      <Input
        id={id}
        class="flow-input"
        rows={multiline ? 2 : undefined}
        value={value || ''}
        aria-describedby={hint ? `${id}-hint` : undefined}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      {hint && (
        <p class="flow-field__hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

function Match({ trigger, onChange }) {
  return (
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
  );
}

/** Priority, run once and cooldown: which flow runs when several match. */
function Settings({ settings, onSettings }) {
  const s = settings || {};
  return (
    <fieldset class="flow-settings">
      <legend>When several flows match</legend>
      <div class="flow-field">
        <label for="flow-settings-priority">Priority</label>
        <input
          id="flow-settings-priority"
          class="flow-input flow-input--small"
          type="number"
          min={-1000}
          max={1000}
          value={s.priority == null ? 0 : s.priority}
          aria-describedby="flow-settings-priority-hint"
          onInput={(e) => onSettings({ ...s, priority: e.currentTarget.value })}
        />
        <p class="flow-field__hint" id="flow-settings-priority-hint">
          The highest runs; equal priorities go to the oldest flow. One flow runs per message.
        </p>
      </div>
      <div class="flow-field flow-field--check">
        <input
          id="flow-settings-once"
          type="checkbox"
          checked={!!s.run_once}
          onChange={(e) => onSettings({ ...s, run_once: e.currentTarget.checked })}
        />
        <label for="flow-settings-once">Run once per contact</label>
      </div>
      <div class="flow-field">
        <label for="flow-settings-cooldown">Cooldown per contact (seconds)</label>
        <input
          id="flow-settings-cooldown"
          class="flow-input flow-input--small"
          type="number"
          min={0}
          max={2592000}
          value={s.cooldown_seconds || 0}
          onInput={(e) => onSettings({ ...s, cooldown_seconds: e.currentTarget.value })}
        />
      </div>
    </fieldset>
  );
}

export function TriggerPanel({ trigger, onChange, settings, onSettings, nodes, start, onStart, error, api }) {
  const type = trigger.type || 'keyword';
  const steps = nodes.filter((n) => n.id !== TRIGGER_ID);
  const set = (k) => (v) => onChange({ ...trigger, [k]: v });
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
          {TYPES.map(([v, label]) => (
            <option value={v} key={v}>
              {label}
            </option>
          ))}
        </select>
      </div>
      {type === 'keyword' && (
        <Fragment>
          <Line
            id="flow-trigger-keywords"
            label="Keywords"
            hint="Separate keywords with commas; case does not matter."
            value={trigger.keywordsText}
            onInput={set('keywordsText')}
          />
          <Match trigger={trigger} onChange={onChange} />
        </Fragment>
      )}
      {type === 'comment' && (
        <Fragment>
          <Line
            id="flow-trigger-media"
            label="Only on these posts (media ids)"
            hint="Comma-separated; empty: every post and reel."
            value={trigger.media_ids}
            onInput={set('media_ids')}
          />
          <Line
            id="flow-trigger-keywords"
            label="Only comments with these keywords"
            hint="Comma-separated; empty: every comment. The first message goes as a private reply to the comment."
            value={trigger.keywordsText}
            onInput={set('keywordsText')}
          />
          <Line
            id="flow-trigger-public"
            label="Public reply under the comment (optional)"
            value={trigger.public_reply}
            multiline
            onInput={set('public_reply')}
          />
        </Fragment>
      )}
      {type === 'postback' && (
        <Line
          id="flow-trigger-payloads"
          label="Payloads"
          hint="Comma-separated, exactly as the buttons' and quick replies' payloads."
          value={trigger.payloads}
          onInput={set('payloads')}
        />
      )}
      {type === 'referral' && (
        <Line
          id="flow-trigger-refs"
          label="ig.me refs"
          hint="Comma-separated ref values of ig.me/you?ref=…; empty: any link."
          value={trigger.refs}
          onInput={set('refs')}
        />
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
      {onSettings && <Settings settings={settings} onSettings={onSettings} />}
      {api && (
        <fieldset class="flow-settings flow-timezone" data-test="flow-timezone">
          <legend>Time conditions (every flow)</legend>
          <TimezoneField
            id="flow-timezone"
            load={api.account}
            save={api.setTimezone}
            inputClass="flow-input"
            buttonClass="flow-button flow-button--small"
            hintClass="flow-field__hint"
            errorClass="flow-field__error"
          />
        </fieldset>
      )}
      {error && (
        <p class="flow-field__error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
