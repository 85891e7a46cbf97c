/** @jsxRuntime classic */
/** @jsx h */
// The palette: one button a step type, each adding a step to the canvas
// (usable by keyboard like any button), and how to use the canvas without a mouse.
import { h } from 'preact';

import { MAX_STEPS, NODE_TYPES, TYPE_LABELS } from './model.js';

export function Palette({ onAdd, count }) {
  const full = count >= MAX_STEPS;
  return (
    <section class="flow-panel flow-palette" aria-labelledby="flow-palette-title">
      <h2 id="flow-palette-title" class="flow-panel__title">
        Add a step
      </h2>
      <div class="flow-palette__items">
        {NODE_TYPES.map((t) => (
          <button
            type="button"
            key={t}
            class={`flow-palette__item flow-palette__item--${t}`}
            disabled={full}
            aria-label={`Add a ${TYPE_LABELS[t].toLowerCase()} step`}
            onClick={() => onAdd(t)}
          >
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
