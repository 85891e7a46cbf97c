/** @jsxRuntime classic */
/** @jsx h */
// The selected step's editor: its fields, the variable chips that insert
// {{contact.username}}, {{message.text}} and {{vars.NAME}} into template
// fields, the outputs as selects (connecting without a mouse), and delete.
import { h, Fragment } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

import {
  MAX_DELAY_S,
  TRIGGER_ID,
  TYPE_LABELS,
  WEEKDAYS,
  branchesOf,
  humanSeconds,
  insertAt,
  mapRows,
  outputsOf,
  parseButtons,
  parseQuickReplies,
  summary,
  validVarName,
} from './model.js';

/** A list edited as rows of fields (quick replies, buttons, branches, an
 * api_call's headers and mapping): each row its inputs and a remove button,
 * and a button that adds an empty row, up to max. A column is {key, label,
 * placeholder?, type?, options?}; key may be a function of the row (a
 * button's payload or URL, by its type). */
function Rows({ id, label, hint, rows, columns, max, addLabel, blank, onChange }) {
  const list = Array.isArray(rows) ? rows : [];
  const keyOf = (c, row) => (typeof c.key === 'function' ? c.key(row) : c.key);
  const put = (i, key, v) => onChange(list.map((r, k) => (k === i ? { ...r, [key]: v } : r)));
  return (
    <fieldset class="flow-rows" id={id} aria-describedby={hint ? `${id}-hint` : undefined}>
      <legend>{label}</legend>
      {list.length === 0 && <p class="flow-field__hint">None yet.</p>}
      {list.map((row, i) => (
        <div class="flow-rows__row" key={i} data-test="flow-row">
          {columns.map((c) => {
            const key = keyOf(c, row);
            const cid = `${id}-${i}-${c.name || key}`;
            const aria = `${c.label} ${i + 1}`;
            return c.options ? (
              <select id={cid} class="flow-input flow-rows__input" aria-label={aria} value={row[key] || c.options[0][0]} onChange={(e) => put(i, key, e.currentTarget.value)}>
                {c.options.map(([v, t]) => (
                  <option key={v} value={v}>
                    {t}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={cid}
                class={`flow-input flow-rows__input${c.type === 'number' ? ' flow-rows__input--number' : ''}`}
                type={c.type || 'text'}
                aria-label={aria}
                placeholder={typeof c.placeholder === 'function' ? c.placeholder(row) : c.placeholder}
                value={row[key] == null ? '' : row[key]}
                onInput={(e) => put(i, key, e.currentTarget.value)}
              />
            );
          })}
          <button
            type="button"
            class="flow-button flow-button--small flow-rows__remove"
            aria-label={`Remove ${label.toLowerCase()} row ${i + 1}`}
            title="Remove"
            onClick={() => onChange(list.filter((_, k) => k !== i))}
          >
            ×
          </button>
        </div>
      ))}
      <button
        type="button"
        class="flow-button flow-button--small flow-rows__add"
        id={`${id}-add`}
        disabled={list.length >= max}
        onClick={() => onChange([...list, { ...blank }])}
      >
        + {addLabel}
      </button>
      {hint && (
        <p class="flow-field__hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </fieldset>
  );
}

/** The rows a field holds: the list as the API gave it, or parsed from the
 * text form an older draft kept. */
function rowsOf(f, key, textKey, parse) {
  return typeof f[textKey] === 'string' ? parse(f[textKey]) : Array.isArray(f[key]) ? f[key] : [];
}

const QUICK_REPLY_COLUMNS = [
  { key: 'title', label: 'Title', placeholder: 'Title (20 characters)' },
  { key: 'payload', label: 'Payload', placeholder: 'PAYLOAD' },
];
const BUTTON_COLUMNS = [
  {
    key: 'type',
    label: 'Kind',
    options: [
      ['postback', 'Postback'],
      ['url', 'Link'],
    ],
  },
  { key: 'title', label: 'Title', placeholder: 'Title (20 characters)' },
  {
    name: 'value',
    key: (b) => (b.type === 'url' ? 'url' : 'payload'),
    label: 'Payload or link',
    placeholder: (b) => (b.type === 'url' ? 'https://…' : 'PAYLOAD'),
  },
];
const BRANCH_COLUMNS = [
  { key: 'name', label: 'Branch name', placeholder: 'Name' },
  { key: 'weight', label: 'Weight', placeholder: '%', type: 'number' },
];
const HEADER_COLUMNS = [
  { key: 'name', label: 'Header name', placeholder: 'X-Api-Key' },
  { key: 'value', label: 'Header value', placeholder: 'value' },
];
const MAP_COLUMNS = [
  { key: 'variable', label: 'Variable', placeholder: 'order_id' },
  { key: 'path', label: 'Response path', placeholder: 'data.items.0.id' },
];

/** A message's media, quick replies and buttons (Meta's limits in the hints). */
function MessageExtras({ f, set, id, ask }) {
  const media = f.media || {};
  return (
    <Fragment>
      <Rows
        id={id('quick_replies')}
        label="Quick replies (optional)"
        hint="At most 13, titles of 20 characters; a tap fires postback flows (or answers an ask)."
        rows={rowsOf(f, 'quick_replies', 'quickRepliesText', parseQuickReplies)}
        columns={QUICK_REPLY_COLUMNS}
        max={13}
        addLabel="Add a quick reply"
        blank={{ title: '', payload: '' }}
        onChange={(v) => set({ quick_replies: v, quickRepliesText: undefined })}
      />
      {!ask && (
        <Fragment>
          <Rows
            id={id('buttons')}
            label="Buttons (optional)"
            hint="At most 3, titles of 20 characters; a postback fires postback flows, a link opens the page. Not with quick replies."
            rows={rowsOf(f, 'buttons', 'buttonsText', parseButtons)}
            columns={BUTTON_COLUMNS}
            max={3}
            addLabel="Add a button"
            blank={{ type: 'postback', title: '', payload: '' }}
            onChange={(v) => set({ buttons: v, buttonsText: undefined })}
          />
          <Select
            id={id('media_type')}
            label="Media (optional, sent first)"
            value={media.type || 'image'}
            onChange={(v) => set({ media: { ...media, type: v } })}
            options={[
              ['image', 'Image'],
              ['video', 'Video'],
            ]}
          />
          <Text id={id('media_url')} label="Media URL" value={media.url} onChange={(v) => set({ media: { ...media, url: v } })} />
        </Fragment>
      )}
    </Fragment>
  );
}

function Field({ id, label, error, hint, children }) {
  return (
    <div class={`flow-field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="flow-field__hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="flow-field__error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** A text field whose chips insert variables at the caret. */
function TemplateField({ id, label, value, onChange, multiline, vars, error, inputRef }) {
  const own = useRef(null);
  const ref = inputRef || own;
  const caret = useRef(null);
  const [varName, setVarName] = useState('');
  const [varError, setVarError] = useState('');

  // After the inserted text renders, the caret goes right behind it.
  useLayoutEffect(() => {
    if (caret.current == null || !ref.current) return;
    ref.current.focus();
    ref.current.setSelectionRange(caret.current, caret.current);
    caret.current = null;
  });

  const insert = (name) => {
    const el = ref.current;
    const r = insertAt(value, `{{${name}}}`, el ? el.selectionStart : null, el ? el.selectionEnd : null);
    caret.current = r.caret;
    if (el) el.focus();
    onChange(r.value);
  };
  const insertVar = (e) => {
    e.preventDefault();
    const name = varName.trim();
    if (!validVarName(name)) {
      setVarError('Use letters, digits, - and _ (a dot walks into saved JSON).');
      return;
    }
    setVarError('');
    setVarName('');
    insert(`vars.${name}`);
  };
  const Input = multiline ? 'textarea' : 'input';
  const describedBy = [`${id}-chips`, error ? `${id}-error` : null].filter(Boolean).join(' ');
  return (
    <Field id={id} label={label} error={error}>
      <Input
        id={id}
        ref={ref}
        class="flow-input"
        rows={multiline ? 4 : undefined}
        value={value || ''}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={describedBy}
        onInput={(e) => onChange(e.currentTarget.value)}
      />
      <div class="flow-chips" id={`${id}-chips`} role="group" aria-label={`Insert a variable into ${label}`}>
        {['contact.username', 'message.text', ...vars.map((v) => `vars.${v}`)].map((name) => (
          <button type="button" class="flow-chip" key={name} onClick={() => insert(name)} aria-label={`Insert {{${name}}}`}>
            {`{{${name}}}`}
          </button>
        ))}
        <span class="flow-chips__var">
          <label class="flow-sr" for={`${id}-var`}>
            Variable name
          </label>
          <span class="flow-chips__prefix" aria-hidden="true">
            vars.
          </span>
          <input
            id={`${id}-var`}
            class="flow-input flow-input--small"
            value={varName}
            placeholder="NAME"
            onInput={(e) => setVarName(e.currentTarget.value)}
            onKeyDown={(e) => e.key === 'Enter' && insertVar(e)}
          />
          <button type="button" class="flow-chip" onClick={insertVar}>
            Insert
          </button>
        </span>
      </div>
      {varError && <p class="flow-field__error">{varError}</p>}
    </Field>
  );
}

function Select({ id, label, value, onChange, options }) {
  return (
    <Field id={id} label={label}>
      <select id={id} class="flow-input" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {options.map(([v, text]) => (
          <option value={v} key={v}>
            {text}
          </option>
        ))}
      </select>
    </Field>
  );
}

function Text({ id, label, value, onChange, error, type, min, max, hint, inputRef }) {
  return (
    <Field id={id} label={label} error={error} hint={hint}>
      <input
        id={id}
        ref={inputRef}
        class="flow-input"
        type={type || 'text'}
        min={min}
        max={max}
        value={value == null ? '' : value}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={[hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(' ') || undefined}
        onInput={(e) => onChange(e.currentTarget.value)}
      />
    </Field>
  );
}

function Fields({ node, set, vars, firstRef }) {
  const f = node.data.fields;
  const id = (k) => `flow-f-${node.id}-${k}`;
  const err = (k) => (node.data.errorField === k ? node.data.error : null);
  switch (node.type) {
    case 'message':
      return (
        <Fragment>
          <TemplateField
            id={id('text')}
            label="Message text"
            value={f.text}
            multiline
            vars={vars}
            inputRef={firstRef}
            onChange={(v) => set({ text: v })}
          />
          <MessageExtras f={f} set={set} id={id} />
        </Fragment>
      );
    case 'ask':
      return (
        <Fragment>
          <TemplateField id={id('text')} label="Question" value={f.text} multiline vars={vars} inputRef={firstRef} onChange={(v) => set({ text: v })} />
          <MessageExtras f={f} set={set} id={id} ask />
          <Select
            id={id('check')}
            label="The answer must be"
            value={f.check || 'text'}
            onChange={(v) => set({ check: v })}
            options={[
              ['text', 'Any text'],
              ['number', 'A number'],
              ['email', 'An e-mail address'],
              ['phone', 'A phone number'],
            ]}
          />
          <Text id={id('variable')} label="Save the answer as vars." value={f.variable} onChange={(v) => set({ variable: v })} />
          <Text
            id={id('timeout')}
            label="Wait for the answer (seconds)"
            type="number"
            min={1}
            max={604800}
            value={f.timeout_seconds}
            hint={`${humanSeconds(f.timeout_seconds)}; at most 7 days. Then the “timeout” branch.`}
            onChange={(v) => set({ timeout_seconds: v })}
          />
        </Fragment>
      );
    case 'randomizer':
      return (
        <Rows
          id={id('branches')}
          label="Branches"
          hint={`2 to 10 branches; the weights sum to 100 (now ${branchesOf(f).reduce((n, b) => n + b.weight, 0)}).`}
          rows={typeof f.branchesText === 'string' ? branchesOf(f) : f.branches}
          columns={BRANCH_COLUMNS}
          max={10}
          addLabel="Add a branch"
          blank={{ name: '', weight: '' }}
          onChange={(v) => set({ branches: v, branchesText: undefined })}
        />
      );
    case 'condition':
      return (
        <Fragment>
          <Select
            id={id('kind')}
            label="Condition"
            value={f.kind || 'keyword'}
            onChange={(v) => set({ kind: v })}
            options={[
              ['keyword', 'The message contains a keyword'],
              ['tag', 'The contact has (or lacks) a tag'],
              ['variable', 'A variable compares to a value'],
              ['time', 'The time of day or weekday'],
            ]}
          />
          {(f.kind || 'keyword') === 'keyword' && (
            <Text id={id('keyword')} label="Keyword" value={f.keyword} onChange={(v) => set({ keyword: v })} inputRef={firstRef} />
          )}
          {f.kind === 'tag' && (
            <Fragment>
              <Text id={id('tag')} label="Tag" value={f.tag} onChange={(v) => set({ tag: v })} inputRef={firstRef} />
              <Select
                id={id('tag_op')}
                label="The contact"
                value={f.op || 'has'}
                onChange={(v) => set({ op: v })}
                options={[
                  ['has', 'has the tag'],
                  ['lacks', 'does not have it'],
                ]}
              />
            </Fragment>
          )}
          {f.kind === 'variable' && (
            <Fragment>
              <Text id={id('name')} label="Variable (vars.NAME)" value={f.name} onChange={(v) => set({ name: v })} inputRef={firstRef} />
              <Select
                id={id('op')}
                label="Operator"
                value={f.op || 'equals'}
                onChange={(v) => set({ op: v, value: f.value != null ? f.value : f.equals })}
                options={[
                  ['equals', 'equals'],
                  ['not_equals', 'does not equal'],
                  ['contains', 'contains'],
                  ['gt', 'is greater than'],
                  ['lt', 'is less than'],
                  ['is_set', 'is set'],
                  ['is_not_set', 'is not set'],
                ]}
              />
              {f.op !== 'is_set' && f.op !== 'is_not_set' && (
                <Text
                  id={id('value')}
                  label="Value"
                  value={f.op ? f.value : f.equals}
                  onChange={(v) => set(f.op ? { value: v } : { equals: v })}
                />
              )}
            </Fragment>
          )}
          {f.kind === 'time' && (
            <Fragment>
              <Text id={id('from')} label="From (HH:MM)" type="time" value={f.from} onChange={(v) => set({ from: v })} inputRef={firstRef} />
              <Text
                id={id('to')}
                label="To (HH:MM)"
                type="time"
                value={f.to}
                hint="In the Instagram account's time zone; a range past midnight wraps."
                onChange={(v) => set({ to: v })}
              />
              <fieldset class="flow-weekdays">
                <legend>On</legend>
                {WEEKDAYS.map((d, i) => {
                  const days = Array.isArray(f.weekdays) ? f.weekdays : [];
                  return (
                    <label class="flow-weekday" key={d}>
                      <input
                        type="checkbox"
                        checked={days.includes(i)}
                        onChange={(e) => set({ weekdays: e.currentTarget.checked ? [...days, i] : days.filter((x) => x !== i) })}
                      />
                      {d}
                    </label>
                  );
                })}
              </fieldset>
            </Fragment>
          )}
        </Fragment>
      );
    case 'action':
      return (
        <Fragment>
          <Select
            id={id('action')}
            label="Action"
            value={f.action || 'tag_customer'}
            onChange={(v) => set({ action: v })}
            options={[
              ['tag_customer', 'Tag the contact'],
              ['remove_tag', 'Remove a tag'],
              ['set_variable', 'Set a variable'],
              ['clear_variable', 'Clear a variable'],
              ['api_call', 'Call an API'],
              ['notify_agent', 'Notify an agent'],
              ['handover', 'Hand over to a person'],
            ]}
          />
          {((f.action || 'tag_customer') === 'tag_customer' || f.action === 'remove_tag') && (
            <Text id={id('tag')} label="Tag" value={f.tag} onChange={(v) => set({ tag: v })} inputRef={firstRef} />
          )}
          {f.action === 'clear_variable' && (
            <Text id={id('variable')} label="Variable name" value={f.variable} onChange={(v) => set({ variable: v })} inputRef={firstRef} />
          )}
          {f.action === 'notify_agent' && (
            <TemplateField id={id('text')} label="What the agents see" value={f.text} vars={vars} inputRef={firstRef} onChange={(v) => set({ text: v })} />
          )}
          {f.action === 'handover' && (
            <Text
              id={id('seconds')}
              label="Pause automation for (seconds)"
              type="number"
              min={0}
              value={f.seconds}
              hint="0 or empty: the server's pause. The run ends here."
              onChange={(v) => set({ seconds: v })}
            />
          )}
          {f.action === 'set_variable' && (
            <Fragment>
              <Text id={id('variable')} label="Variable name" value={f.variable} onChange={(v) => set({ variable: v })} inputRef={firstRef} />
              <TemplateField id={id('value')} label="Value" value={f.value} vars={vars} onChange={(v) => set({ value: v })} />
            </Fragment>
          )}
          {f.action === 'api_call' && (
            <Fragment>
              <TemplateField id={id('url')} label="URL" value={f.url} vars={vars} inputRef={firstRef} onChange={(v) => set({ url: v })} />
              <Select
                id={id('method')}
                label="Method"
                value={f.method || 'GET'}
                onChange={(v) => set({ method: v })}
                options={['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => [m, m])}
              />
              <Field id={id('body')} label="JSON body (optional)" error={err('body')}>
                <textarea
                  id={id('body')}
                  class="flow-input flow-input--code"
                  rows={3}
                  value={typeof f.body === 'string' ? f.body : f.body ? JSON.stringify(f.body, null, 2) : ''}
                  onInput={(e) => set({ body: e.currentTarget.value })}
                />
              </Field>
              <Text
                id={id('save_as')}
                label="Save the answer as vars."
                value={f.save_as}
                onChange={(v) => set({ save_as: v })}
              />
              <Rows
                id={id('headers')}
                label="Headers (optional)"
                hint="At most 10, each value on one line; not Host, Content-Length, Content-Type, Transfer-Encoding or Connection."
                rows={f.headers}
                columns={HEADER_COLUMNS}
                max={10}
                addLabel="Add a header"
                blank={{ name: '', value: '' }}
                onChange={(v) => set({ headers: v })}
              />
              <Rows
                id={id('map')}
                label="Save values from the response (optional)"
                hint="Each value at a dotted path of the JSON answer (data.items.0.id) goes into vars.VARIABLE and on the contact. At most 20."
                rows={mapRows(f.map)}
                columns={MAP_COLUMNS}
                max={20}
                addLabel="Add a value"
                blank={{ variable: '', path: '' }}
                onChange={(v) => set({ map: v })}
              />
            </Fragment>
          )}
        </Fragment>
      );
    case 'delay':
      return (
        <Text
          id={id('seconds')}
          label="Wait (seconds)"
          type="number"
          min={1}
          max={MAX_DELAY_S}
          value={f.seconds}
          inputRef={firstRef}
          hint={`${humanSeconds(f.seconds)}; at most one day (${MAX_DELAY_S} s).`}
          onChange={(v) => set({ seconds: v })}
        />
      );
    default:
      return null;
  }
}

const OUTPUT_LABELS = {
  next: 'Next step',
  true: 'If true, go to',
  false: 'If false, go to',
  invalid: 'If the answer fails the check, go to',
  timeout: 'If no answer comes in time, go to',
};

function Outputs({ node, nodes, edges, onConnect }) {
  const outs = outputsOf(node.type, node.data.fields);
  const api = node.type === 'action' && node.data.fields.action === 'api_call';
  const others = nodes.filter((n) => n.id !== node.id && n.id !== TRIGGER_ID);
  return (
    <Fragment>
      {outs.map((o) => {
        const e = edges.find((x) => x.source === node.id && (x.sourceHandle || 'next') === o.id);
        const label = api
          ? o.id === 'next'
            ? 'When the call succeeds, go to'
            : 'When it fails, go to'
          : node.type === 'ask' && o.id === 'next'
            ? 'When answered, go to'
            : node.type === 'randomizer'
              ? `Branch ${o.label}, go to`
              : OUTPUT_LABELS[o.id];
        return (
          <Select
            key={o.id}
            id={`flow-out-${node.id}-${o.id}`}
            label={label}
            value={e ? e.target : ''}
            onChange={(v) => onConnect(node.id, o.id, v || null)}
            options={[['', '(nothing: the run ends)'], ...others.map((n) => [n.id, `${n.id}: ${summary(n.type, n.data.fields)}`])]}
          />
        );
      })}
    </Fragment>
  );
}

export function Inspector({ node, nodes, edges, vars, onChange, onConnect, onDelete, focusToken }) {
  const firstRef = useRef(null);
  useLayoutEffect(() => {
    if (focusToken && firstRef.current) firstRef.current.focus();
  }, [focusToken]);
  if (!node || node.id === TRIGGER_ID)
    return (
      <section class="flow-panel flow-inspector" aria-labelledby="flow-inspector-title">
        <h2 id="flow-inspector-title" class="flow-panel__title">
          Step
        </h2>
        <p class="flow-muted">
          Select a step on the canvas (click it, or Tab to it and press Enter) to edit it. Add steps from the palette.
        </p>
      </section>
    );
  const set = (patch) => onChange(node.id, patch);
  return (
    <section class="flow-panel flow-inspector" aria-labelledby="flow-inspector-title">
      <h2 id="flow-inspector-title" class="flow-panel__title">
        {TYPE_LABELS[node.type]} step <span class="flow-node__id">{node.id}</span>
      </h2>
      {node.data.error && !node.data.errorField && (
        <p class="flow-field__error" role="alert">
          {node.data.error}
        </p>
      )}
      <Fields node={node} set={set} vars={vars} firstRef={firstRef} />
      <Outputs node={node} nodes={nodes} edges={edges} onConnect={onConnect} />
      <button type="button" class="flow-button flow-button--danger" onClick={() => onDelete(node.id)}>
        Delete step
      </button>
    </section>
  );
}
