// Messages read again for fresh attachment URLs (store.js refreshMessages): the loaded
// ones are replaced by seq, nothing is added, and the window's edges stay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store } from '../store.js';

const msg = (seq, exp) => ({ id: `m${seq}`, conversation_id: 'c', seq, text: `t${seq}`,
  attachments: [{ id: `f${seq}`, type: 'file', size: 1, url: `/api/attachments/f${seq}?c=c&exp=${exp}&sig=00` }] });

test('refreshMessages replaces loaded messages and adds none', () => {
  const s = new Store();
  s.putPage('c', [msg(1, 100), msg(2, 100), msg(3, 100)], true, 'latest');
  const before = s.version;
  s.refreshMessages('c', [msg(2, 900), msg(3, 900), msg(4, 900)]);
  const ch = s.chat('c');
  assert.deepEqual(ch.items.map((m) => m.seq), [1, 2, 3]);
  assert.deepEqual(ch.items.map((m) => m.attachments[0].url.match(/exp=(\d+)/)[1]), ['100', '900', '900']);
  assert.equal(ch.hasOlder, true);
  assert.equal(ch.hasNewer, false);
  assert.equal(s.version, before + 1);
});

test('refreshMessages of an unloaded chat or unknown seqs changes nothing', () => {
  const s = new Store();
  s.refreshMessages('nope', [msg(1, 900)]);
  assert.equal(s.chats.has('nope'), false);
  s.putPage('c', [msg(5, 100)], false, 'latest');
  const before = s.version;
  s.refreshMessages('c', [msg(9, 900)]);
  assert.equal(s.version, before);
  assert.deepEqual(s.chat('c').items.map((m) => m.seq), [5]);
});
