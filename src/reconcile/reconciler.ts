import { CrmError } from '../crm/errors.js';
import { loadsContact, syncsFields } from '../domain/action.js';
import type { ContactSnapshot } from '../domain/contact.js';
import type { Engine } from '../engine.js';
import { pushUser } from '../push/pusher.js';
import { buryJob, claimJobs, completeJob, LeaseLostError, retryJob, type Job } from '../store/jobs.js';
import { findUser, type User } from '../store/users.js';
import { backoffMs } from './backoff.js';
import { reconcileContact, welcomeUser } from './reconcile-contact.js';
import type { PassReport } from './report.js';

/**
 * Claims due jobs (never a contact that is already running) and works them:
 * 1. push each contact's pending local changes, so the read below can confirm them;
 * 2. load all contacts of the batch from the CRM in as few calls as the CRM allows;
 * 3. reconcile each contact, then complete, retry or bury its job.
 */
export class Reconciler {
  constructor(private readonly engine: Engine) {}

  /** Works one batch of due jobs; returns how many were claimed (0 = nothing due). */
  async runOnce(options: { key?: string; limit?: number } = {}): Promise<{ claimed: number; full: boolean; reports: PassReport[] }> {
    const { db, clock, crm } = this.engine;
    const limit = options.limit ?? crm.capabilities.maxBatchLoad;
    const jobs = await claimJobs(db, {
      worker: this.engine.workerId,
      now: clock.now(),
      limit,
      ...(options.key && { key: options.key }),
    });
    if (jobs.length === 0) return { claimed: 0, full: false, reports: [] };
    const reports: PassReport[] = [];

    const toLoad: Job[] = [];
    for (const job of jobs) {
      try {
        await this.push(job);
        if (loadsContact(job.action) && job.contactId) toLoad.push(job);
        else await this.complete(job);
      } catch (error) {
        await this.fail(job, error);
      }
    }

    for (let i = 0; i < toLoad.length; i += crm.capabilities.maxBatchLoad) {
      const batch = toLoad.slice(i, i + crm.capabilities.maxBatchLoad);
      let loaded: Map<string, ContactSnapshot>;
      try {
        loaded = await crm.loadContacts(batch.map((j) => j.contactId!));
      } catch (error) {
        for (const job of batch) await this.fail(job, error);
        continue;
      }
      reports.push(...(await this.commitBatch(batch, loaded)));
    }
    return { claimed: jobs.length, full: jobs.length >= limit, reports };
  }

  /**
   * Writes the passes of one loaded batch in a single transaction (one commit for up to
   * `maxBatchLoad` contacts, not one each); a failing pass is rolled back to its savepoint and
   * retried on its own, the others commit.
   */
  private async commitBatch(batch: Job[], loaded: Map<string, ContactSnapshot>): Promise<PassReport[]> {
    const done: { job: Job; report: PassReport; welcome: User | null }[] = [];
    const failed: { job: Job; error: unknown }[] = [];
    const trx = await this.engine.db.startTransaction().execute();
    try {
      for (const job of batch) {
        const pass = await trx.savepoint('pass').execute();
        try {
          const result = await reconcileContact(this.engine, pass, job, job.contactId!, loaded.get(job.contactId!) ?? null);
          await pass.releaseSavepoint('pass').execute();
          done.push({ job, ...result });
        } catch (error) {
          await pass.rollbackToSavepoint('pass').execute();
          failed.push({ job, error });
        }
      }
      await trx.commit().execute();
    } catch (error) {
      await trx.rollback().execute().catch(() => undefined);
      for (const job of batch) await this.fail(job, error);
      return [];
    }
    for (const { job, error } of failed) await this.fail(job, error);
    for (const { job, report, welcome } of done) {
      this.completed(job);
      if (welcome) await welcomeUser(this.engine, report, welcome);
    }
    return done.map((d) => d.report);
  }

  private async push(job: Job): Promise<void> {
    const { db } = this.engine;
    const user = job.contactId ? await findUser(db, { contactId: job.contactId }) : job.userId ? await findUser(db, { id: job.userId }) : null;
    if (!user) return;
    // A pass that reads fields next holds back `both`-owned field changes for the three-way merge.
    const { contactId } = await pushUser(this.engine, user, { holdSharedFields: job.contactId !== null && syncsFields(job.action) });
    // A push job for a user who had no contact yet now knows it.
    if (!job.contactId) job.contactId = contactId;
  }

  private async complete(job: Job): Promise<void> {
    await completeJob(this.engine.db, job.id);
    this.completed(job);
  }

  private completed(job: Job): void {
    const { metrics, clock } = this.engine;
    metrics.reconciles.inc({ outcome: 'done' });
    if (job.webhooks > 0) metrics.reconcileLatency.observe((clock.now() - job.firstSeenAt) / 1000);
  }

  private async fail(job: Job, error: unknown): Promise<void> {
    const { db, clock, log, maxAttempts, metrics } = this.engine;
    const message = error instanceof Error ? error.message : String(error);
    const where = { source: 'reconcile', contactId: job.contactId, userId: job.userId };
    if (error instanceof LeaseLostError) {
      // Not a failure of the work: its new owner runs it; nothing to retry or count here.
      await log.write({ ...where, level: 'notice', message: `${job.action} for ${describe(job)} abandoned: ${error.message}` });
      return;
    }
    const permanent = error instanceof CrmError && error.kind === 'permanent';
    if (permanent || job.attempts + 1 >= maxAttempts) {
      await buryJob(db, job, message, clock.now());
      metrics.reconciles.inc({ outcome: 'dead' });
      await log.write({ ...where, level: 'error', message: `${job.action} for ${describe(job)} failed ${permanent ? 'permanently' : `after ${job.attempts + 1} attempts`}: ${message}; moved to dead letters (replay with POST /api/queue/dead/${job.id}/replay)` });
      return;
    }
    const wait = error instanceof CrmError && error.kind === 'rate_limited' && error.retryAfterMs !== null ? error.retryAfterMs : backoffMs(job.attempts);
    await retryJob(db, job, clock.now() + wait, message, clock.now());
    metrics.reconciles.inc({ outcome: 'retry' });
    if (!(error instanceof CrmError)) await log.write({ ...where, level: 'error', message: `unexpected error in ${job.action} for ${describe(job)}: ${message}`, context: { stack: (error as Error)?.stack ?? null } });
    else await log.write({ ...where, level: 'warning', message: `${job.action} for ${describe(job)} failed (attempt ${job.attempts + 1} of ${maxAttempts}): ${message}; retrying in ${Math.round(wait / 1000)} s` });
  }
}

function describe(job: Job): string {
  return job.contactId ? `contact #${job.contactId}` : `user #${job.userId}`;
}
