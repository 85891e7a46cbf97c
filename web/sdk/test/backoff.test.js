import './fakes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../parley.js';
import { Pacer } from '../backoff.js';
import { Clock } from './fakes.js';

test('backoff doubles its cap per attempt, within [cap/2, cap], up to the maximum', () => {
  const opts = { baseMs: 500, maxMs: 30000 };
  for (let attempt = 0; attempt < 40; attempt++) {
    const cap = Math.min(30000, 500 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, opts, () => 0), cap / 2);
    const hi = backoffDelay(attempt, opts, () => 0.999999);
    assert.ok(hi <= cap && hi >= cap * 0.99, `attempt ${attempt}: ${hi} vs cap ${cap}`);
  }
  assert.equal(backoffDelay(0, opts, () => 0), 250);
  assert.equal(backoffDelay(6, opts, () => 0), 15000);
  assert.equal(backoffDelay(7, opts, () => 0), 15000);
});

test('backoff is jittered: clients that lost the same server spread out', () => {
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3, {}, Math.random);
    assert.ok(d >= 2000 && d <= 4000, `${d}`);
    seen.add(Math.floor(d / 100));
  }
  assert.ok(seen.size >= 10, `only ${seen.size} distinct delays`);
});

test('the pacer never lets more than burst + rate·t frames out', async () => {
  const clock = new Clock();
  const out = [];
  const p = new Pacer({ rate: 10, burst: 20, now: clock.now, setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout }, (f) => out.push({ f, at: clock.t }));
  const start = clock.t;
  for (let i = 0; i < 100; i++) assert.ok(p.push(i));
  assert.equal(out.length, 20);
  await clock.tick(1000);
  assert.equal(out.length, 30);
  await clock.tick(7000);
  assert.equal(out.length, 100);
  assert.deepEqual(out.map((o) => o.f), [...Array(100).keys()]);
  // Over any one-second window: at most the burst plus one second of rate.
  for (const o of out) {
    const inWindow = out.filter((x) => x.at >= o.at && x.at < o.at + 1000).length;
    assert.ok(inWindow <= 30, `${inWindow} frames in a second from ${o.at - start}`);
  }
  p.clear();
  assert.equal(p.queued, 0);
});
