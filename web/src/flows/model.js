// The flow model of docs/API.md and the canvas's nodes and edges, both ways.
// The trigger is no node of the model: the canvas draws it as one so that the
// edge leaving it can say which node is `start`. Pure; no DOM.

export const TRIGGER_ID = 'parley:trigger';
export const NODE_TYPES = ['message', 'ask', 'condition', 'randomizer', 'action', 'delay'];
export const TRIGGER_TYPES = ['keyword', 'any_message', 'comment', 'story_reply', 'story_mention', 'postback', 'referral'];
export const MAX_DELAY_S = 86400;
/** The most steps any server accepts (its flow_max_nodes tops out there). */
export const MAX_STEPS = 10000;

const SPACING_X = 320;
const SPACING_Y = 150;

export const TYPE_LABELS = {
  message: 'Message',
  ask: 'Ask and save',
  condition: 'Condition',
  randomizer: 'Randomizer',
  action: 'Action',
  delay: 'Delay',
};

/** The data a fresh node of `type` starts with. */
export function defaultData(type) {
  switch (type) {
    case 'message':
      return { text: '' };
    case 'ask':
      return { text: '', check: 'text', variable: '', timeout_seconds: 3600 };
    case 'randomizer':
      return {
        branches: [
          { name: 'A', weight: 50 },
          { name: 'B', weight: 50 },
        ],
      };
    case 'condition':
      return { kind: 'keyword', keyword: '' };
    case 'action':
      return { action: 'tag_customer', tag: '' };
    case 'delay':
      return { seconds: 60 };
    default:
      throw new Error(`unknown node type ${type}`);
  }
}

/** A node id not yet used in `nodes` (canvas nodes or model nodes). */
export function newNodeId(type, nodes) {
  const used = new Set(nodes.map((n) => n.id));
  for (let i = 1; ; i++) {
    const id = `${type}-${i}`;
    if (!used.has(id)) return id;
  }
}

/** The output handles a node has: [{id, label}]; `next` is the unlabelled edge. */
export function outputsOf(type, data) {
  if (type === 'condition')
    return [
      { id: 'true', label: 'true' },
      { id: 'false', label: 'false' },
    ];
  if (type === 'ask')
    return [
      { id: 'next', label: 'answered' },
      { id: 'invalid', label: 'invalid' },
      { id: 'timeout', label: 'timeout' },
    ];
  if (type === 'randomizer') return branchesOf(data).map((b) => ({ id: b.name, label: `${b.name} ${b.weight}%` }));
  if (type === 'action' && data && data.action === 'handover') return []; /* the run ends there */
  if (type === 'action' && data && data.action === 'api_call')
    return [
      { id: 'next', label: 'ok' },
      { id: 'false', label: 'failed' },
    ];
  return [{ id: 'next', label: 'next' }];
}

export function edgeId(source, handle, target) {
  return `${source}:${handle || 'next'}->${target}`;
}

function canvasEdge(source, handle, target) {
  const h = handle || 'next';
  const edge = { id: edgeId(source, h, target), source, sourceHandle: h, target };
  if (h !== 'next') {
    edge.label = h;
    edge.className = h === 'true' || h === 'false' ? `flow-edge--${h}` : 'flow-edge--branch';
  }
  return edge;
}

// ---- the text forms the editors use for lists ----

/** "Title | PAYLOAD" lines <-> [{title, payload}] (quick replies). */
export function quickRepliesText(list) {
  return (Array.isArray(list) ? list : []).map((q) => `${text(q.title)} | ${text(q.payload)}`).join('\n');
}
/** "Title | PAYLOAD" or "Title | https://..." lines <-> buttons. */
export function buttonsText(list) {
  return (Array.isArray(list) ? list : [])
    .map((b) => `${text(b.title)} | ${b.type === 'url' ? text(b.url) : text(b.payload)}`)
    .join('\n');
}
function lines(s) {
  return text(s)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
function pair(line) {
  const i = line.indexOf('|');
  return i < 0 ? [line.trim(), line.trim()] : [line.slice(0, i).trim(), line.slice(i + 1).trim()];
}
export function parseQuickReplies(s) {
  return lines(s).map((l) => {
    const [title, payload] = pair(l);
    return { title, payload };
  });
}
export function parseButtons(s) {
  return lines(s).map((l) => {
    const [title, v] = pair(l);
    return /^https?:\/\//.test(v) ? { type: 'url', title, url: v } : { type: 'postback', title, payload: v };
  });
}
/** A randomizer's branches: from "A: 50" lines or the editor's rows (the API's
 * list; a row left blank is no branch). */
export function branchesOf(f) {
  f = f || {};
  if (typeof f.branchesText === 'string')
    return lines(f.branchesText).map((l) => {
      const i = l.lastIndexOf(':');
      const name = (i < 0 ? l : l.slice(0, i)).trim();
      return { name, weight: Number.parseInt(i < 0 ? '' : l.slice(i + 1), 10) || 0 };
    });
  return keptRows(f.branches, ['name', 'weight']).map((b) => ({
    name: text(b.name).trim(),
    weight: Number.parseInt(text(b.weight), 10) || 0,
  }));
}

// ---- the row editors' lists ----

/** The rows of a row editor that hold something in one of keys (a row just
 * added and left empty is dropped at save). */
export function keptRows(rows, keys) {
  return (Array.isArray(rows) ? rows : []).filter((r) => r && keys.some((k) => text(r[k]).trim() !== ''));
}
/** Quick replies as the API takes them, from the editor's rows. */
export function cleanQuickReplies(rows) {
  return keptRows(rows, ['title', 'payload']).map((q) => ({ title: text(q.title).trim(), payload: text(q.payload).trim() }));
}
/** Buttons from the editor's rows {type, title, payload, url}: a URL button
 * keeps its url, a postback button its payload. */
export function cleanButtons(rows) {
  return keptRows(rows, ['title', 'payload', 'url']).map((b) =>
    b.type === 'url'
      ? { type: 'url', title: text(b.title).trim(), url: text(b.url).trim() }
      : { type: 'postback', title: text(b.title).trim(), payload: text(b.payload).trim() },
  );
}
/** An api_call's headers [{name, value}] from the editor's rows (values as written). */
export function cleanHeaders(rows) {
  return keptRows(rows, ['name', 'value']).map((h) => ({ name: text(h.name).trim(), value: text(h.value) }));
}
/** An api_call's response mapping: the API's {variable: "path"} as rows, and back. */
export function mapRows(map) {
  if (Array.isArray(map)) return map;
  return map && typeof map === 'object' ? Object.entries(map).map(([variable, path]) => ({ variable, path: text(path) })) : [];
}
export function mapOf(rows) {
  const out = {};
  for (const r of keptRows(mapRows(rows), ['variable', 'path'])) out[text(r.variable).trim()] = text(r.path).trim();
  return out;
}
export function branchesText(list) {
  return (Array.isArray(list) ? list : []).map((b) => `${b.name}: ${b.weight}`).join('\n');
}
function listOrText(f, key, textKey, parse) {
  if (typeof f[textKey] === 'string') return parse(f[textKey]);
  return Array.isArray(f[key]) ? f[key] : [];
}

/** Positions for nodes that carry none: columns by distance from start. */
function layout(flow) {
  const depth = new Map();
  const queue = [];
  if (flow.start) {
    depth.set(flow.start, 0);
    queue.push(flow.start);
  }
  while (queue.length) {
    const id = queue.shift();
    for (const e of flow.edges || [])
      if (e.from === id && !depth.has(e.to)) {
        depth.set(e.to, depth.get(id) + 1);
        queue.push(e.to);
      }
  }
  const rows = new Map();
  const at = new Map();
  let spare = 0;
  for (const n of flow.nodes || []) {
    const d = depth.has(n.id) ? depth.get(n.id) : Math.max(...depth.values(), 0) + 1 + spare++;
    const row = rows.get(d) || 0;
    rows.set(d, row + 1);
    at.set(n.id, { x: d * SPACING_X, y: row * SPACING_Y });
  }
  return at;
}

function validPosition(p) {
  return p && Number.isFinite(p.x) && Number.isFinite(p.y);
}

/** The canvas's {nodes, edges} for a flow from the API. */
export function toCanvas(flow) {
  const auto = layout(flow);
  const nodes = (flow.nodes || []).map((n) => ({
    id: n.id,
    type: n.type,
    position: validPosition(n.position) ? { x: n.position.x, y: n.position.y } : auto.get(n.id),
    data: { fields: { ...(n.data || {}) } },
  }));
  const edges = (flow.edges || []).map((e) => canvasEdge(e.from, e.label || 'next', e.to));
  const start = nodes.find((n) => n.id === flow.start);
  const anchor = start ? start.position : { x: 0, y: 0 };
  nodes.unshift(triggerNode({ x: anchor.x - SPACING_X, y: anchor.y }));
  if (start) edges.unshift(canvasEdge(TRIGGER_ID, 'next', start.id));
  return { nodes, edges };
}

export function triggerNode(position) {
  return {
    id: TRIGGER_ID,
    type: 'trigger',
    position,
    deletable: false,
    data: {},
  };
}

/** The edges after connecting `source`'s `handle` to `target`: each output
 * leads to one node, so a new edge replaces the one the handle had. */
export function connect(edges, source, handle, target) {
  const h = handle || 'next';
  if (source === target) return edges;
  const kept = edges.filter((e) => !(e.source === source && (e.sourceHandle || 'next') === h));
  return [...kept, canvasEdge(source, h, target)];
}

/** Removes the edge leaving `source` by `handle`. */
export function disconnect(edges, source, handle) {
  const h = handle || 'next';
  return edges.filter((e) => !(e.source === source && (e.sourceHandle || 'next') === h));
}

/** Edges from outputs the node no longer has (an api_call turned into a tag). */
export function pruneEdges(nodes, edges) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return edges.filter((e) => {
    const from = byId.get(e.source);
    if (!from || !byId.has(e.target)) return false;
    if (from.id === TRIGGER_ID) return true;
    // A randomizer's branch may vanish for a keystroke while its name is
    // retyped: its edge waits (toModel leaves out one whose branch is gone).
    if (from.type === 'randomizer') return true;
    return outputsOf(from.type, from.data.fields).some((o) => o.id === (e.sourceHandle || 'next'));
  });
}

/** The ids of the canvas's steps whose size is measured but whose handles are
 * not (`nodes`: @xyflow/react's internal nodes, its store's nodeLookup values).
 * Such a step draws no edge and takes no connection until it is measured again;
 * the editor re-measures them (editor.jsx, HandleBoundsGuard). */
export function unmeasuredHandles(nodes) {
  const ids = [];
  for (const n of nodes) {
    const m = n.measured;
    if (!n.hidden && m && m.width && m.height && !(n.internals && n.internals.handleBounds)) ids.push(n.id);
  }
  return ids;
}

/** The node the trigger leads to, or null. */
export function startOf(edges) {
  const e = edges.find((x) => x.source === TRIGGER_ID);
  return e ? e.target : null;
}

function text(v) {
  return typeof v === 'string' ? v : v == null ? '' : String(v);
}

/** The model's data for a node's fields: only the fields its kind uses.
 * Throws {node_id, message} when a field cannot be expressed (bad JSON body). */
export function cleanData(id, type, f) {
  switch (type) {
    case 'message': {
      const d = {};
      if (text(f.text) !== '' || !(f.media && text(f.media.url))) d.text = text(f.text);
      const qr = cleanQuickReplies(listOrText(f, 'quick_replies', 'quickRepliesText', parseQuickReplies));
      const bt = cleanButtons(listOrText(f, 'buttons', 'buttonsText', parseButtons));
      if (qr.length) d.quick_replies = qr;
      if (bt.length) d.buttons = bt;
      if (f.media && text(f.media.url).trim()) d.media = { type: f.media.type || 'image', url: text(f.media.url).trim() };
      return d;
    }
    case 'ask': {
      const d = {
        text: text(f.text),
        check: f.check || 'text',
        variable: text(f.variable).trim(),
        timeout_seconds: Number.parseInt(f.timeout_seconds, 10) || 0,
      };
      const qr = cleanQuickReplies(listOrText(f, 'quick_replies', 'quickRepliesText', parseQuickReplies));
      if (qr.length) d.quick_replies = qr;
      return d;
    }
    case 'randomizer':
      return { branches: branchesOf(f) };
    case 'condition':
      if (f.kind === 'tag') return f.op === 'lacks' ? { kind: 'tag', tag: text(f.tag).trim(), op: 'lacks' } : { kind: 'tag', tag: text(f.tag).trim() };
      if (f.kind === 'variable') {
        if (!f.op) return { kind: 'variable', name: text(f.name).trim(), equals: text(f.equals) };
        const d = { kind: 'variable', name: text(f.name).trim(), op: f.op };
        if (f.op !== 'is_set' && f.op !== 'is_not_set') d.value = text(f.value);
        return d;
      }
      if (f.kind === 'time') {
        const d = { kind: 'time' };
        if (text(f.from) && text(f.to)) Object.assign(d, { from: text(f.from), to: text(f.to) });
        const days = Array.isArray(f.weekdays) ? f.weekdays : [];
        if (days.length) d.weekdays = days.map(Number).sort();
        return d;
      }
      return { kind: 'keyword', keyword: text(f.keyword).trim() };
    case 'action':
      if (f.action === 'set_variable')
        return { action: 'set_variable', variable: text(f.variable).trim(), value: text(f.value) };
      if (f.action === 'api_call') {
        const d = { action: 'api_call', url: text(f.url).trim(), method: f.method || 'GET' };
        const body = typeof f.body === 'string' ? f.body.trim() : f.body;
        if (typeof body === 'string' && body !== '') {
          try {
            d.body = JSON.parse(body);
          } catch (e) {
            throw { node_id: id, field: 'body', message: 'The request body is not valid JSON' };
          }
        } else if (body && typeof body === 'object') {
          d.body = body;
        }
        if (text(f.save_as).trim()) d.save_as = text(f.save_as).trim();
        const headers = cleanHeaders(f.headers);
        if (headers.length) d.headers = headers;
        const map = mapOf(f.map);
        if (Object.keys(map).length) d.map = map;
        return d;
      }
      if (f.action === 'remove_tag') return { action: 'remove_tag', tag: text(f.tag).trim() };
      if (f.action === 'clear_variable') return { action: 'clear_variable', variable: text(f.variable).trim() };
      if (f.action === 'notify_agent') return { action: 'notify_agent', text: text(f.text) };
      if (f.action === 'handover') {
        const s = Number.parseInt(f.seconds, 10);
        return s > 0 ? { action: 'handover', seconds: s } : { action: 'handover' };
      }
      return { action: 'tag_customer', tag: text(f.tag).trim() };
    case 'delay':
      return { seconds: Number.parseInt(f.seconds, 10) || 0 };
    default:
      return { ...f };
  }
}

/** The API's flow body for the canvas and the header's fields. */
export function toModel(meta, nodes, edges) {
  const model = nodes.filter((n) => n.id !== TRIGGER_ID);
  return {
    name: meta.name,
    status: meta.status,
    trigger: cleanTrigger(meta.trigger),
    settings: cleanSettings(meta.settings),
    start: startOf(edges) || undefined,
    nodes: model.map((n) => ({
      id: n.id,
      type: n.type,
      data: cleanData(n.id, n.type, n.data.fields),
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    })),
    edges: edges
      .filter((e) => e.source !== TRIGGER_ID && branchExists(model, e))
      .map((e) => {
        const out = { from: e.source, to: e.target };
        const h = e.sourceHandle || 'next';
        if (h !== 'next') out.label = h;
        return out;
      }),
  };
}

/** False for a randomizer's edge whose branch no longer exists. */
function branchExists(nodes, e) {
  const from = nodes.find((n) => n.id === e.source);
  if (!from || from.type !== 'randomizer') return true;
  return branchesOf(from.data.fields).some((b) => b.name === (e.sourceHandle || 'next'));
}

/** Splits the trigger panel's keyword text ("price, cost") into keywords. */
export function splitKeywords(s) {
  return text(s)
    .split(/[,\n]/)
    .map((k) => k.trim())
    .filter(Boolean);
}

/** The trigger panel's fields as the API's trigger of its type. */
export function cleanTrigger(t) {
  if (!t || t.type === 'any_message') return { type: 'any_message' };
  const list = (v) => (Array.isArray(v) ? v : splitKeywords(v));
  switch (t.type) {
    case 'story_reply':
    case 'story_mention':
      return { type: t.type };
    case 'postback':
      return { type: 'postback', payloads: list(t.payloads) };
    case 'referral': {
      const refs = list(t.refs);
      return refs.length ? { type: 'referral', refs } : { type: 'referral' };
    }
    case 'comment': {
      const d = { type: 'comment' };
      const media = list(t.media_ids);
      const keywords = list(t.keywords);
      if (media.length) d.media_ids = media;
      if (keywords.length) Object.assign(d, { keywords, match: t.match || 'contains' });
      if (text(t.public_reply).trim()) d.public_reply = text(t.public_reply);
      return d;
    }
    default:
      return { type: 'keyword', keywords: list(t.keywords), match: t.match || 'contains' };
  }
}

/** settings {priority?, run_once?, cooldown_seconds?} with only what is set. */
export function cleanSettings(s) {
  const out = {};
  if (!s) return out;
  const p = Number.parseInt(s.priority, 10);
  if (p) out.priority = p;
  if (s.run_once) out.run_once = true;
  const c = Number.parseInt(s.cooldown_seconds, 10);
  if (c > 0) out.cooldown_seconds = c;
  return out;
}

/** Inserts `token` into `value` at [start, end); returns {value, caret}. */
export function insertAt(value, token, start, end) {
  const v = text(value);
  const a = Number.isInteger(start) ? Math.max(0, Math.min(start, v.length)) : v.length;
  const b = Number.isInteger(end) ? Math.max(a, Math.min(end, v.length)) : a;
  return { value: v.slice(0, a) + token + v.slice(b), caret: a + token.length };
}

/** Variable names the flow defines (set_variable, api_call's save_as), sorted. */
export function knownVariables(nodes) {
  const names = new Set();
  for (const n of nodes) {
    const f = (n.data && n.data.fields) || {};
    if (n.type === 'action' && f.action === 'set_variable' && text(f.variable).trim())
      names.add(text(f.variable).trim());
    if (n.type === 'action' && f.action === 'api_call' && text(f.save_as).trim())
      names.add(text(f.save_as).trim());
    if (n.type === 'condition' && f.kind === 'variable' && text(f.name).trim())
      names.add(text(f.name).trim());
  }
  return [...names].sort();
}

/** A variable name usable in {{vars.NAME}}: letters, digits, _ and - (dots walk into JSON). */
export function validVarName(name) {
  return /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(name);
}

function short(s, n) {
  const t = text(s).replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

export function humanSeconds(s) {
  const n = Number.parseInt(s, 10) || 0;
  if (n % 86400 === 0 && n >= 86400) return `${n / 86400} d`;
  if (n % 3600 === 0 && n >= 3600) return `${n / 3600} h`;
  if (n % 60 === 0 && n >= 60) return `${n / 60} min`;
  return `${n} s`;
}

/** One line saying what a node does, for the canvas and its accessible label. */
export function summary(type, f) {
  f = f || {};
  const q = (v, n) => `“${short(v, n)}”`;
  const set = (v) => text(v).trim() !== '';
  switch (type) {
    case 'message': {
      const extras = [];
      const qr = keptRows(listOrText(f, 'quick_replies', 'quickRepliesText', parseQuickReplies), ['title', 'payload']).length;
      const bt = keptRows(listOrText(f, 'buttons', 'buttonsText', parseButtons), ['title', 'payload', 'url']).length;
      if (f.media && set(f.media.url)) extras.push(f.media.type === 'video' ? 'a video' : 'an image');
      if (qr) extras.push(`${qr} quick repl${qr === 1 ? 'y' : 'ies'}`);
      if (bt) extras.push(`${bt} button${bt === 1 ? '' : 's'}`);
      const more = extras.length ? ` with ${extras.join(', ')}` : '';
      return set(f.text) ? `Send ${q(f.text, 60)}${more}` : extras.length ? `Send${more}` : 'Send a message (no text yet)';
    }
    case 'ask':
      return set(f.text)
        ? `Ask ${q(f.text, 40)}, save as vars.${short(f.variable, 20) || '?'} (${f.check || 'text'})`
        : 'Ask a question (no text yet)';
    case 'randomizer':
      return `Split ${branchesOf(f).map((b) => `${short(b.name, 10)} ${b.weight}%`).join(' / ') || '(no branches)'}`;
    case 'condition':
      if (f.kind === 'tag') return set(f.tag) ? `If the contact is tagged ${q(f.tag, 30)}` : 'If the contact has a tag (not set yet)';
      if (f.kind === 'variable' && f.op) {
        const ops = { equals: 'is', not_equals: 'is not', contains: 'contains', gt: '>', lt: '<', is_set: 'is set', is_not_set: 'is not set' };
        const unary = f.op === 'is_set' || f.op === 'is_not_set';
        return set(f.name) ? `If vars.${short(f.name, 20)} ${ops[f.op] || f.op}${unary ? '' : ` ${q(f.value, 20)}`}` : 'If a variable… (not set yet)';
      }
      if (f.kind === 'variable')
        return set(f.name) ? `If vars.${short(f.name, 20)} is ${q(f.equals, 20)}` : 'If a variable equals a value (not set yet)';
      if (f.kind === 'time') {
        const days = Array.isArray(f.weekdays) && f.weekdays.length ? ` on ${f.weekdays.map((d) => WEEKDAYS[d]).join(', ')}` : '';
        return `If it is ${set(f.from) ? `${f.from}–${f.to}` : 'any time'}${days} (account's time zone)`;
      }
      return set(f.keyword) ? `If the message contains ${q(f.keyword, 30)}` : 'If the message contains a keyword (not set yet)';
    case 'action':
      if (f.action === 'set_variable')
        return set(f.variable) ? `Set vars.${short(f.variable, 20)} to ${q(f.value, 30)}` : 'Set a variable (not set yet)';
      if (f.action === 'api_call') return set(f.url) ? `${f.method || 'GET'} ${short(f.url, 40)}` : 'Call an API (no URL yet)';
      if (f.action === 'remove_tag') return set(f.tag) ? `Remove the tag ${q(f.tag, 30)}` : 'Remove a tag (no tag yet)';
      if (f.action === 'clear_variable') return set(f.variable) ? `Clear vars.${short(f.variable, 20)}` : 'Clear a variable (not set yet)';
      if (f.action === 'notify_agent') return set(f.text) ? `Notify an agent: ${q(f.text, 40)}` : 'Notify an agent (no text yet)';
      if (f.action === 'handover') return 'Hand over to a person (automation pauses)';
      return set(f.tag) ? `Tag the contact ${q(f.tag, 30)}` : 'Tag the contact (no tag yet)';
    case 'delay':
      return `Wait ${humanSeconds(f.seconds)}`;
    default:
      return '';
  }
}

export const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export function triggerSummary(t) {
  const c = cleanTrigger(t);
  if (c.type === 'any_message') return 'Any incoming message';
  if (c.type === 'story_reply') return 'A reply to your story';
  if (c.type === 'story_mention') return 'A mention in a story';
  if (c.type === 'postback') return `A button or quick reply: ${c.payloads.map((p) => `“${short(p, 20)}”`).join(' or ') || '(none yet)'}`;
  if (c.type === 'referral') return c.refs ? `An ig.me link with ref ${c.refs.map((r) => `“${short(r, 20)}”`).join(' or ')}` : 'An ig.me link (any ref)';
  if (c.type === 'comment')
    return `A comment${c.media_ids ? ` on ${c.media_ids.length} post(s)` : ''}${c.keywords ? ` containing ${c.keywords.map((k) => `“${short(k, 20)}”`).join(' or ')}` : ''}`;
  const how = { contains: 'contains', exact: 'is exactly', starts_with: 'starts with' }[c.match];
  return c.keywords.length
    ? `Message ${how} ${c.keywords.map((k) => `“${short(k, 20)}”`).join(' or ')}`
    : 'Keyword (none yet)';
}

/** The path a run took: visit order per node and the edges followed, from a
 * trace [{node_id, type, result}] of the dry run or of a recorded run. */
export function pathOf(flow, trace) {
  const steps = new Map();
  const taken = new Set();
  const list = Array.isArray(trace) ? trace : [];
  list.forEach((t, i) => {
    if (!steps.has(t.node_id)) steps.set(t.node_id, []);
    steps.get(t.node_id).push(i + 1);
  });
  if (list.length && flow.start === list[0].node_id) taken.add(edgeId(TRIGGER_ID, 'next', flow.start));
  for (let i = 0; i + 1 < list.length; i++) {
    const from = list[i].node_id;
    const to = list[i + 1].node_id;
    const e = (flow.edges || []).find((x) => x.from === from && x.to === to);
    if (e) taken.add(edgeId(from, e.label || 'next', to));
  }
  return { steps, taken };
}

/** What a trace step's result says, in words. */
export function resultText(step) {
  const r = step.result;
  if (typeof r === 'boolean') return r ? 'true' : 'false';
  if (r && typeof r === 'object') {
    if (r.error === 'output_limit') return 'stopped: the run rendered too much text';
    if (r.error) return `error: ${r.error}`;
    if ('branch' in r) return `took branch “${short(r.branch, 30)}”`;
    if ('answer' in r) return `answer “${short(r.answer, 40)}”${r.valid ? ' saved' : ' refused'}`;
    if (r.timeout) return 'no answer in time';
    if ('text' in r) return `sent “${short(r.text, 80)}”`;
    if ('tag' in r) return `tagged “${short(r.tag, 40)}”`;
    if ('variable' in r) return `vars.${r.variable} = “${short(r.value, 40)}”`;
    if ('seconds' in r) return `waited ${humanSeconds(r.seconds)}${r.dry_run ? ' (skipped)' : ''}`;
    if ('url' in r) return `called ${short(r.url, 60)}${r.dry_run ? ' (skipped)' : ''}`;
  }
  return '';
}

/** No errors anywhere. */
export function noErrors() {
  return { nodes: {}, name: null, trigger: null, general: null };
}

/** Where an API error belongs: on a step (node_id), at the name, at the trigger, or in
 * the banner. Returns {nodes: {id: {message, field}}, name, trigger, general}. */
export function placeError(e, nodeIds) {
  const out = noErrors();
  if (e.node_id && nodeIds.includes(e.node_id)) {
    // Shown on the step itself, the message need not name it again.
    const prefix = `node ${e.node_id}: `;
    const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    out.nodes[e.node_id] = { message, field: e.field === 'body' ? 'body' : null };
  } else if (e.field === 'name') {
    out.name = e.message;
  } else if (e.field === 'trigger' || e.field === 'start') {
    out.trigger = e.field === 'start' ? `${e.message}: connect the trigger to the first step.` : e.message;
  } else {
    out.general = e.message;
  }
  return out;
}
