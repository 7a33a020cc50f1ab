import { fstatSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ingestWebhooks, type IncomingWebhook } from '../ingress/ingest.js';
import { migrate, openDatabase, type Db } from './database.js';
import { contactKey, enqueueJobs, listJobs } from './jobs.js';
import { openSqlite, writePrepared } from './sqlite.js';
import { StatementTemplate } from './statement-template.js';
import type { Fsync } from './wal-sync.js';

// SQLite's own commit path, so always on a SQLite file whatever the test dialect.
const sqliteFile = () => join(mkdtempSync(join(tmpdir(), 'crmsync-sqlite-')), 'crmsync.sqlite');

/** A real fdatasync that the test may hold (to see who waits for it) or fail. */
function heldFsync() {
  const state = { calls: 0, files: new Set<number>(), hold: false, fail: null as Error | null, held: [] as (() => void)[] };
  const fsync: Fsync = (fd, done) => {
    state.calls++;
    state.files.add(fstatSync(fd).ino);
    const finish = () => done(state.fail as NodeJS.ErrnoException | null);
    if (state.hold) state.held.push(finish);
    else setImmediate(finish);
  };
  const release = () => {
    state.hold = false;
    state.held.splice(0).forEach((f) => f());
  };
  return { state, fsync, release };
}

const pending = async (p: Promise<unknown>) => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return !done;
};

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

describe('SQLite: writes are on disk before they resolve, synced off the event loop', () => {
  const open: Db[] = [];
  const start = async (fsync?: Fsync) => {
    const path = sqliteFile();
    const db = openSqlite(path, { fsync });
    open.push(db);
    await migrate(db);
    return { db, path };
  };
  afterEach(async () => {
    for (const db of open.splice(0)) await db.destroy();
  });

  it('runs in WAL mode at synchronous=NORMAL and syncs the WAL after every write, never after a read', async () => {
    const { state, fsync } = heldFsync();
    const { db, path } = await start(fsync);
    expect((await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db)).rows[0]!.journal_mode).toBe('wal');
    expect((await sql<{ synchronous: number }>`pragma synchronous`.execute(db)).rows[0]!.synchronous).toBe(1);
    state.calls = 0;
    await db.insertInto('settings').values({ key: 'a', value: '1' }).execute();
    expect(state.calls).toBe(1);
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('settings').values({ key: 'b', value: '1' }).execute();
      await trx.updateTable('settings').set({ value: '2' }).where('key', '=', 'a').execute();
    });
    expect(state.calls).toBe(2);
    await db.selectFrom('settings').selectAll().execute();
    expect(state.calls).toBe(2);
    // It is the WAL file that gets synced.
    expect([...state.files]).toEqual([statSync(`${path}-wal`).ino]);
  });

  it('a write resolves only after its fsync, while the connection already serves others', async () => {
    const { state, fsync, release } = heldFsync();
    const { db } = await start(fsync);
    state.hold = true;
    const write = db.insertInto('settings').values({ key: 'c', value: '1' }).execute();
    expect(await pending(write)).toBe(true);
    // The next caller reads meanwhile: the fsync does not hold the connection.
    expect(await db.selectFrom('settings').select('value').where('key', '=', 'c').executeTakeFirst()).toEqual({ value: '1' });
    release();
    await write;
  });

  it("a controlled transaction's commit resolves only after its fsync", async () => {
    const { state, fsync, release } = heldFsync();
    const { db } = await start(fsync);
    const trx = await db.startTransaction().execute();
    await trx.insertInto('settings').values({ key: 'ct', value: '1' }).execute();
    state.calls = 0;
    state.hold = true;
    const commit = trx.commit().execute();
    expect(await pending(commit)).toBe(true);
    expect(state.calls).toBe(1);
    release();
    await commit;
  });

  it('a failed fsync fails the write (it is never acknowledged)', async () => {
    const { state, fsync } = heldFsync();
    const { db } = await start(fsync);
    state.fail = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    await expect(db.insertInto('settings').values({ key: 'd', value: '1' }).execute()).rejects.toThrow('EIO');
    await expect(writePrepared(db, () => 1)).rejects.toThrow('EIO');
  });

  it('writePrepared is one transaction: a throw keeps nothing; a success is synced before it resolves', async () => {
    const { state, fsync, release } = heldFsync();
    const { db } = await start(fsync);
    const insert = new StatementTemplate<'key'>((v) => db.insertInto('settings').values({ key: v('key'), value: '1' }));
    await expect(
      writePrepared(db, (w) => {
        w.run(insert, { key: 'e' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.selectFrom('settings').selectAll().where('key', '=', 'e').execute()).toEqual([]);
    state.hold = true;
    const written = writePrepared(db, (w) => (w.run(insert, { key: 'f' }), 'ok'))!;
    expect(await pending(written)).toBe(true);
    release();
    expect(await written).toBe('ok');
    expect(await db.selectFrom('settings').select('key').where('key', '=', 'f').execute()).toEqual([{ key: 'f' }]);
  });

  it('savepoints roll back inside a transaction that commits', async () => {
    const { db } = await start();
    const trx = await db.startTransaction().execute();
    await trx.insertInto('settings').values({ key: 'kept', value: '1' }).execute();
    const sp = await trx.savepoint('inner').execute();
    await sp.insertInto('settings').values({ key: 'undone', value: '1' }).execute();
    await sp.rollbackToSavepoint('inner').execute();
    await trx.commit().execute();
    expect((await db.selectFrom('settings').select('key').where('key', 'in', ['kept', 'undone']).execute()).map((r) => r.key)).toEqual(['kept']);
  });

  it('in memory there is no WAL: SQLite syncs itself (synchronous=FULL), and writePrepared still works', async () => {
    const db = openDatabase('sqlite::memory:');
    open.push(db);
    await migrate(db);
    expect((await sql<{ synchronous: number }>`pragma synchronous`.execute(db)).rows[0]!.synchronous).toBe(2);
    expect(await writePrepared(db, () => 'ok')).toBe('ok');
  });

  it('the ingest path (prepared statements) coalesces exactly as enqueueJobs does through Kysely', async () => {
    const { db } = await start();
    const batches: IncomingWebhook[][] = [
      [webhook('7'), webhook('8', { action: 'add', sendNotification: true })],
      [webhook('7', { action: 'add', role: 'member', sendNotification: true, receivedAt: 900 }), webhook('7', { action: 'update', receivedAt: 1100 })],
      [webhook('8', { action: 'update_tags', role: 'customer', receivedAt: 1200 })],
    ];
    const results = [];
    for (const batch of batches) results.push(await ingestWebhooks(db, batch));
    expect(results.map((r) => r.map((w) => w.contacts[0]!.coalesced))).toEqual([[false, false], [true, true], [true]]);
    expect(await db.selectFrom('inbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst()).toEqual({ n: 5 });

    const other = (await start()).db;
    for (const batch of batches) {
      const requests = batch.map((w) => ({ key: contactKey(w.contactIds[0]!), action: w.action, contactId: w.contactIds[0]!, userId: null, role: w.role, sendNotification: w.sendNotification, webhooks: 1, runAt: w.receivedAt }));
      await enqueueJobs(other, requests, Math.min(...batch.map((w) => w.receivedAt)));
    }
    const shape = (jobs: Awaited<ReturnType<typeof listJobs>>) => jobs.map(({ id: _id, ...job }) => job);
    const fast = shape(await listJobs(db, { limit: 10 }));
    expect(fast).toEqual(shape(await listJobs(other, { limit: 10 })));
    expect(fast.find((j) => j.key === contactKey('7'))).toMatchObject({ action: 'add', role: 'member', sendNotification: true, webhooks: 3, runAt: 900 });
  });
});
