/** @jsxRuntime classic */
/** @jsx h */
// One flow in the builder: the header (name, status, save, activate,
// archive), the trigger panel and palette, the canvas (@xyflow/react: pan,
// zoom, drag, connect), the step editor, the test panel and the runs log.
// The canvas's nodes and edges are the state; the API's flow is made from
// them on save (model.js), so positions persist as nodes[].position.
import { h } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  Background,
  Controls,
  MarkerType,
  ReactFlow,
  ReactFlowProvider,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
  useStore,
  useUpdateNodeInternals,
} from '@xyflow/react';

import { Inspector } from './inspector.jsx';
import {
  TRIGGER_ID,
  TRIGGER_TYPES,
  TYPE_LABELS,
  connect,
  defaultData,
  disconnect,
  knownVariables,
  newNodeId,
  noErrors,
  pathOf,
  placeError,
  pruneEdges,
  startOf,
  summary,
  toCanvas,
  toModel,
  unmeasuredHandles,
} from './model.js';
import { nodeTypes } from './nodes.jsx';
import { Palette } from './palette.jsx';
import { RunsPanel } from './runs.jsx';
import { StatsPanel } from './stats.jsx';
import { nodeStatsText } from './stats_model.js';
import { VersionsPanel } from './versions.jsx';
import { TestPanel } from './test_panel.jsx';
import { TriggerPanel } from './trigger.jsx';

const STATUS_LABELS = { draft: 'Draft', active: 'Active', archived: 'Archived' };
const RUNS_POLL_MS = 5000;
const FIT_VIEW = { maxZoom: 1, minZoom: 0.5, padding: 0.15 };
const NEW_STEP_DX = 320;
const NEW_STEP_DY = 150;
const NODE_W = 240; /* a step's size on the canvas at zoom 1 (flows.css) */
const NODE_H = 90;
const EDGE_OPTIONS = { type: 'smoothstep', markerEnd: { type: MarkerType.ArrowClosed, width: 18, height: 18 } };

export const NEW_FLOW = {
  name: 'New flow',
  status: 'draft',
  trigger: { type: 'keyword', keywords: [], match: 'contains' },
  nodes: [],
  edges: [],
};

/** The trigger panel's fields: lists as comma-separated text. */
function editableTrigger(t) {
  t = t || {};
  const join = (v) => (Array.isArray(v) ? v.join(', ') : v || '');
  return {
    type: TRIGGER_TYPES.includes(t.type) ? t.type : 'keyword',
    keywordsText: join(t.keywords),
    match: t.match || 'contains',
    payloads: join(t.payloads),
    refs: join(t.refs),
    media_ids: join(t.media_ids),
    public_reply: t.public_reply || '',
  };
}

function metaOf(flow) {
  return {
    id: flow.id || null,
    name: flow.name,
    status: flow.status || 'draft',
    trigger: editableTrigger(flow.trigger),
    settings: { ...(flow.settings || {}) },
  };
}

/** Re-measures a step whose size the canvas knows but whose handles it lost.
 * @xyflow/react takes the `nodes` prop in an effect, which Preact runs after
 * the next frame; a step's first measurement (its ResizeObserver) can land in
 * between. Type into a new step's field at once (the editor focuses it) and
 * the prop rendered by that keystroke, whose step has no size yet, is taken
 * after the measurement: the step's handle positions are dropped, then the
 * next prop (with the measured size) keeps them dropped, and as the size no
 * longer changes nothing measures them again. Until then no edge to or from
 * that step is drawn (an output chosen in the inspector is in the state, not
 * on the canvas) and no drag connects to it. */
const unmeasuredIds = (s) => JSON.stringify(unmeasuredHandles(s.nodeLookup.values()));
function HandleBoundsGuard() {
  const ids = useStore(unmeasuredIds);
  const update = useUpdateNodeInternals();
  useEffect(() => {
    const list = JSON.parse(ids);
    if (list.length) update(list);
  }, [ids, update]);
  return null;
}

function Builder({ api, initial, onSaved, onBack, onReload, initialNotice }) {
  const rf = useReactFlow();
  const canvasRef = useRef(null);
  const first = useMemo(() => toCanvas(initial), [initial]);
  const [meta, setMeta] = useState(() => metaOf(initial));
  const [nodes, setNodes] = useState(first.nodes);
  const [edges, setEdges] = useState(first.edges);
  const [dirty, setDirty] = useState(!initial.id);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState(noErrors);
  const [notice, setNotice] = useState(initialNotice || '');
  const [path, setPath] = useState(null);
  const [test, setTest] = useState({ result: null, busy: false, error: null });
  const [runs, setRuns] = useState({ list: null, error: null, shown: null });
  const [versions, setVersions] = useState({ list: null, live: initial.version || null, error: null });
  const [stats, setStats] = useState({ data: null, version: null, error: null, canvas: false });
  const [focusToken, setFocusToken] = useState(0);
  const savedRef = useRef(initial);
  const refocus = useRef(false);

  const changed = () => {
    setDirty(true);
    setPath(null);
  };

  // Edges from deleted steps or from outputs a step no longer has go too.
  useEffect(() => {
    setEdges((es) => {
      const kept = pruneEdges(nodes, es);
      return kept.length === es.length ? es : kept;
    });
  }, [nodes]);

  const onNodesChange = useCallback((changes) => {
    const kept = changes.filter((c) => !(c.type === 'remove' && c.id === TRIGGER_ID));
    setNodes((ns) => applyNodeChanges(kept, ns));
    if (kept.some((c) => c.type === 'remove' || (c.type === 'position' && c.position))) changed();
    if (kept.some((c) => c.type === 'remove')) refocus.current = true;
  }, []);

  // A deleted step took the keyboard focus with it: the canvas takes it back.
  useEffect(() => {
    if (!refocus.current) return undefined;
    const t = setTimeout(() => {
      refocus.current = false;
      const a = document.activeElement;
      if (canvasRef.current && (!a || a === document.body || !a.isConnected)) canvasRef.current.focus();
    }, 50);
    return () => clearTimeout(t);
  }, [nodes]);
  const onEdgesChange = useCallback((changes) => {
    setEdges((es) => applyEdgeChanges(changes, es));
    if (changes.some((c) => c.type === 'remove')) changed();
  }, []);
  // A step's error goes once the step, or where it leads, is changed.
  const clearError = (id) => setErrors((e) => (e.nodes[id] ? { ...e, nodes: { ...e.nodes, [id]: undefined } } : e));

  const onConnect = useCallback((c) => {
    setEdges((es) => connect(es, c.source, c.sourceHandle, c.target));
    clearError(c.source);
    changed();
  }, []);
  const isValidConnection = useCallback((c) => c.source !== c.target && c.target !== TRIGGER_ID, []);

  const select = (id) => setNodes((ns) => ns.map((n) => (n.selected === (n.id === id) ? n : { ...n, selected: n.id === id })));

  /** Where a new step goes: right of the selected step, else mid-canvas; never on another. */
  const placeFor = () => {
    // Beside the selected step; in a flow with no steps yet, beside the trigger.
    const sel = nodes.find((n) => n.selected) || (nodes.length === 1 ? nodes[0] : null);
    let pos;
    if (sel) {
      pos = { x: sel.position.x + NEW_STEP_DX, y: sel.position.y };
    } else {
      const r = canvasRef.current.getBoundingClientRect();
      const c = rf.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 });
      pos = { x: c.x - 120, y: c.y - 40 };
    }
    pos = { x: Math.round(pos.x), y: Math.round(pos.y) };
    while (nodes.some((n) => Math.abs(n.position.x - pos.x) < 200 && Math.abs(n.position.y - pos.y) < 110))
      pos = { x: pos.x, y: pos.y + NEW_STEP_DY };
    return pos;
  };

  /** Pans (keeping the zoom) just enough that a new step at `pos` is in view. */
  const reveal = (pos) => {
    const r = canvasRef.current.getBoundingClientRect();
    const a = rf.screenToFlowPosition({ x: r.left, y: r.top });
    const b = rf.screenToFlowPosition({ x: r.right, y: r.bottom });
    const vp = rf.getViewport();
    const margin = 40 / vp.zoom;
    const shift = (lo, hi, min, max) =>
      hi + margin > max ? Math.min(hi + margin - max, lo - margin - min) : lo - margin < min ? lo - margin - min : 0;
    const dx = shift(pos.x, pos.x + NODE_W, a.x, b.x);
    const dy = shift(pos.y, pos.y + NODE_H, a.y, b.y);
    if (dx || dy) rf.setViewport({ x: vp.x - dx * vp.zoom, y: vp.y - dy * vp.zoom, zoom: vp.zoom });
  };

  const addNode = (type) => {
    const pos = placeFor();
    const id = newNodeId(type, nodes);
    const node = { id, type, position: pos, selected: true, data: { fields: defaultData(type) } };
    setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
    // A flow's first step is where the trigger leads, until the user says otherwise.
    if (!startOf(edges)) setEdges((es) => connect(es, TRIGGER_ID, 'next', id));
    reveal(pos);
    setFocusToken((t) => t + 1);
    setNotice(`${TYPE_LABELS[type]} step ${id} added`);
    changed();
  };

  const updateFields = (id, patch) => {
    setNodes((ns) => ns.map((n) => (n.id === id ? { ...n, data: { ...n.data, fields: { ...n.data.fields, ...patch } } } : n)));
    clearError(id);
    changed();
  };

  const connectOutput = (source, handle, target) => {
    setEdges((es) => (target ? connect(es, source, handle, target) : disconnect(es, source, handle)));
    clearError(source);
    changed();
  };

  const deleteNode = (id) => {
    rf.deleteElements({ nodes: [{ id }] });
    setNotice(`Step ${id} deleted`);
  };

  const setTrigger = (t) => {
    setMeta((m) => ({ ...m, trigger: t }));
    setErrors((e) => ({ ...e, trigger: null }));
    changed();
  };

  const setSettings = (s) => {
    setMeta((m) => ({ ...m, settings: s }));
    changed();
  };

  /** Saves the canvas (with `status` if given); resolves to the saved flow or null. */
  const save = async (status) => {
    let body;
    const m = { ...meta, status: status || meta.status, trigger: { ...meta.trigger, keywords: meta.trigger.keywordsText } };
    try {
      body = toModel(m, nodes, edges);
    } catch (e) {
      setErrors(placeError(e, nodes.map((n) => n.id)));
      setNotice(`Not saved: ${e.message}`);
      if (e.node_id) select(e.node_id);
      return null;
    }
    setBusy(true);
    try {
      const saved = meta.id ? await api.update(meta.id, body) : await api.create(body);
      savedRef.current = saved;
      setMeta((cur) => ({ ...cur, id: saved.id, status: saved.status }));
      setVersions((v) => ({ ...v, live: saved.version || null }));
      setDirty(false);
      setErrors(noErrors());
      setNotice(status && status !== meta.status ? `Saved; the flow is ${saved.status}` : 'Saved');
      if (!meta.id && onSaved) onSaved(saved);
      return saved;
    } catch (e) {
      const placed = placeError(e, nodes.map((n) => n.id));
      setErrors(placed);
      const on = Object.keys(placed.nodes)[0];
      if (on) select(on);
      setNotice(placed.general ? 'Not saved.' : `Not saved: ${e.message}`);
      return null;
    } finally {
      setBusy(false);
    }
  };

  const runTest = async (text, contact) => {
    setTest({ result: null, busy: true, error: null });
    const flow = dirty || !meta.id ? await save() : savedRef.current;
    if (!flow) {
      setTest({ result: null, busy: false, error: 'Fix the errors shown, then run the test again.' });
      return;
    }
    try {
      const result = await api.test(flow.id, text, contact);
      setTest({ result, busy: false, error: null });
      setPath(pathOf(flow, result.trace));
      setRuns((r) => ({ ...r, shown: null }));
    } catch (e) {
      setTest({ result: null, busy: false, error: e.message });
    }
  };

  const loadVersions = useCallback(async () => {
    if (!meta.id) return;
    try {
      const list = await api.versions(meta.id);
      setVersions((v) => ({ ...v, list, error: null }));
    } catch (e) {
      setVersions((v) => ({ ...v, error: e.message }));
    }
  }, [api, meta.id]);
  const loadStats = useCallback(async () => {
    if (!meta.id) return;
    try {
      const data = await api.stats(meta.id, stats.version);
      setStats((s) => ({ ...s, data, error: null }));
    } catch (e) {
      setStats((s) => ({ ...s, data: null, error: e.message }));
    }
  }, [api, meta.id, stats.version]);
  useEffect(() => {
    loadVersions();
  }, [loadVersions, versions.live]);
  useEffect(() => {
    loadStats();
  }, [loadStats]);

  /** Saves what changed, then publishes the draft as a new version. */
  const publish = async () => {
    const flow = dirty || !meta.id ? await save() : savedRef.current;
    if (!flow) return;
    setBusy(true);
    try {
      const published = await api.publish(flow.id);
      savedRef.current = published;
      setMeta((cur) => ({ ...cur, status: published.status }));
      setVersions((v) => ({ ...v, live: published.version || null }));
      setNotice(`Published: version ${published.version} is live`);
    } catch (e) {
      setNotice(`Not published: ${e.message}`);
    } finally {
      setBusy(false);
    }
  };
  const restore = async (n) => {
    if (dirty && !confirm(`Replace the unsaved changes with version ${n}?`)) return;
    setBusy(true);
    try {
      const flow = await api.restore(meta.id, n);
      if (onReload) onReload(flow, `Version ${n} restored into the draft: publish it to make it live`);
    } catch (e) {
      setNotice(`Not restored: ${e.message}`);
      setBusy(false);
    }
  };

  const loadRuns = useCallback(async () => {
    if (!meta.id) return;
    try {
      const list = await api.runs(meta.id);
      setRuns((r) => ({ ...r, list, error: null }));
    } catch (e) {
      setRuns((r) => ({ ...r, error: e.message }));
    }
  }, [api, meta.id]);

  useEffect(() => {
    loadRuns();
    if (!meta.id) return undefined;
    const t = setInterval(() => {
      if (!document.hidden) loadRuns();
    }, RUNS_POLL_MS);
    return () => clearInterval(t);
  }, [loadRuns, meta.id]);

  const showRun = (run) => {
    if (runs.shown === run.id) {
      setRuns((r) => ({ ...r, shown: null }));
      setPath(null);
      return;
    }
    setRuns((r) => ({ ...r, shown: run.id }));
    setPath(pathOf(savedRef.current, run.trace));
  };

  // A reload or a closed tab asks first while there are unsaved changes.
  useEffect(() => {
    if (!dirty) return undefined;
    const warn = (e) => {
      e.preventDefault();
      e.returnValue = '';
    };
    addEventListener('beforeunload', warn);
    return () => removeEventListener('beforeunload', warn);
  }, [dirty]);

  const back = () => {
    if (dirty && !confirm('Leave this flow without saving your changes?')) return;
    onBack();
  };

  const start = startOf(edges);
  const vars = useMemo(() => knownVariables(nodes), [nodes]);
  const statsOf = useMemo(
    () => (stats.canvas && stats.data ? new Map(stats.data.nodes.map((n) => [n.node_id, n])) : null),
    [stats.canvas, stats.data],
  );
  const viewNodes = useMemo(
    () =>
      nodes.map((n) => {
        if (n.id === TRIGGER_ID) {
          const trigger = { ...meta.trigger, keywords: meta.trigger.keywordsText };
          return {
            ...n,
            ariaLabel: 'Trigger',
            data: { trigger, error: errors.trigger, visited: path && path.steps.size > 0 },
          };
        }
        const err = errors.nodes[n.id];
        const steps = path && path.steps.get(n.id);
        const label = [`${TYPE_LABELS[n.type]} step ${n.id}`, summary(n.type, n.data.fields)];
        if (n.id === start) label.push('first step');
        if (steps) label.push(`taken at step ${steps.join(', ')}`);
        if (err) label.push(`error: ${err.message}`);
        return {
          ...n,
          ariaLabel: label.join('; '),
          data: {
            ...n.data,
            isStart: n.id === start,
            error: err ? err.message : null,
            errorField: err ? err.field : null,
            steps: steps || null,
            stats: statsOf ? nodeStatsText(statsOf.get(n.id)) || null : null,
          },
        };
      }),
    [nodes, errors, path, start, meta.trigger, statsOf],
  );
  const viewEdges = useMemo(
    () =>
      edges.map((e) => {
        const taken = path && path.taken.has(e.id);
        const cls = [e.className, taken ? 'is-taken' : null].filter(Boolean).join(' ');
        return { ...e, className: cls || undefined, animated: !!taken };
      }),
    [edges, path],
  );

  const selected = viewNodes.find((n) => n.selected && n.id !== TRIGGER_ID);
  const nodeErrorCount = Object.values(errors.nodes).filter(Boolean).length;

  return (
    <div class="flows-editor">
      <header class="flows-editor__header">
        <button type="button" class="flow-button flow-button--small" onClick={back}>
          ← Flows
        </button>
        <div class={`flow-field flow-field--inline flows-editor__name${errors.name ? ' has-error' : ''}`}>
          <label for="flow-name" class="flow-sr">
            Flow name
          </label>
          <input
            id="flow-name"
            class="flow-input flow-input--title"
            value={meta.name}
            maxLength={100}
            aria-invalid={errors.name ? 'true' : undefined}
            onInput={(e) => {
              const name = e.currentTarget.value;
              setMeta((m) => ({ ...m, name }));
              changed();
            }}
          />
          {errors.name && <p class="flow-field__error">{errors.name}</p>}
        </div>
        <span class={`flow-badge flow-badge--${meta.status}`} data-status={meta.status}>
          {STATUS_LABELS[meta.status] || meta.status}
        </span>
        {dirty && <span class="flow-muted flows-editor__dirty">Unsaved changes</span>}
        <div class="flows-editor__actions">
          <button type="button" class="flow-button flow-button--primary" disabled={busy} onClick={() => save()}>
            Save
          </button>
          {meta.status !== 'active' ? (
            <button type="button" class="flow-button" disabled={busy} onClick={() => save('active')}>
              Activate
            </button>
          ) : (
            <button type="button" class="flow-button" disabled={busy} onClick={() => save('draft')}>
              Deactivate
            </button>
          )}
          {meta.status !== 'archived' && (
            <button type="button" class="flow-button" disabled={busy || !meta.id} onClick={() => save('archived')}>
              Archive
            </button>
          )}
        </div>
        <p class="flows-editor__notice" role="status" aria-live="polite">
          {notice}
          {nodeErrorCount > 0 && ' — the step with the error is marked on the canvas.'}
        </p>
        {errors.general && (
          <p class="flow-field__error flows-editor__general" role="alert">
            {errors.general}
          </p>
        )}
      </header>
      <div class="flows-editor__body">
        <div class="flows-editor__left">
          <TriggerPanel
            trigger={meta.trigger}
            onChange={setTrigger}
            settings={meta.settings}
            onSettings={setSettings}
            api={api}
            nodes={nodes}
            start={start}
            error={errors.trigger}
            onStart={(id) => {
              connectOutput(TRIGGER_ID, 'next', id);
              setErrors((e) => ({ ...e, trigger: null }));
            }}
          />
          <Palette onAdd={addNode} count={nodes.length - 1} />
        </div>
        <div class="flows-editor__canvas" ref={canvasRef} aria-label="Flow canvas" role="region" tabIndex={-1}>
          <ReactFlow
            nodes={viewNodes}
            edges={viewEdges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            isValidConnection={isValidConnection}
            deleteKeyCode={['Backspace', 'Delete']}
            colorMode="system"
            fitView
            fitViewOptions={FIT_VIEW}
            minZoom={0.25}
            maxZoom={2}
            defaultEdgeOptions={EDGE_OPTIONS}
          >
            <Background gap={20} />
            <Controls showInteractive={false} />
            <HandleBoundsGuard />
          </ReactFlow>
        </div>
        <div class="flows-editor__right">
          <Inspector
            node={selected}
            nodes={nodes}
            edges={edges}
            vars={vars}
            onChange={updateFields}
            onConnect={connectOutput}
            onDelete={deleteNode}
            focusToken={focusToken}
          />
          <TestPanel
            onRun={runTest}
            result={test.result}
            busy={test.busy}
            error={test.error}
            onClear={() => {
              setPath(null);
              setTest({ result: null, busy: false, error: null });
            }}
          />
          <RunsPanel runs={runs.list} error={runs.error} shown={runs.shown} onRefresh={loadRuns} onShow={showRun} />
          {meta.id && (
            <VersionsPanel
              versions={versions.list}
              live={versions.live}
              error={versions.error}
              busy={busy}
              canPublish={!!meta.id}
              onPublish={publish}
              onRestore={restore}
            />
          )}
          {meta.id && (
            <StatsPanel
              stats={stats.data}
              versions={versions.list}
              version={stats.version}
              error={stats.error}
              canvas={stats.canvas}
              onVersion={(version) => setStats((s) => ({ ...s, version }))}
              onRefresh={loadStats}
              onCanvas={(canvas) => setStats((s) => ({ ...s, canvas }))}
            />
          )}
        </div>
      </div>
    </div>
  );
}

/** Loads a flow (or starts a new one) and shows the builder for it. A new
 * flow's first save changes the route to its id; the builder stays as it is. */
export function FlowEditor({ api, flowId, onSaved, onBack }) {
  const [state, setState] = useState({ flow: flowId ? null : NEW_FLOW, error: null, gen: 0 });
  const ours = useRef(null);
  useEffect(() => {
    if (ours.current && ours.current === flowId) return undefined;
    ours.current = null;
    if (!flowId) {
      setState((s) => ({ flow: NEW_FLOW, error: null, gen: s.gen + 1 }));
      return undefined;
    }
    let live = true;
    setState((s) => ({ flow: null, error: null, gen: s.gen }));
    api.get(flowId).then(
      (flow) => live && setState((s) => ({ flow, error: null, gen: s.gen + 1 })),
      (e) =>
        live &&
        setState((s) => ({
          flow: null,
          error: e.status === 404 ? 'This flow does not exist (or is not yours).' : e.message,
          gen: s.gen,
        })),
    );
    return () => {
      live = false;
    };
  }, [api, flowId]);
  const saved = (flow) => {
    ours.current = flow.id;
    if (onSaved) onSaved(flow);
  };
  if (state.error)
    return (
      <div class="flows-editor flows-editor--message">
        <p class="flow-field__error" role="alert">
          {state.error}
        </p>
        <button type="button" class="flow-button" onClick={onBack}>
          Back to flows
        </button>
      </div>
    );
  if (!state.flow)
    return (
      <p class="flow-muted flows-loading" role="status">
        Loading the flow…
      </p>
    );
  return (
    <ReactFlowProvider>
      <Builder
        key={state.gen}
        api={api}
        initial={state.flow}
        onSaved={saved}
        onBack={onBack}
        initialNotice={state.note}
        onReload={(flow, note) => setState((s) => ({ flow, error: null, gen: s.gen + 1, note }))}
      />
    </ReactFlowProvider>
  );
}
