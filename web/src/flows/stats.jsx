/** @jsxRuntime classic */
/** @jsx h */
// The flow's analytics: runs started, completed and failed for one version or
// all of them, runs started each day as a small bar chart (SVG, so nothing is
// styled inline), and a switch that writes each step's numbers on the canvas.
import { h } from 'preact';

import { DAYS_SHOWN, lastDays } from './stats_model.js';

const CHART_W = 280;
const CHART_H = 64;

function Chart({ days }) {
  const shown = lastDays(days);
  const max = Math.max(1, ...shown.map((d) => d.started));
  const bw = CHART_W / shown.length;
  const total = shown.reduce((n, d) => n + d.started, 0);
  return (
    <svg class="flow-stats__chart" viewBox={`0 0 ${CHART_W} ${CHART_H + 14}`} role="img"
      aria-label={`Runs started per day over the last ${DAYS_SHOWN} days: ${total} in all`} data-test="flow-stats-chart">
      {shown.map((d, i) => {
        const hgt = Math.round((d.started / max) * CHART_H);
        return (
          <rect key={d.date} class="flow-stats__bar" x={i * bw + 1} y={CHART_H - hgt} width={bw - 2} height={Math.max(hgt, 1)}>
            <title>{`${d.date}: ${d.started} run${d.started === 1 ? '' : 's'}`}</title>
          </rect>
        );
      })}
      <text class="flow-stats__axis" x="0" y={CHART_H + 12}>{shown[0].date.slice(5)}</text>
      <text class="flow-stats__axis" x={CHART_W} y={CHART_H + 12} text-anchor="end">today</text>
    </svg>
  );
}

export function StatsPanel({ stats, versions, version, error, onVersion, onRefresh, onCanvas, canvas }) {
  const r = (stats && stats.runs) || {};
  const ended = (r.completed || 0) + (r.failed || 0) + (r.step_limit || 0) + (r.output_limit || 0);
  return (
    <section class="flow-panel flow-stats" aria-labelledby="flow-stats-title" data-test="flow-stats">
      <div class="flow-row flow-row--between">
        <h2 id="flow-stats-title" class="flow-panel__title">
          Analytics
        </h2>
        <button type="button" class="flow-button flow-button--small" onClick={onRefresh}>
          Refresh
        </button>
      </div>
      <label class="flow-field">
        <span class="flow-field__label">Version</span>
        <select class="flow-input" value={version || ''} onChange={(e) => onVersion(e.currentTarget.value ? Number(e.currentTarget.value) : null)}
          data-test="flow-stats-version">
          <option value="">All versions</option>
          {(versions || []).map((v) => (
            <option key={v.version} value={v.version}>
              Version {v.version}
            </option>
          ))}
        </select>
      </label>
      {error && <p class="flow-field__error">{error}</p>}
      {stats && (
        <div>
          <dl class="flow-stats__runs">
            <div><dt>Started</dt><dd data-test="stat-started">{r.started || 0}</dd></div>
            <div><dt>Completed</dt><dd data-test="stat-completed">{r.completed || 0}</dd></div>
            <div><dt>Failed</dt><dd data-test="stat-failed">{(r.failed || 0) + (r.step_limit || 0) + (r.output_limit || 0)}</dd></div>
            <div><dt>Waiting</dt><dd>{Math.max(0, (r.started || 0) - ended)}</dd></div>
          </dl>
          <Chart days={stats.days} />
          <label class="flow-check">
            <input type="checkbox" checked={canvas} onChange={(e) => onCanvas(e.currentTarget.checked)} data-test="flow-stats-canvas" />
            Show each step's numbers on the canvas
          </label>
        </div>
      )}
    </section>
  );
}

