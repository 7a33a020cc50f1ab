import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { countJobs, listJobs, replayJob, type Job } from '../store/jobs.js';
import type { AppContext } from './context.js';
import { queueQuery, userId } from './schemas.js';

function presentJob(job: Job) {
  return {
    id: job.id,
    key: job.key,
    action: job.action,
    contactId: job.contactId,
    userId: job.userId,
    state: job.attempts > 0 && job.state === 'pending' ? 'retrying' : job.state,
    attempts: job.attempts,
    webhooks: job.webhooks,
    runAt: new Date(job.runAt).toISOString(),
    lastError: job.lastError,
  };
}

export const queueApi = (ctx: AppContext) => ({
  async summary(request: FastifyRequest) {
    const q = queueQuery.parse(request.query);
    const [counts, jobs] = await Promise.all([countJobs(ctx.engine.db), listJobs(ctx.engine.db, { state: q.state, limit: q.limit })]);
    return { counts, jobs: jobs.map(presentJob) };
  },

  async dead() {
    return { jobs: (await listJobs(ctx.engine.db, { state: 'dead', limit: 1000 })).map(presentJob) };
  },

  async replay(request: FastifyRequest) {
    const id = userId.parse((request.params as { id: string }).id);
    const job = await replayJob(ctx.engine.db, id, ctx.engine.clock.now());
    if (!job) throw new AppError('not_found', `no dead job #${id}`);
    await ctx.engine.log.write({ level: 'notice', source: 'api', contactId: job.contactId, userId: job.userId, message: `dead job #${id} replayed` });
    ctx.wake();
    return { job: presentJob(job) };
  },

  async replayAll() {
    const dead = await listJobs(ctx.engine.db, { state: 'dead', limit: 10_000 });
    for (const job of dead) await replayJob(ctx.engine.db, job.id, ctx.engine.clock.now());
    if (dead.length) await ctx.engine.log.write({ level: 'notice', source: 'api', message: `${dead.length} dead job(s) replayed` });
    ctx.wake();
    return { replayed: dead.length };
  },
});
