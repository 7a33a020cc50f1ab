import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestWebhooks, type IncomingWebhook } from '../ingress/ingest.js';
import { migrate, openDatabase, type Db } from './database.js';
import { contactKey, enqueueJobs, listJobs } from './jobs.js';
import { writeDurably } from './sqlite-direct.js';

// SQLite's own commit path, so always on a SQLite file whatever the test dialect.
const sqliteFile = () => join(mkdtempSync(join(tmpdir(), 'crmsync-direct-')), 'crmsync.sqlite');
const synchronous = async (db: Db) => Number((await sql<{ synchronous: number }>`pragma synchronous`.execute(db)).rows[0]!.synchronous);
const FULL = 2;

const webhook = (contactId: string, over: Partial<IncomingWebhook> = {}): IncomingWebhook => ({
  action: 'update_tags',
  contactIds: [contactId],
  role: null,
  sendNotification: false,
  receivedAt: 1000,
  request: { method: 'GET' },
  sourceIp: null,
  notices: [],
  ...over,
});

describe('SQLite commits synced off the event loop', () => {
  let db: Db;
  beforeEach(async () => {
    db = openDatabase(`sqlite:${sqliteFile()}`);
    await migrate(db);
  });
  afterEach(() => db.destroy());

  it('writeDurably commits its statements and leaves the connection at synchronous=FULL', async () => {
    const n = await writeDurably(db, (w) => w.statement("insert into settings (key, value) values ('a', '1')").run().changes);
    expect(n).toBe(1);
    expect(await db.selectFrom('settings').select('value').where('key', '=', 'a').executeTakeFirst()).toEqual({ value: '1' });
    expect(await synchronous(db)).toBe(FULL);
  });

  it('a write that throws changes nothing and leaves the connection at synchronous=FULL', async () => {
    await expect(
      writeDurably(db, (w) => {
        w.statement("insert into settings (key, value) values ('b', '1')").run();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.selectFrom('settings').selectAll().where('key', '=', 'b').execute()).toEqual([]);
    expect(await synchronous(db)).toBe(FULL);
  });

  it('Kysely transactions, committed or rolled back, leave the connection at synchronous=FULL', async () => {
    await db.transaction().execute((trx) => trx.insertInto('settings').values({ key: 'c', value: '1' }).execute());
    expect(await synchronous(db)).toBe(FULL);
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('settings').values({ key: 'd', value: '1' }).execute();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await synchronous(db)).toBe(FULL);
    expect((await db.selectFrom('settings').select('key').where('key', 'in', ['c', 'd']).execute()).map((r) => r.key)).toEqual(['c']);
  });

  it('the ingest fast path coalesces exactly as enqueueJobs does', async () => {
    const batches: IncomingWebhook[][] = [
      [webhook('7'), webhook('8', { action: 'add', sendNotification: true })],
      [webhook('7', { action: 'add', role: 'member', sendNotification: true, receivedAt: 900 }), webhook('7', { action: 'update', receivedAt: 1100 })],
      [webhook('8', { action: 'update_tags', role: 'customer', receivedAt: 1200 })],
    ];
    const results = [];
    for (const batch of batches) results.push(await ingestWebhooks(db, batch));
    expect(results.map((r) => r.map((w) => w.contacts[0]!.coalesced))).toEqual([[false, false], [true, true], [true]]);

    // The same requests through Kysely's enqueueJobs on another store.
    const other = openDatabase(`sqlite:${sqliteFile()}`);
    try {
      await migrate(other);
      for (const batch of batches) {
        const requests = batch.map((w) => ({ key: contactKey(w.contactIds[0]!), action: w.action, contactId: w.contactIds[0]!, userId: null, role: w.role, sendNotification: w.sendNotification, webhooks: 1, runAt: w.receivedAt }));
        await enqueueJobs(other, requests, Math.min(...batch.map((w) => w.receivedAt)));
      }
      const shape = (jobs: Awaited<ReturnType<typeof listJobs>>) => jobs.map(({ id: _id, ...job }) => job);
      const fast = shape(await listJobs(db, { limit: 10 }));
      expect(fast).toEqual(shape(await listJobs(other, { limit: 10 })));
      expect(fast.find((j) => j.key === contactKey('7'))).toMatchObject({ action: 'add', role: 'member', sendNotification: true, webhooks: 3, runAt: 900 });
    } finally {
      await other.destroy();
    }
  });
});
