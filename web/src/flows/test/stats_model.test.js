// The analytics panel's pure parts (stats_model.js): the chart's days and the
// numbers written on a step.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DAYS_SHOWN, lastDays, nodeStatsText } from '../stats_model.js';

test('the chart shows the last days up to today, empty days as zero', () => {
  const days = lastDays(
    [
      { date: '2026-12-02', started: 5 },
      { date: '2026-11-30', started: 2 },
      { date: '2026-10-01', started: 9 }, // too old to show
    ],
    new Date('2026-12-02T23:30:00Z'),
  );
  assert.equal(days.length, DAYS_SHOWN);
  assert.deepEqual(days[DAYS_SHOWN - 1], { date: '2026-12-02', started: 5 });
  assert.deepEqual(days[DAYS_SHOWN - 3], { date: '2026-11-30', started: 2 });
  assert.deepEqual(days[0], { date: '2026-11-19', started: 0 });
  assert.equal(days.reduce((n, d) => n + d.started, 0), 7);
  // Across a month's end.
  assert.equal(lastDays([], new Date('2026-03-01T00:00:00Z'))[DAYS_SHOWN - 2].date, '2026-02-28');
});

test("a step's numbers: reached always, sends and clicks when there are some", () => {
  assert.equal(nodeStatsText(null), '');
  assert.equal(nodeStatsText({ reached: 0, sent: 0, clicks: 0, click_through: null }), '0 reached');
  assert.equal(nodeStatsText({ reached: 12, sent: 8, clicks: 0, click_through: 0 }), '12 reached · 8 sent');
  assert.equal(nodeStatsText({ reached: 12, sent: 8, clicks: 2, click_through: 0.25 }), '12 reached · 8 sent · 25% clicked');
  // reached counts contacts; a contact that came back shows in the runs.
  assert.equal(nodeStatsText({ reached: 1, runs: 3, sent: 3, clicks: 0, click_through: 0 }), '1 reached (3 runs) · 3 sent');
  assert.equal(nodeStatsText({ reached: 2, runs: 2, sent: 0, clicks: 0, click_through: null }), '2 reached');
});
