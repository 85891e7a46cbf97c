// The store's avatars (store.js): which picture a conversation shows, user.updated
// redrawing a user everywhere they appear, and which signed URLs are about to expire.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store } from '../store.js';

const url = (id, exp) => `/api/attachments/${id}/thumbnail?a=x&exp=${exp}&sig=00`;

function seeded() {
  const s = new Store();
  s.me = { id: 'me', name: 'Me', avatar_url: url('m', 5000) };
  s.putConversations([
    { id: 'd1', type: 'direct', updated_at: '2', participants: [{ id: 'me', name: 'Me' }, { id: 'ann', name: 'Ann', avatar_url: url('a', 9000) }] },
    { id: 'g1', type: 'group', name: 'Team', avatar_url: url('g', 9000), updated_at: '1',
      participants: [{ id: 'me', name: 'Me' }, { id: 'ann', name: 'Ann', avatar_url: url('a', 9000) }, { id: 'bo', name: 'Bo', avatar_url: null }] },
    { id: 'g2', type: 'group', name: 'Bare', avatar_url: null, updated_at: '0', participants: [{ id: 'bo', name: 'Bo', avatar_url: null }] },
    { id: 'i1', type: 'instagram', updated_at: '0', contact: { profile_pic: 'https://cdn.example/p.jpg' }, participants: [] },
  ]);
  return s;
}

test('a conversation shows its group picture, its peer\'s, or a contact\'s; null draws initials', () => {
  const s = seeded();
  assert.equal(s.convPic(s.convs.get('d1')), url('a', 9000));
  assert.equal(s.convPic(s.convs.get('g1')), url('g', 9000));
  assert.equal(s.convPic(s.convs.get('g2')), null);
  assert.equal(s.convPic(s.convs.get('i1')), 'https://cdn.example/p.jpg');
  assert.equal(s.userPic('me'), url('m', 5000));
  assert.equal(s.userPic('bo'), null);
});

test('user.updated redraws the user in every conversation, as new objects, and the user themself', () => {
  const s = seeded();
  const before = s.convs.get('g1');
  const untouched = s.convs.get('g2');
  s.onUserUpdated({ id: 'ann', name: 'Ann B', avatar_url: null });
  assert.notEqual(s.convs.get('g1'), before); // memoised rows see a new object
  assert.equal(s.convs.get('g2'), untouched);
  assert.equal(s.convPic(s.convs.get('d1')), null);
  assert.equal(s.title(s.convs.get('d1')), 'Ann B');
  assert.equal(s.convs.get('g1').participants[1].avatar_url, null);
  s.onUserUpdated({ id: 'me', name: 'Me', avatar_url: url('m2', 9000) });
  assert.equal(s.me.avatar_url, url('m2', 9000));
  s.onUserUpdated({ name: 'no id' }); // ignored
});

test('expiring avatars: the conversations whose picture or a member\'s expires soon, and the user\'s', () => {
  const s = seeded();
  assert.deepEqual(s.expiringAvatars(1000), { convs: [], me: false });
  assert.deepEqual(s.expiringAvatars(6000), { convs: [], me: true });
  assert.deepEqual(s.expiringAvatars(9001).convs.sort(), ['d1', 'g1']);
});
