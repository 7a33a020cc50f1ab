import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshStore } from '../../test/support/store.js';
import { adminSessionValid, deleteAdminSession, insertAdminSession } from './admin-sessions.js';
import type { Db } from './database.js';
import { insertInbox } from './inbox.js';
import { buryJob, claimJobs, contactKey, countJobs, discardJob, enqueueJob } from './jobs.js';
import { insertLog } from './log.js';
import { lastWebhookAt, listInboxForContact, webhooksPerMinute } from './webhook-stats.js';

const MIN = 60_000;
const T0 = 1_000 * MIN; // a minute boundary

describe('admin store functions', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeEach(async () => ({ db, close } = await freshStore()));
  afterEach(() => close());

  it('counts webhooks received, coalesced (repeats of a contact in the minute) and rejected per minute, zero-filled', async () => {
    const webhook = (at: number, contactId: string) => ({ receivedAt: at, action: 'update', contactId, jobKey: contactKey(contactId), request: {}, sourceIp: null });
    await insertInbox(db, [webhook(T0 + 1, '1'), webhook(T0 + 2, '1'), webhook(T0 + 3, '2'), webhook(T0 + 2 * MIN + 5, '1'), webhook(T0 - 1, '9')]);
    await insertLog(db, [
      { at: T0 + 2 * MIN + 7, level: 'error', source: 'webhook', message: 'webhook refused: wrong access key' },
      { at: T0 + 2 * MIN + 8, level: 'error', source: 'reconcile', message: 'not a webhook' },
      { at: T0 + 2 * MIN + 9, level: 'notice', source: 'webhook', message: 'coalesced' },
    ]);
    const minutes = await webhooksPerMinute(db, T0, T0 + 3 * MIN - 1);
    expect(minutes).toEqual([
      { minute: T0, received: 3, coalesced: 1, rejected: 0 },
      { minute: T0 + MIN, received: 0, coalesced: 0, rejected: 0 },
      { minute: T0 + 2 * MIN, received: 1, coalesced: 0, rejected: 1 },
    ]);
    expect(await lastWebhookAt(db)).toBe(T0 + 2 * MIN + 5);
    expect((await listInboxForContact(db, '1', 10)).map((w) => w.receivedAt)).toEqual([T0 + 2 * MIN + 5, T0 + 2, T0 + 1]);
  });

  it('discards only dead jobs, and a discarded job leaves the dead letters', async () => {
    const { id } = await enqueueJob(db, { key: contactKey('5'), action: 'update', contactId: '5', userId: null, role: null, sendNotification: false, webhooks: 1, runAt: 0 }, 0);
    expect(await discardJob(db, id)).toBeNull(); // pending: not a dead letter
    const [claimed] = await claimJobs(db, { worker: 'w', now: 1, limit: 1 });
    await buryJob(db, claimed!, 'CRM answered 500', 2);
    expect((await countJobs(db)).dead).toBe(1);
    const discarded = await discardJob(db, id);
    expect(discarded).toMatchObject({ id, contactId: '5', lastError: 'CRM answered 500' });
    expect(await countJobs(db)).toEqual({ pending: 0, retrying: 0, running: 0, dead: 0 });
    expect(await discardJob(db, id)).toBeNull();
  });

  it('keeps a session until it expires or is deleted; only its hash is stored', async () => {
    const id = 'x'.repeat(43);
    await insertAdminSession(db, id, 1000, 500);
    expect(await adminSessionValid(db, id, 1499)).toBe(true);
    expect(await adminSessionValid(db, id, 1500)).toBe(false);
    expect(await adminSessionValid(db, 'y'.repeat(43), 1000)).toBe(false);
    const rows = await db.selectFrom('admin_sessions').selectAll().execute();
    expect(rows.map((r) => r.id_hash)).not.toContain(id);
    await insertAdminSession(db, 'z'.repeat(43), 2000, 500); // also drops the expired one
    expect(await db.selectFrom('admin_sessions').selectAll().execute()).toHaveLength(1);
    await deleteAdminSession(db, 'z'.repeat(43));
    expect(await adminSessionValid(db, 'z'.repeat(43), 2001)).toBe(false);
  });
});
