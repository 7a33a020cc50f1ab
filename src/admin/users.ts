import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../api/context.js';
import { userId, userQuery } from '../api/schemas.js';
import { AppError } from '../errors.js';
import { contactKey, enqueueJob, userKey } from '../store/jobs.js';
import { listLog, type StoredLogEntry } from '../store/log.js';
import { listActiveGrants } from '../store/grants.js';
import { listOperations } from '../store/operations.js';
import { findUser, listUsers, type User } from '../store/users.js';
import { listInboxForContact, type InboxRow } from '../store/webhook-stats.js';
import { contextBlock } from './context-view.js';
import { withoutBlanks } from './form-input.js';
import { html, type Html } from './html.js';
import { iso, layout, sendPage } from './layout.js';
import { logLevel } from './log.js';

const HISTORY = 200;

interface TimelineItem {
  at: number;
  /** Tie-break for the same millisecond: log after inbox (a reconcile follows its webhook). */
  order: number;
  kind: 'webhook' | 'reconcile' | 'push' | 'log';
  view: Html;
}

function webhookItem(w: InboxRow): TimelineItem {
  return {
    at: w.receivedAt,
    order: w.id,
    kind: 'webhook',
    view: html`<span class="kind">webhook</span><strong>${w.action}</strong> received${w.sourceIp ? html` from ${w.sourceIp}` : ''}${contextBlock(w.request, 'Request')}`,
  };
}

function logItem(e: StoredLogEntry): TimelineItem {
  const kind = e.source === 'reconcile' ? 'reconcile' : e.source === 'push' ? 'push' : 'log';
  return {
    at: e.at,
    order: 1e12 + e.id,
    kind,
    view: html`<span class="kind">${kind === 'log' ? e.source : kind}</span>${logLevel(e.level)} ${e.message}${contextBlock(e.context)}`,
  };
}

/**
 * The sync history of one user's contact, newest first, on one timeline: webhooks from the
 * inbox, reconciles and pushes (and everything else logged about it) from the activity log.
 * Accepted webhooks are also logged; the inbox row stands for them here.
 */
async function timeline(ctx: AppContext, user: User): Promise<TimelineItem[]> {
  const { db } = ctx.engine;
  const [inbox, byUser, byContact] = await Promise.all([
    user.contactId ? listInboxForContact(db, user.contactId, HISTORY) : [],
    listLog(db, { userId: user.id, limit: HISTORY }),
    user.contactId ? listLog(db, { contactId: user.contactId, limit: HISTORY }) : [],
  ]);
  const seen = new Set<number>();
  const entries = [...byUser, ...byContact].filter((e) => !seen.has(e.id) && seen.add(e.id) && !(e.source === 'webhook' && e.level === 'http'));
  return [...inbox.map(webhookItem), ...entries.map(logItem)].sort((a, b) => b.at - a.at || b.order - a.order).slice(0, HISTORY);
}

function userRow(u: User): Html {
  return html`<tr><td><a href="/admin/users/${u.id}">#${u.id}</a></td><td><a href="/admin/users/${u.id}">${u.email}</a></td><td>${u.contactId ?? html`<span class="hint">none yet</span>`}</td><td class="hide-narrow">${u.tags.slice(0, 8).map((t) => html`<span class="tag">${t}</span>`)}${u.tags.length > 8 ? ` +${u.tags.length - 8}` : ''}</td></tr>`;
}

const DONE: Record<string, string> = {
  reconcile: 'A reconcile of this contact is queued: the workers load it from the CRM now.',
  push: 'A push is queued: the workers send this user’s pending changes to the CRM now.',
};

export const usersPage = (ctx: AppContext) => ({
  async list(request: FastifyRequest, reply: FastifyReply) {
    const raw = withoutBlanks(request.query);
    const q = userQuery.parse(raw);
    const users = await listUsers(ctx.engine.db, { email: q.email, contactId: q.contact_id, tag: q.tag, limit: q.limit, afterId: q.after });
    const next = users.length === q.limit ? `/admin/users?${new URLSearchParams({ ...raw, after: String(users.at(-1)!.id) })}` : null;
    const body = html`<h1>Users</h1>
<form method="get" action="/admin/users" class="card filters" role="search" aria-label="Search users">
<div><label for="s-email">E-mail</label><input id="s-email" name="email" type="email" value="${raw.email ?? ''}"></div>
<div><label for="s-contact">Contact id</label><input id="s-contact" name="contact_id" value="${raw.contact_id ?? ''}"></div>
<div><label for="s-tag">Tag</label><input id="s-tag" name="tag" value="${raw.tag ?? ''}"></div>
<div><button type="submit">Search</button> <a href="/admin/users">Clear</a></div>
</form>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Id</th><th scope="col">E-mail</th><th scope="col">Contact</th><th scope="col" class="hide-narrow">Tags</th></tr></thead>
<tbody>${users.length ? users.map(userRow) : html`<tr><td colspan="4">No users match.</td></tr>`}</tbody>
</table></div>
${next ? html`<p><a href="${next}">Next page</a></p>` : ''}`;
    return sendPage(reply, 200, layout('Users', 'users', body));
  },

  async show(request: FastifyRequest, reply: FastifyReply) {
    const id = userId.parse((request.params as { id: string }).id);
    const user = await findUser(ctx.engine.db, { id });
    if (!user) throw new AppError('not_found', `user #${id} not found`);
    const [ops, items, grants] = await Promise.all([listOperations(ctx.engine.db, id), timeline(ctx, user), listActiveGrants(ctx.engine.db, id)]);
    const done = DONE[String((request.query as { done?: string }).done ?? '')];
    const fields = Object.entries(user.fields);
    const body = html`<h1>${user.email}</h1>
${done ? html`<p role="status" class="ok-box">${done}</p>` : ''}
<div class="card">
<p>User #${user.id} · role ${user.role} · CRM contact ${user.contactId ?? html`<em>not linked yet</em>`}</p>
<div class="actions">
<form method="post" action="/admin/users/${user.id}/reconcile" class="inline"><button type="submit"${user.contactId ? '' : html` disabled aria-describedby="no-contact"`}>Reconcile now</button></form>
<form method="post" action="/admin/users/${user.id}/push" class="inline"><button type="submit" class="secondary">Push now</button></form>
<a href="/admin/log?user_id=${user.id}">Log entries</a>
</div>
${user.contactId ? '' : html`<p id="no-contact" class="hint">Reconcile needs a CRM contact; push links one by e-mail first.</p>`}
</div>
<section aria-labelledby="h-tags"><h2 id="h-tags">Tags</h2>
<p>${user.tags.length ? user.tags.map((t) => html`<span class="tag">${t}</span>`) : html`<span class="hint">no tags</span>`}</p></section>
<section aria-labelledby="h-fields"><h2 id="h-fields">Fields</h2>
${fields.length ? html`<div class="table-wrap"><table><thead><tr><th scope="col">Field</th><th scope="col">Value</th></tr></thead><tbody>${fields.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v ?? html`<span class="hint">empty</span>`}</td></tr>`)}</tbody></table></div>` : html`<p class="hint">no fields</p>`}</section>
<section aria-labelledby="h-grants"><h2 id="h-grants">Grants</h2>
${grants.length ? html`<div class="table-wrap"><table><thead><tr><th scope="col">Resource</th><th scope="col">Why</th><th scope="col">Since</th></tr></thead><tbody>${grants.map((g) => html`<tr><td><strong>${g.resource}</strong></td><td>${g.source}${g.detail ? html` <code>${g.detail}</code>` : ''}${g.note ? html` <span class="hint">${g.note}</span>` : ''}</td><td>${iso(g.createdAt)}</td></tr>`)}</tbody></table></div>` : html`<p class="hint">no active grants</p>`}</section>
<section aria-labelledby="h-ops"><h2 id="h-ops">Pending outbound operations</h2>
${ops.length ? html`<div class="table-wrap"><table><thead><tr><th scope="col">Change</th><th scope="col">Value</th><th scope="col">State</th><th scope="col">Since</th></tr></thead><tbody>${ops.map((op) => html`<tr><td>${op.kind.replace('_', ' ')} <strong>${op.name}</strong></td><td>${op.value ?? ''}</td><td>${op.state}${op.ackedAt ? html` <span class="hint">(CRM accepted ${iso(op.ackedAt)}; awaiting a read that confirms it)</span>` : ''}</td><td>${iso(op.createdAt)}</td></tr>`)}</tbody></table></div>` : html`<p class="hint">none: the CRM has every local change</p>`}</section>
<section aria-labelledby="h-history"><h2 id="h-history">Sync history</h2>
<ol class="timeline" reversed>${items.length ? items.map((i) => html`<li class="k-${i.kind}" data-kind="${i.kind}"><time datetime="${new Date(i.at).toISOString()}" class="hint">${iso(i.at)}</time><br>${i.view}</li>`) : html`<li>Nothing yet.</li>`}</ol></section>`;
    return sendPage(reply, 200, layout(user.email, 'users', body));
  },

  /** "Reconcile now": an `update` pass for the user's contact, as if its webhook had come. */
  async reconcile(request: FastifyRequest, reply: FastifyReply) {
    const id = userId.parse((request.params as { id: string }).id);
    const { db, clock, log } = ctx.engine;
    const user = await findUser(db, { id });
    if (!user) throw new AppError('not_found', `user #${id} not found`);
    if (!user.contactId) throw new AppError('conflict', `user #${id} has no CRM contact yet: push first (it finds or creates the contact by e-mail)`);
    const now = clock.now();
    await enqueueJob(db, { key: contactKey(user.contactId), action: 'update', contactId: user.contactId, userId: null, role: null, sendNotification: false, webhooks: 0, runAt: now }, now);
    await log.write({ level: 'notice', source: 'admin', userId: id, contactId: user.contactId, message: `reconcile of contact #${user.contactId} requested from the admin UI` });
    ctx.wake();
    return reply.redirect(`/admin/users/${id}?done=reconcile`, 303);
  },

  /** "Push now": the user's pending changes to the CRM (and the contact linked, if it is not). */
  async push(request: FastifyRequest, reply: FastifyReply) {
    const id = userId.parse((request.params as { id: string }).id);
    const { db, clock, log } = ctx.engine;
    const user = await findUser(db, { id });
    if (!user) throw new AppError('not_found', `user #${id} not found`);
    const now = clock.now();
    const key = user.contactId ? contactKey(user.contactId) : userKey(id);
    await enqueueJob(db, { key, action: 'push', contactId: user.contactId, userId: id, role: null, sendNotification: false, webhooks: 0, runAt: now }, now);
    await log.write({ level: 'notice', source: 'admin', userId: id, contactId: user.contactId, message: `push of user #${id} requested from the admin UI` });
    ctx.wake();
    return reply.redirect(`/admin/users/${id}?done=push`, 303);
  },
});
