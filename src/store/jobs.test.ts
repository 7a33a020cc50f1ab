import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshStore } from '../../test/support/store.js';
import type { Db } from './database.js';
import { buryJob, claimJobs, completeJob, contactKey, countJobs, enqueueJob, listJobs, reclaimExpiredJobs, renewLeases, replayJob, retryJob, type JobRequest } from './jobs.js';

const request = (contactId: string, over: Partial<JobRequest> = {}): JobRequest => ({
  key: contactKey(contactId),
  action: 'update_tags',
  contactId,
  userId: null,
  role: null,
  sendNotification: false,
  webhooks: 1,
  runAt: 1000,
  ...over,
});

describe('job queue', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeEach(async () => ({ db, close } = await freshStore()));
  afterEach(() => close());

  it('coalesces webhooks for one contact into one pending job with the strongest action', async () => {
    const a = await enqueueJob(db, request('7'), 1000);
    const b = await enqueueJob(db, request('7', { action: 'add', role: 'member', sendNotification: true }), 1001);
    const c = await enqueueJob(db, request('7', { action: 'update' }), 1002);
    expect(a.coalesced).toBe(false);
    expect(b).toEqual({ id: a.id, coalesced: true });
    expect(c.coalesced).toBe(true);
    const jobs = await listJobs(db, { limit: 10 });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ action: 'add', role: 'member', sendNotification: true, webhooks: 3 });
  });

  it('a webhook during a running pass creates exactly one more pending pass', async () => {
    await enqueueJob(db, request('7'), 1000);
    const [running] = await claimJobs(db, { worker: 'w1', now: 1000, limit: 10 });
    expect(running).toBeDefined();
    await enqueueJob(db, request('7'), 1001);
    await enqueueJob(db, request('7'), 1002);
    expect(await countJobs(db)).toMatchObject({ pending: 1, running: 1 });
    // The pending pass is not claimable while the contact is running.
    expect(await claimJobs(db, { worker: 'w2', now: 2000, limit: 10 })).toEqual([]);
    await completeJob(db, running!.id);
    const [next] = await claimJobs(db, { worker: 'w2', now: 2000, limit: 10 });
    expect(next).toMatchObject({ key: 'c:7', webhooks: 2 });
  });

  it('claims due jobs only, oldest first, up to the limit', async () => {
    await enqueueJob(db, request('1', { runAt: 500 }), 400);
    await enqueueJob(db, request('2', { runAt: 5000 }), 400);
    await enqueueJob(db, request('3', { runAt: 100 }), 400);
    const claimed = await claimJobs(db, { worker: 'w', now: 1000, limit: 10 });
    expect(claimed.map((j) => j.contactId)).toEqual(['3', '1']);
  });

  it('a retried job merges into a newer pending job of its key', async () => {
    await enqueueJob(db, request('7'), 1000);
    const [job] = await claimJobs(db, { worker: 'w', now: 1000, limit: 1 });
    await enqueueJob(db, request('7', { action: 'update' }), 1100);
    await retryJob(db, job!, 5000, 'CRM answered 503', 1200);
    const jobs = await listJobs(db, { limit: 10 });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ action: 'update', attempts: 1, lastError: 'CRM answered 503', runAt: 5000, webhooks: 2, state: 'pending' });
  });

  it('dead jobs stay visible and can be replayed', async () => {
    await enqueueJob(db, request('7'), 1000);
    const [job] = await claimJobs(db, { worker: 'w', now: 1000, limit: 1 });
    await buryJob(db, job!, 'gave up', 1500);
    expect(await countJobs(db)).toMatchObject({ dead: 1, pending: 0 });
    const replayed = await replayJob(db, job!.id, 2000);
    expect(replayed).toMatchObject({ state: 'pending', key: 'c:7', runAt: 2000 });
    expect(await replayJob(db, job!.id, 2000)).toBeNull();
  });

  it("a crashed worker's jobs are taken over when its lease expires; a live worker's are not", async () => {
    await enqueueJob(db, request('7'), 1000);
    await enqueueJob(db, request('8'), 1000);
    await claimJobs(db, { worker: 'dead', now: 1000, limit: 1 });
    await claimJobs(db, { worker: 'alive', now: 1000, limit: 1 });
    await renewLeases(db, 'alive', 20_000);
    const reclaimed = await reclaimExpiredJobs(db, 30_000 - 15_000, 30_000);
    expect(reclaimed.map((j) => j.contactId)).toEqual(['7']);
    expect(await countJobs(db)).toMatchObject({ running: 1, pending: 1 });
    const pending = await listJobs(db, { state: 'pending', limit: 5 });
    expect(pending[0]).toMatchObject({ key: 'c:7', attempts: 0 });
  });
});
