// The analytics panel's pure parts: the days its chart shows, and the numbers
// a step carries on the canvas. Tested by node --test (test/stats_model.test.js).

export const DAYS_SHOWN = 14;

/** The last DAYS_SHOWN days (UTC) ending today, with the runs started on each. */
export function lastDays(days, today = new Date()) {
  const byDate = new Map((days || []).map((d) => [d.date, d.started]));
  const out = [];
  for (let i = DAYS_SHOWN - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    const date = d.toISOString().slice(0, 10);
    out.push({ date, started: byDate.get(date) || 0 });
  }
  return out;
}

/** A step's numbers as the canvas writes them: "12 reached (15 runs) · 8 sent ·
 * 25% clicked"; reached counts contacts, the runs only when some came back. */
export function nodeStatsText(n) {
  if (!n) return '';
  const parts = [n.runs > n.reached ? `${n.reached} reached (${n.runs} runs)` : `${n.reached} reached`];
  if (n.sent) parts.push(`${n.sent} sent`);
  if (n.clicks && n.click_through !== null && n.click_through !== undefined)
    parts.push(`${Math.round(n.click_through * 100)}% clicked`);
  return parts.join(' · ');
}
