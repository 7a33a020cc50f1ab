import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testDialect } from '../../test/support/database.js';
import { freshStore } from '../../test/support/store.js';
import type { Db } from './database.js';
import { claimJobs, completeJob, contactKey, countJobs, enqueueJob, LeaseLostError, listJobs, reclaimExpiredJobs, renewLeases, retryJob, type JobRequest } from './jobs.js';

const request = (contactId: string): JobRequest => ({
  key: contactKey(contactId),
  action: 'update',
  contactId,
  userId: null,
  role: null,
  sendNotification: false,
  webhooks: 1,
  runAt: 1000,
});

/** Leases of running jobs: the heartbeat, the takeover of expired ones, and the fence a taken-over pass hits. */
describe('job leases', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeEach(async () => ({ db, close } = await freshStore()));
  afterEach(() => close());

  it('a pass whose job was taken over cannot complete or retry it', async () => {
    await enqueueJob(db, request('7'), 1000);
    const [job] = await claimJobs(db, { worker: 'slow', now: 1000, limit: 1 });
    // The worker stalls past its lease; another instance takes the job over and claims it again.
    expect(await reclaimExpiredJobs(db, 5000, 9000)).toHaveLength(1);
    const [again] = await claimJobs(db, { worker: 'other', now: 9000, limit: 1 });
    expect(again).toMatchObject({ key: 'c:7', lockedBy: 'other' });
    await expect(completeJob(db, job!.id)).rejects.toBeInstanceOf(LeaseLostError);
    expect(await retryJob(db, job!, 20_000, 'late failure', 9100)).toBe(false);
    // The new owner's pass is untouched: one running job, nothing pending.
    expect(await countJobs(db)).toMatchObject({ running: 1, pending: 0 });
    await completeJob(db, again!.id);
    expect(await listJobs(db, { limit: 5 })).toEqual([]);
  });

  it('a lease renewed before the takeover looks again is not taken over', async () => {
    await enqueueJob(db, request('7'), 1000);
    await claimJobs(db, { worker: 'alive', now: 1000, limit: 1 });
    await renewLeases(db, 'alive', 8000);
    expect(await reclaimExpiredJobs(db, 5000, 9000)).toEqual([]);
    expect(await countJobs(db)).toMatchObject({ running: 1, pending: 0 });
  });

  it.skipIf(testDialect !== 'postgres')('the heartbeat never waits for a job its own pass is completing (PostgreSQL)', async () => {
    await enqueueJob(db, request('7'), 1000);
    await enqueueJob(db, request('8'), 1000);
    const [a, b] = await claimJobs(db, { worker: 'w', now: 1000, limit: 2 });
    // A batch transaction has completed job a and is still open (it reconciles the next contact).
    const trx = await db.startTransaction().execute();
    try {
      await completeJob(trx, a!.id);
      // The heartbeat used to wait for that transaction, which then waited for the heartbeat's
      // lock on job b: a deadlock, and leases of a live worker expired.
      const renewed = await Promise.race([renewLeases(db, 'w', 4000).then(() => 'renewed'), new Promise((r) => setTimeout(() => r('blocked'), 2000))]);
      expect(renewed).toBe('renewed');
      await completeJob(trx, b!.id);
      await trx.commit().execute();
    } catch (error) {
      await trx.rollback().execute();
      throw error;
    }
    expect(await countJobs(db)).toMatchObject({ running: 0, pending: 0 });
  });

  it.skipIf(testDialect !== 'postgres')('a takeover skips a job whose worker is completing it (PostgreSQL)', async () => {
    await enqueueJob(db, request('7'), 1000);
    const [job] = await claimJobs(db, { worker: 'w', now: 1000, limit: 1 });
    const trx = await db.startTransaction().execute();
    try {
      await completeJob(trx, job!.id);
      // Its lease looks expired, but the row is locked by the pass committing it: leave it.
      expect(await reclaimExpiredJobs(db, 5000, 9000)).toEqual([]);
      await trx.commit().execute();
    } catch (error) {
      await trx.rollback().execute();
      throw error;
    }
    expect(await listJobs(db, { limit: 5 })).toEqual([]);
  });
});
