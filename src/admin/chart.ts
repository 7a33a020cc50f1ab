import type { MinuteCounts } from '../store/webhook-stats.js';
import { html, type Html } from './html.js';

const SERIES = [
  { key: 'received', label: 'received', color: '#2271b1' },
  { key: 'coalesced', label: 'coalesced', color: '#72aee6' },
  { key: 'rejected', label: 'rejected', color: '#b32d2e' },
] as const;

/** Webhooks per minute as an inline SVG line chart (ours: no chart library, nothing remote). */
export function webhookChart(minutes: readonly MinuteCounts[]): Html {
  const width = 720;
  const height = 200;
  const pad = { left: 36, right: 24, top: 10, bottom: 24 };
  const max = Math.max(1, ...minutes.flatMap((m) => [m.received, m.coalesced, m.rejected]));
  const top = niceCeiling(max);
  const x = (i: number) => pad.left + (minutes.length <= 1 ? 0 : (i * (width - pad.left - pad.right)) / (minutes.length - 1));
  const y = (v: number) => pad.top + (height - pad.top - pad.bottom) * (1 - v / top);
  const totals = SERIES.map((s) => `${minutes.reduce((n, m) => n + m[s.key], 0)} ${s.label}`).join(', ');
  const ticks = [0, top / 2, top];
  const labelEvery = Math.max(1, Math.ceil(minutes.length / 6));
  return html`<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="Webhooks per minute over the last ${minutes.length} minutes: ${totals}" xmlns="http://www.w3.org/2000/svg">
${ticks.map((t) => html`<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#dcdcde" stroke-width="1"/><text x="${pad.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#50575e">${formatTick(t)}</text>`)}
${minutes.map((m, i) => (i % labelEvery === 0 || i === minutes.length - 1 ? html`<text x="${x(i).toFixed(1)}" y="${height - 6}" text-anchor="middle" font-size="11" fill="#50575e">${new Date(m.minute).toISOString().slice(11, 16)}</text>` : ''))}
${SERIES.map((s) => html`<polyline fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" data-series="${s.key}" points="${minutes.map((m, i) => `${x(i).toFixed(1)},${y(m[s.key]).toFixed(1)}`).join(' ')}"/>`)}
</svg>`;
}

export function chartLegend(): Html {
  return html`<ul class="legend">${SERIES.map((s) => html`<li><span class="swatch s-${s.key}"></span>${s.label}</li>`)}</ul>`;
}

function niceCeiling(n: number): number {
  const step = 10 ** Math.floor(Math.log10(n));
  for (const f of [1, 2, 5, 10]) if (f * step >= n) return f * step;
  return 10 * step;
}

const formatTick = (t: number) => (Number.isInteger(t) ? String(t) : t.toFixed(1));
