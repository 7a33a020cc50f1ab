import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../api/context.js';
import { queueApi } from '../api/queue.js';
import { queueQuery, userId } from '../api/schemas.js';
import { AppError } from '../errors.js';
import { countJobs, discardJob, getJob, listJobs, type Job } from '../store/jobs.js';
import { listLog } from '../store/log.js';
import { formFields } from './session.js';
import { withoutBlanks } from './form-input.js';
import { html, type Html } from './html.js';
import { iso, layout, sendPage } from './layout.js';
import { logTable } from './log.js';

const discardReason = z.string().trim().min(3, 'say why (at least 3 characters)').max(500, 'keep the reason under 500 characters');

const stateOf = (job: Job) => (job.attempts > 0 && job.state === 'pending' ? 'retrying' : job.state);

function jobRow(job: Job): Html {
  return html`<tr>
<td><a href="/admin/queue/${job.id}">#${job.id}</a></td>
<td>${job.action}</td>
<td>${job.contactId ? html`contact ${job.contactId}` : ''}${job.userId ? html` <a href="/admin/users/${job.userId}">user #${job.userId}</a>` : ''}</td>
<td>${stateOf(job)}</td>
<td>${job.attempts}</td>
<td class="hide-narrow">${job.lastError ?? ''}</td>
</tr>`;
}

const DONE: Record<string, string> = {
  replayed: 'Replayed: the job is back in the queue.',
  'replayed-all': 'Every dead letter is back in the queue.',
  discarded: 'Discarded: the dead letter is gone, and the reason is in the activity log.',
};

export const queuePage = (ctx: AppContext) => {
  const api = queueApi(ctx);
  return {
    async show(request: FastifyRequest, reply: FastifyReply) {
      const { done: _done, ...query } = withoutBlanks(request.query);
      const q = queueQuery.parse(query);
      const [counts, jobs] = await Promise.all([countJobs(ctx.engine.db), listJobs(ctx.engine.db, { state: q.state, limit: q.limit })]);
      const done = DONE[String((request.query as { done?: string }).done ?? '')];
      const tab = (state: string | undefined, label: string, n: number) =>
        html`<li><a href="/admin/queue${state ? `?state=${state}` : ''}"${q.state === state ? html` aria-current="true"` : ''}><span class="n">${n}</span><span class="l">${label}</span></a></li>`;
      const body = html`<h1>Queue and dead letters</h1>
${done ? html`<p role="status" class="ok-box">${done}</p>` : ''}
<nav aria-label="Job states"><ul class="stats">
${tab(undefined, 'all', counts.pending + counts.retrying + counts.running + counts.dead)}
${tab('pending', 'pending (incl. retrying)', counts.pending + counts.retrying)}
${tab('running', 'running', counts.running)}
${tab('dead', 'dead letters', counts.dead)}
</ul></nav>
${counts.dead > 0 ? html`<form method="post" action="/admin/queue/replay-all" class="card"><button type="submit">Replay all ${counts.dead} dead letters</button> <span class="hint">They go back to the queue; a contact with pending work is merged into it.</span></form>` : ''}
<div class="table-wrap"><table>
<caption class="hint">${q.state ?? 'all'} jobs, oldest first</caption>
<thead><tr><th scope="col">Job</th><th scope="col">Action</th><th scope="col">For</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col" class="hide-narrow">Last error</th></tr></thead>
<tbody>${jobs.length ? jobs.map(jobRow) : html`<tr><td colspan="6">No jobs.</td></tr>`}</tbody>
</table></div>`;
      return sendPage(reply, 200, layout('Queue', 'queue', body));
    },

    async job(request: FastifyRequest, reply: FastifyReply) {
      const id = userId.parse((request.params as { id: string }).id);
      const job = await getJob(ctx.engine.db, id);
      if (!job) throw new AppError('not_found', `no job #${id} (done jobs leave the queue)`);
      const history = job.contactId ? await listLog(ctx.engine.db, { contactId: job.contactId, limit: 20 }) : job.userId ? await listLog(ctx.engine.db, { userId: job.userId, limit: 20 }) : [];
      const problem = (request.query as { problem?: string }).problem;
      const body = html`<h1>Job #${job.id}: ${job.action}</h1>
<div class="card"><dl>
<dt>State</dt><dd>${stateOf(job)}</dd>
<dt>For</dt><dd>${job.contactId ? html`contact ${job.contactId}` : ''}${job.userId ? html` <a href="/admin/users/${job.userId}">user #${job.userId}</a>` : ''}</dd>
<dt>Attempts</dt><dd>${job.attempts}</dd>
<dt>Webhooks it stands for</dt><dd>${job.webhooks}</dd>
<dt>First seen</dt><dd>${iso(job.firstSeenAt)}</dd>
<dt>${job.state === 'dead' ? 'Died' : 'Due'}</dt><dd>${iso(job.state === 'dead' ? job.updatedAt : job.runAt)}</dd>
<dt>Last error</dt><dd>${job.lastError ? html`<pre>${job.lastError}</pre>` : 'none'}</dd>
</dl></div>
${
  job.state === 'dead'
    ? html`<div class="actions card">
<form method="post" action="/admin/queue/${job.id}/replay"><button type="submit">Replay</button></form>
</div>
<form method="post" action="/admin/queue/${job.id}/discard" class="card narrow">
<h2>Discard</h2>
${problem ? html`<p role="alert" class="alert" id="discard-problem">${problem}</p>` : ''}
<label for="reason">Reason (kept in the activity log)</label>
<input id="reason" name="reason" required minlength="3" maxlength="500"${problem ? html` aria-describedby="discard-problem" aria-invalid="true"` : ''}>
<p><button type="submit" class="danger">Discard this dead letter</button></p>
</form>`
    : ''
}
<h2>Recent log entries for ${job.contactId ? `contact ${job.contactId}` : `user #${job.userId}`}</h2>
${logTable(history, 'newest first')}`;
      return sendPage(reply, 200, layout(`Job #${job.id}`, 'queue', body));
    },

    async replay(request: FastifyRequest, reply: FastifyReply) {
      await api.replay(request);
      return reply.redirect('/admin/queue?state=dead&done=replayed', 303);
    },

    async replayAll(_request: FastifyRequest, reply: FastifyReply) {
      await api.replayAll();
      return reply.redirect('/admin/queue?done=replayed-all', 303);
    },

    /** Drops a dead letter for good; the reason goes to the log as a notice. */
    async discard(request: FastifyRequest, reply: FastifyReply) {
      const id = userId.parse((request.params as { id: string }).id);
      const reason = discardReason.safeParse(formFields(request).get('reason') ?? '');
      if (!reason.success) {
        return reply.redirect(`/admin/queue/${id}?problem=${encodeURIComponent(reason.error.issues[0]!.message)}`, 303);
      }
      const job = await discardJob(ctx.engine.db, id);
      if (!job) throw new AppError('not_found', `no dead job #${id}`);
      await ctx.engine.log.write({
        level: 'notice',
        source: 'admin',
        contactId: job.contactId,
        userId: job.userId,
        message: `dead job #${id} (${job.action}) discarded: ${reason.data}`,
        context: { job: { id, action: job.action, attempts: job.attempts, lastError: job.lastError }, reason: reason.data },
      });
      return reply.redirect('/admin/queue?state=dead&done=discarded', 303);
    },
  };
};
