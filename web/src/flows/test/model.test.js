// The flow builder's pure model (model.js): the API's flow and the canvas both
// ways, connecting outputs, the dry run's path, and inserting variables.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TRIGGER_ID,
  branchesOf,
  cleanButtons,
  cleanData,
  cleanHeaders,
  cleanQuickReplies,
  keptRows,
  mapOf,
  mapRows,
  outputsOf,
  parseButtons,
  connect,
  disconnect,
  insertAt,
  knownVariables,
  newNodeId,
  pathOf,
  placeError,
  pruneEdges,
  startOf,
  toCanvas,
  toModel,
  unmeasuredHandles,
} from '../model.js';

const FLOW = {
  id: 'f1',
  name: 'price',
  status: 'active',
  trigger: { type: 'keyword', keywords: ['price', 'cost'], match: 'starts_with' },
  start: 'm1',
  nodes: [
    { id: 'm1', type: 'message', data: { text: 'Hi {{contact.username}}' }, position: { x: 10, y: 20 } },
    { id: 'c1', type: 'condition', data: { kind: 'keyword', keyword: 'cheap' }, position: { x: 300, y: 20 } },
    { id: 't1', type: 'action', data: { action: 'tag_customer', tag: 'vip' }, position: { x: 600, y: -60 } },
    { id: 'd1', type: 'delay', data: { seconds: 60 }, position: { x: 600, y: 100 } },
  ],
  edges: [
    { from: 'm1', to: 'c1' },
    { from: 'c1', to: 't1', label: 'true' },
    { from: 'c1', to: 'd1', label: 'false' },
  ],
};

function meta(flow) {
  return { name: flow.name, status: flow.status, trigger: flow.trigger };
}

test('a flow survives the canvas and back, positions included', () => {
  const { nodes, edges } = toCanvas(FLOW);
  assert.equal(nodes[0].id, TRIGGER_ID);
  assert.equal(startOf(edges), 'm1');
  const back = toModel(meta(FLOW), nodes, edges);
  assert.deepEqual(back, {
    name: FLOW.name,
    status: FLOW.status,
    trigger: FLOW.trigger,
    settings: {},
    start: 'm1',
    nodes: FLOW.nodes,
    edges: FLOW.edges,
  });
});

test('the blocks of issue 19 survive the canvas and back', () => {
  const flow = {
    name: 'blocks',
    status: 'active',
    trigger: { type: 'comment', media_ids: ['179'], keywords: ['link'], match: 'contains', public_reply: 'Check your DMs' },
    settings: { priority: 5, run_once: true, cooldown_seconds: 60 },
    start: 'm',
    nodes: [
      {
        id: 'm',
        type: 'message',
        data: {
          text: 'Pick',
          quick_replies: [{ title: 'Blue', payload: 'BLUE' }],
          media: { type: 'image', url: 'https://cdn.example/a.jpg' },
        },
        position: { x: 0, y: 0 },
      },
      {
        id: 'b',
        type: 'message',
        data: { text: 'More', buttons: [{ type: 'postback', title: 'Talk', payload: 'HUMAN' }, { type: 'url', title: 'Shop', url: 'https://shop.example' }] },
        position: { x: 1, y: 0 },
      },
      { id: 'a', type: 'ask', data: { text: 'E-mail?', check: 'email', variable: 'email', timeout_seconds: 60 }, position: { x: 2, y: 0 } },
      { id: 'r', type: 'randomizer', data: { branches: [{ name: 'A', weight: 30 }, { name: 'B', weight: 70 }] }, position: { x: 3, y: 0 } },
      { id: 'c', type: 'condition', data: { kind: 'time', from: '09:00', to: '17:00', weekdays: [1, 2] }, position: { x: 4, y: 0 } },
      { id: 'h', type: 'action', data: { action: 'handover', seconds: 600 }, position: { x: 5, y: 0 } },
    ],
    edges: [
      { from: 'm', to: 'b' },
      { from: 'b', to: 'a' },
      { from: 'a', to: 'r' },
      { from: 'a', to: 'h', label: 'timeout' },
      { from: 'r', to: 'c', label: 'A' },
      { from: 'r', to: 'h', label: 'B' },
      { from: 'c', to: 'h', label: 'true' },
    ],
  };
  const { nodes, edges } = toCanvas(flow);
  const back = toModel({ ...meta(flow), trigger: flow.trigger, settings: flow.settings }, nodes, edges);
  assert.deepEqual(back.trigger, flow.trigger);
  assert.deepEqual(back.settings, flow.settings);
  assert.deepEqual(back.nodes, flow.nodes);
  assert.deepEqual(new Set(back.edges.map((e) => JSON.stringify(e))), new Set(flow.edges.map((e) => JSON.stringify(e))));
  // The editors' text forms.
  assert.deepEqual(parseButtons('Talk | HUMAN\nShop | https://shop.example'), flow.nodes[1].data.buttons);
  assert.deepEqual(branchesOf({ branchesText: 'A: 30\nB: 70' }), flow.nodes[3].data.branches);
  assert.deepEqual(outputsOf('ask', {}).map((o) => o.id), ['next', 'invalid', 'timeout']);
  // A branch renamed keystroke by keystroke keeps its edge until saved; a
  // branch gone at save drops its edge.
  const r = nodes.find((n) => n.id === 'r');
  r.data.fields = { branchesText: 'A: 30\nBx: 70' };
  const kept = pruneEdges(nodes, edges);
  assert.equal(kept.filter((e) => e.source === 'r').length, 2);
  const saved = toModel(meta(flow), nodes, kept);
  assert.deepEqual(saved.edges.filter((e) => e.from === 'r'), [{ from: 'r', to: 'c', label: 'A' }]);
});

test('steps without positions are laid out in columns from the start', () => {
  const flow = { ...FLOW, nodes: FLOW.nodes.map(({ position, ...n }) => n) };
  const { nodes } = toCanvas(flow);
  const at = Object.fromEntries(nodes.map((n) => [n.id, n.position]));
  assert.ok(at.m1.x < at.c1.x && at.c1.x < at.t1.x);
  assert.equal(at.t1.x, at.d1.x);
  assert.notEqual(at.t1.y, at.d1.y);
  assert.ok(at[TRIGGER_ID].x < at.m1.x);
});

test('an output leads to one step: connecting again replaces the edge', () => {
  let { edges } = toCanvas(FLOW);
  edges = connect(edges, 'c1', 'true', 'm1');
  const fromTrue = edges.filter((e) => e.source === 'c1' && e.sourceHandle === 'true');
  assert.deepEqual(fromTrue.map((e) => e.target), ['m1']);
  assert.equal(edges.filter((e) => e.source === 'c1').length, 2);
  assert.equal(connect(edges, 'm1', 'next', 'm1'), edges, 'no edge to itself');
  edges = disconnect(edges, 'c1', 'false');
  assert.deepEqual(toModel(meta(FLOW), toCanvas(FLOW).nodes, edges).edges.filter((e) => e.from === 'c1'), [
    { from: 'c1', to: 'm1', label: 'true' },
  ]);
});

test('edges of deleted steps and of outputs a step lost are dropped', () => {
  const c = toCanvas({
    ...FLOW,
    nodes: [...FLOW.nodes, { id: 'a1', type: 'action', data: { action: 'api_call', url: 'https://x.test' } }],
    edges: [...FLOW.edges, { from: 'd1', to: 'a1' }, { from: 'a1', to: 'm1', label: 'false' }],
  });
  const nodes = c.nodes
    .filter((n) => n.id !== 'd1')
    .map((n) => (n.id === 'a1' ? { ...n, data: { fields: { action: 'tag_customer', tag: 'x' } } } : n));
  const kept = pruneEdges(nodes, c.edges).map((e) => e.id);
  assert.ok(!kept.some((id) => id.includes('d1')));
  assert.ok(!kept.includes('a1:false->m1'), 'a tag action has no failure output');
  assert.ok(kept.includes('c1:true->t1'));
});

test('the path of a trace: steps in order and the edges followed', () => {
  const trace = [
    { node_id: 'm1', type: 'message', result: { text: 'Hi' } },
    { node_id: 'c1', type: 'condition', result: false },
    { node_id: 'd1', type: 'delay', result: { seconds: 60 } },
  ];
  const { steps, taken } = pathOf(FLOW, trace);
  assert.deepEqual([...steps.entries()], [
    ['m1', [1]],
    ['c1', [2]],
    ['d1', [3]],
  ]);
  assert.deepEqual([...taken].sort(), [`${TRIGGER_ID}:next->m1`, 'c1:false->d1', 'm1:next->c1'].sort());
  assert.equal(pathOf(FLOW, []).steps.size, 0);
});

test('fields are cleaned per kind; a bad JSON body names its step', () => {
  assert.deepEqual(cleanData('x', 'delay', { seconds: '90' }), { seconds: 90 });
  assert.deepEqual(cleanData('x', 'condition', { kind: 'tag', tag: ' vip ', keyword: 'stale' }), {
    kind: 'tag',
    tag: 'vip',
  });
  assert.deepEqual(cleanData('x', 'action', { action: 'api_call', url: 'https://a.test', body: '{"a":1}', save_as: 'q' }), {
    action: 'api_call',
    url: 'https://a.test',
    method: 'GET',
    body: { a: 1 },
    save_as: 'q',
  });
  assert.throws(() => cleanData('a9', 'action', { action: 'api_call', url: 'https://a.test', body: '{' }), (e) => {
    assert.equal(e.node_id, 'a9');
    return true;
  });
});

test('variables go in at the caret, replacing a selection', () => {
  assert.deepEqual(insertAt('Hi !', '{{contact.username}}', 3, 3), { value: 'Hi {{contact.username}}!', caret: 23 });
  assert.deepEqual(insertAt('Hi XX!', '{{v}}', 3, 5), { value: 'Hi {{v}}!', caret: 8 });
  assert.deepEqual(insertAt('', '{{v}}', null, null), { value: '{{v}}', caret: 5 });
});

test('new ids are unused; known variables come from the steps', () => {
  const { nodes } = toCanvas(FLOW);
  assert.equal(newNodeId('message', [...nodes, { id: 'message-1' }]), 'message-2');
  const withVars = [
    ...nodes,
    { id: 's', type: 'action', data: { fields: { action: 'set_variable', variable: 'size', value: 'M' } } },
    { id: 'a', type: 'action', data: { fields: { action: 'api_call', url: 'https://a', save_as: 'quote' } } },
  ];
  assert.deepEqual(knownVariables(withVars), ['quote', 'size']);
});

test('errors land where they belong: the step named, the name, the trigger, else the banner', () => {
  const ids = ['m1', 'c1'];
  const onStep = placeError(
    { field: 'edges', node_id: 'c1', message: 'node c1: a condition needs exactly one "true" and one "false" edge' },
    ids,
  );
  assert.deepEqual(onStep.nodes, { c1: { message: 'a condition needs exactly one "true" and one "false" edge', field: null } });
  assert.equal(onStep.general, null);
  assert.equal(placeError({ field: 'nodes', node_id: 'gone', message: 'x' }, ids).general, 'x');
  assert.equal(placeError({ field: 'name', message: 'name must be 1 to 100 characters' }, ids).name, 'name must be 1 to 100 characters');
  assert.match(placeError({ field: 'start', message: 'start is missing' }, ids).trigger, /^start is missing: connect/);
  assert.equal(placeError({ field: 'trigger', message: 'a keyword trigger needs 1 to 100 keywords' }, ids).trigger,
    'a keyword trigger needs 1 to 100 keywords');
  assert.equal(placeError({ status: 0, message: 'network error' }, ids).general, 'network error');
});

test('row editors: rows left blank are dropped, the rest become the API\'s lists', () => {
  assert.deepEqual(keptRows([{ title: '' }, null, { title: ' x ' }], ['title']), [{ title: ' x ' }]);
  assert.deepEqual(cleanQuickReplies([{ title: ' Blue ', payload: 'BLUE ' }, { title: '', payload: '' }]), [
    { title: 'Blue', payload: 'BLUE' },
  ]);
  // A button row keeps the field of its type, whatever the other held before.
  assert.deepEqual(
    cleanButtons([
      { type: 'postback', title: 'Talk', payload: 'HUMAN', url: 'https://left.over' },
      { type: 'url', title: 'Shop', url: 'https://shop.example', payload: 'OLD' },
      { type: 'url', title: '', url: '', payload: '' },
    ]),
    [
      { type: 'postback', title: 'Talk', payload: 'HUMAN' },
      { type: 'url', title: 'Shop', url: 'https://shop.example' },
    ],
  );
  assert.deepEqual(cleanHeaders([{ name: ' X-Key ', value: ' v 1' }, { name: '', value: '' }]), [{ name: 'X-Key', value: ' v 1' }]);
  // The mapping is an object in the API and rows in the editor, both ways.
  const map = { order_id: 'data.items.0.id', total: 'data.total' };
  assert.deepEqual(mapRows(map), [
    { variable: 'order_id', path: 'data.items.0.id' },
    { variable: 'total', path: 'data.total' },
  ]);
  assert.deepEqual(mapOf([...mapRows(map), { variable: '', path: '' }]), map);
  assert.deepEqual(mapOf(map), map);
  assert.deepEqual(mapRows(undefined), []);
});

test('row editors: an api_call, a message and a randomizer edited as rows save as the API\'s data', () => {
  const api = cleanData('a1', 'action', {
    action: 'api_call',
    url: 'https://api.example/orders',
    method: 'POST',
    headers: [{ name: 'Authorization', value: 'Bearer t' }, { name: '', value: '' }],
    map: [{ variable: 'order', path: 'data.id' }, { variable: '', path: '' }],
  });
  assert.deepEqual(api, {
    action: 'api_call',
    url: 'https://api.example/orders',
    method: 'POST',
    headers: [{ name: 'Authorization', value: 'Bearer t' }],
    map: { order: 'data.id' },
  });
  // Every row removed: no headers, no map.
  assert.deepEqual(cleanData('a1', 'action', { action: 'api_call', url: 'https://x.example', headers: [], map: [] }), {
    action: 'api_call',
    url: 'https://x.example',
    method: 'GET',
  });
  const m = cleanData('m1', 'message', {
    text: 'Pick',
    quick_replies: [{ title: 'A', payload: 'PA' }, { title: '', payload: '' }],
  });
  assert.deepEqual(m, { text: 'Pick', quick_replies: [{ title: 'A', payload: 'PA' }] });
  // A branch row just added (blank) is no output yet; weights typed as text count as numbers.
  const fields = { branches: [{ name: 'A', weight: '40' }, { name: 'B', weight: 60 }, { name: '', weight: '' }] };
  assert.deepEqual(outputsOf('randomizer', fields).map((o) => o.id), ['A', 'B']);
  assert.deepEqual(cleanData('r1', 'randomizer', fields), {
    branches: [
      { name: 'A', weight: 40 },
      { name: 'B', weight: 60 },
    ],
  });
});

test('unmeasuredHandles: steps measured whose handles are not, as the canvas must measure again', () => {
  const bounds = { source: [], target: [] };
  const nodes = [
    { id: 'ok', measured: { width: 240, height: 56 }, internals: { handleBounds: bounds } },
    // Dropped by a late nodes prop after the first measurement: no edge is drawn.
    { id: 'lost', measured: { width: 240, height: 56 }, internals: { handleBounds: undefined } },
    // Not measured yet: its ResizeObserver measures it.
    { id: 'new', measured: { width: undefined, height: undefined }, internals: {} },
    { id: 'hidden', hidden: true, measured: { width: 240, height: 56 }, internals: {} },
    // A step without handles has bounds of nulls, which count as measured.
    { id: 'none', measured: { width: 240, height: 56 }, internals: { handleBounds: { source: null, target: null } } },
  ];
  assert.deepEqual(unmeasuredHandles(nodes), ['lost']);
  assert.deepEqual(unmeasuredHandles(new Map(nodes.map((n) => [n.id, n])).values()), ['lost']);
});
