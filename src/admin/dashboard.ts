import type { FastifyReply } from 'fastify';
import type { AppContext } from '../api/context.js';
import { countJobs } from '../store/jobs.js';
import { lastWebhookAt, webhooksPerMinute } from '../store/webhook-stats.js';
import { chartLegend, webhookChart } from './chart.js';
import { html } from './html.js';
import { iso, layout, relativeAge, sendPage } from './layout.js';
import type { AdminSetup } from './setup-context.js';

const WINDOW_MINUTES = 60;

async function counterTotal(counter: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await counter.get()).values.reduce((n, v) => n + v.value, 0);
}

/** Everything the dashboard shows, as display strings (the page and its live JSON share it). */
async function dashboardData(ctx: AppContext, setup: AdminSetup) {
  const { db, clock, metrics } = ctx.engine;
  const now = clock.now();
  const since = Math.floor(now / 60000) * 60000 - (WINDOW_MINUTES - 1) * 60000;
  const [minutes, queue, last, latency, calls, limited] = await Promise.all([
    webhooksPerMinute(db, since, now),
    countJobs(db),
    lastWebhookAt(db),
    metrics.reconcileLatency.get(),
    counterTotal(metrics.crmCalls),
    counterTotal(metrics.crmRateLimited),
  ]);
  const sum = latency.values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  const count = latency.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  const total = (key: 'received' | 'coalesced' | 'rejected') => minutes.reduce((n, m) => n + m[key], 0);
  const stats = {
    received: String(total('received')),
    coalesced: String(total('coalesced')),
    rejected: String(total('rejected')),
    pending: String(queue.pending),
    retrying: String(queue.retrying),
    running: String(queue.running),
    dead: String(queue.dead),
    latency: count > 0 ? `${((sum / count) * 1000).toFixed(0)} ms` : '—',
    reconciles: String(count),
    crmCalls: String(calls),
    rateLimited: String(limited),
    lastWebhook: last === null ? 'never' : relativeAge(now - last),
    lastWebhookAt: last === null ? '' : iso(last),
  };
  return { at: new Date(now).toISOString(), stats, chart: webhookChart(minutes) };
}

export const dashboardPage = (ctx: AppContext, setup: AdminSetup) => ({
  async show(_request: unknown, reply: FastifyReply) {
    const { stats, chart } = await dashboardData(ctx, setup);
    const stat = (key: keyof typeof stats, label: string) => html`<li><span class="n" data-stat="${key}">${stats[key]}</span><span class="l">${label}</span></li>`;
    const body = html`<div data-live="/admin/dashboard.json" data-every="3000">
<h1>Dashboard</h1>
<section aria-labelledby="h-webhooks">
<h2 id="h-webhooks">Webhooks, last ${WINDOW_MINUTES} minutes</h2>
<ul class="stats">
${stat('received', 'received')}
${stat('coalesced', 'coalesced (same contact, same minute)')}
${stat('rejected', 'rejected')}
<li><span class="n" data-stat="lastWebhook">${stats.lastWebhook}</span><span class="l">last webhook from ${setup.crmName} <span data-stat="lastWebhookAt">${stats.lastWebhookAt}</span></span></li>
</ul>
<div class="card chart"><div data-chart>${chart}</div>${chartLegend()}</div>
</section>
<section aria-labelledby="h-queue">
<h2 id="h-queue">Queue and CRM</h2>
<ul class="stats">
${stat('pending', 'pending')}
${stat('retrying', 'retrying')}
${stat('running', 'running')}
<li><a href="/admin/queue?state=dead"><span class="n" data-stat="dead">${stats.dead}</span><span class="l">dead letters</span></a></li>
${stat('latency', 'mean reconcile latency')}
${stat('reconciles', 'reconciles')}
${stat('crmCalls', 'CRM calls')}
${stat('rateLimited', 'CRM 429 answers')}
</ul>
<p class="hint">Latency, reconciles and CRM calls count since this process started; webhooks and the queue come from the database (all instances).</p>
</section>
</div>`;
    return sendPage(reply, 200, layout('Dashboard', 'dashboard', body));
  },

  async json() {
    const data = await dashboardData(ctx, setup);
    return { ...data, chart: data.chart.value };
  },
});
