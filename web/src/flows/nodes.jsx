/** @jsxRuntime classic */
/** @jsx h */
// The canvas's node components: one for the model's steps (message, ask,
// condition, randomizer, action, delay) and one for the trigger, which is drawn as a node
// but lives in flow.trigger. Every look comes from flows.css classes.
import { h } from 'preact';
import { Handle, Position } from '@xyflow/react';

import { TYPE_LABELS, outputsOf, summary, triggerSummary } from './model.js';

function StepNode({ id, type, data, selected }) {
  const f = data.fields || {};
  const classes = ['flow-node', `flow-node--${type}`];
  if (selected) classes.push('is-selected');
  if (data.error) classes.push('has-error');
  if (data.steps) classes.push('is-visited');
  const outputs = outputsOf(type, f);
  return (
    <div class={classes.join(' ')}>
      <Handle type="target" position={Position.Left} className="flow-handle flow-handle--in" />
      <div class="flow-node__head">
        <span class="flow-node__type">{TYPE_LABELS[type]}</span>
        <span class="flow-node__id">{id}</span>
        {data.isStart && <span class="flow-badge flow-badge--start">start</span>}
        {data.steps && <span class="flow-badge flow-badge--step">step {data.steps.join(', ')}</span>}
      </div>
      <div class="flow-node__body">{summary(type, f)}</div>
      {data.error && <div class="flow-node__error">{data.error}</div>}
      {data.stats && <div class="flow-node__stats">{data.stats}</div>}
      <div class={`flow-node__outputs flow-node__outputs--${outputs.length}`}>
        {outputs.map((o) => (
          <div class={`flow-output flow-output--${o.id}`} key={o.id}>
            {outputs.length > 1 && <span class="flow-output__label">{o.label}</span>}
            <Handle
              type="source"
              position={Position.Right}
              id={o.id}
              className={`flow-handle flow-handle--${o.id}`}
              aria-label={`${id} output ${o.label}`}
            />
          </div>
        ))}
      </div>
    </div>
  );
}

function TriggerNode({ data, selected }) {
  const classes = ['flow-node', 'flow-node--trigger'];
  if (selected) classes.push('is-selected');
  if (data.error) classes.push('has-error');
  if (data.visited) classes.push('is-visited');
  return (
    <div class={classes.join(' ')}>
      <div class="flow-node__head">
        <span class="flow-node__type">Trigger</span>
      </div>
      <div class="flow-node__body">{triggerSummary(data.trigger)}</div>
      {data.error && <div class="flow-node__error">{data.error}</div>}
      <div class="flow-node__outputs flow-node__outputs--1">
        <div class="flow-output flow-output--next">
          <Handle
            type="source"
            position={Position.Right}
            id="next"
            className="flow-handle flow-handle--next"
            aria-label="Trigger output: the first step"
          />
        </div>
      </div>
    </div>
  );
}

export const nodeTypes = {
  message: StepNode,
  ask: StepNode,
  randomizer: StepNode,
  condition: StepNode,
  action: StepNode,
  delay: StepNode,
  trigger: TriggerNode,
};
