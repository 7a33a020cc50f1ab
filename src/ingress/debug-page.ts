import { html, page, type Html } from '../admin/html.js';
import type { PassReport } from '../reconcile/report.js';

/**
 * The page a site owner sees when opening a webhook URL in a browser: the request, what the
 * CRM returned, what changed locally and the log of the pass. Values are escaped by `html`;
 * the request shape was redacted before it got here.
 */
export function renderDebugPage(input: { request: Record<string, unknown>; reports: PassReport[]; pending: string[] }): string {
  const sections = input.reports.map(renderReport);
  const pending = input.pending.length
    ? html`<p>Contact(s) ${input.pending.join(', ')} are being reconciled by a worker right now; this webhook was queued for one more pass. See the activity log.</p>`
    : '';
  return page(
    'Webhook debug',
    html`<h1>Webhook debug</h1>
<p>This webhook was stored and processed right away because the URL was opened in a browser.</p>
<h2>Request</h2>
<pre>${JSON.stringify(input.request, null, 2)}</pre>
${pending}${sections}`,
  );
}

function renderReport(r: PassReport): Html {
  const snap = r.snapshot;
  return html`<section>
<h2>Contact #${r.contactId} (${r.action})</h2>
${snap
  ? html`<h3>Loaded from the CRM</h3>
<table><tbody>
<tr><th>E-mail</th><td>${snap.email ?? '—'}</td></tr>
<tr><th>Tags</th><td>${snap.tags.length ? snap.tags.map((t) => html`<span class="tag">${t}</span>`) : '—'}</td></tr>
${Object.entries(snap.fields).map(([k, v]) => html`<tr><th>${k}</th><td>${v ?? '—'}</td></tr>`)}
</tbody></table>`
  : html`<p>Nothing was loaded from the CRM.</p>`}
<h3>What changed locally</h3>
${r.userId === null
  ? html`<p>No local user${r.error ? html` (${r.error})` : ''}.</p>`
  : html`<ul>
<li>User #${r.userId}${r.createdUser ? ' (created)' : ''}</li>
${r.added.length ? html`<li class="added">Tags added: ${r.added.join(', ')}</li>` : ''}
${r.removed.length ? html`<li class="removed">Tags removed: ${r.removed.join(', ')}</li>` : ''}
${r.fieldChanges.map((c) => html`<li>Field ${c.name}: ${c.from ?? '∅'} → ${c.to ?? '∅'}</li>`)}
${r.role ? html`<li>Role: ${r.role.from} → ${r.role.to}</li>` : ''}
${!r.createdUser && !r.added.length && !r.removed.length && !r.fieldChanges.length && !r.role ? html`<li>Nothing changed.</li>` : ''}
</ul>`}
<h3>Log of this pass</h3>
<table><tbody>
${r.log.map((e) => html`<tr><td class="level-${e.level}">${e.level}</td><td>${e.message}</td></tr>`)}
</tbody></table>
</section>`;
}
