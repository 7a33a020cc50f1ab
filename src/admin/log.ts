import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../api/context.js';
import { logQuery } from '../api/schemas.js';
import { LOG_LEVELS, listLog, type StoredLogEntry } from '../store/log.js';
import { contextBlock } from './context-view.js';
import { instant, timeInputValue, withoutBlanks } from './form-input.js';
import { html, type Html } from './html.js';
import { iso, layout, sendPage } from './layout.js';

const SOURCES = ['webhook', 'reconcile', 'push', 'api', 'queue', 'crm', 'events', 'mail', 'account', 'service', 'admin', 'app'];

const adminLogQuery = logQuery.extend({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  source: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a source is a lowercase word such as webhook').optional(),
  since: instant.optional(),
  until: instant.optional(),
});

export function logLevel(level: string): Html {
  return html`<span class="level level-${level}">${level}</span>`;
}

/** One activity-log entry as a table row; its context expands in place. */
export function logRow(e: StoredLogEntry): Html {
  return html`<tr>
<td><time datetime="${new Date(e.at).toISOString()}">${iso(e.at)}</time></td>
<td>${logLevel(e.level)}</td>
<td class="hide-narrow">${e.source}</td>
<td>${e.message}${contextBlock(e.context)}</td>
<td>${e.userId === null ? '' : html`<a href="/admin/users/${e.userId}">#${e.userId}</a>`}${e.contactId === null ? '' : html`<br><span class="hint">contact ${e.contactId}</span>`}</td>
</tr>`;
}

export function logTable(entries: readonly StoredLogEntry[], caption: string): Html {
  return html`<div class="table-wrap"><table>
<caption class="hint">${caption}</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col" class="hide-narrow">Source</th><th scope="col">Message</th><th scope="col">User / contact</th></tr></thead>
<tbody>${entries.length ? entries.map(logRow) : html`<tr><td colspan="5">No entries match.</td></tr>`}</tbody>
</table></div>`;
}

export const logPage = (ctx: AppContext) => ({
  async show(request: FastifyRequest, reply: FastifyReply) {
    const q = adminLogQuery.parse(withoutBlanks(request.query));
    const entries = await listLog(ctx.engine.db, {
      level: q.level,
      contactId: q.contact_id,
      userId: q.user_id,
      source: q.source,
      since: q.since,
      until: q.until,
      limit: q.limit,
      beforeId: q.before,
    });
    const keep = new URLSearchParams(withoutBlanks({ ...(request.query as object), before: '' }));
    const older = entries.length === q.limit ? `/admin/log?${new URLSearchParams({ ...Object.fromEntries(keep), before: String(entries.at(-1)!.id) })}` : null;
    const body = html`<h1>Activity log</h1>
<form method="get" action="/admin/log" class="card filters" role="search" aria-label="Filter the activity log">
<div><label for="f-level">Level</label><select id="f-level" name="level"><option value="">any</option>${LOG_LEVELS.map((l) => html`<option value="${l}"${q.level === l ? html` selected` : ''}>${l}</option>`)}</select></div>
<div><label for="f-source">Source</label><select id="f-source" name="source"><option value="">any</option>${SOURCES.map((s) => html`<option${q.source === s ? html` selected` : ''}>${s}</option>`)}</select></div>
<div><label for="f-contact">Contact id</label><input id="f-contact" name="contact_id" value="${q.contact_id ?? ''}" inputmode="text"></div>
<div><label for="f-user">User id</label><input id="f-user" name="user_id" value="${q.user_id ?? ''}" inputmode="numeric"></div>
<div><label for="f-since">From (UTC)</label><input id="f-since" name="since" type="datetime-local" value="${timeInputValue(q.since)}"></div>
<div><label for="f-until">Until (UTC)</label><input id="f-until" name="until" type="datetime-local" value="${timeInputValue(q.until)}"></div>
<div><button type="submit">Filter</button> <a href="/admin/log">Clear</a></div>
</form>
${logTable(entries, `${entries.length} entries, newest first`)}
${older ? html`<p><a href="${older}">Older entries</a></p>` : ''}`;
    return sendPage(reply, 200, layout('Activity log', 'log', body));
  },
});
