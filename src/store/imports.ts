import { sql, type Selectable } from 'kysely';
import type { FieldValues } from '../domain/contact.js';
import type { Db } from './database.js';
import type { ImportsTable } from './schema.js';

/** running (or killed while running) | interrupted (stopped by Ctrl-C) | done | failed | undone */
export type ImportState = 'running' | 'interrupted' | 'done' | 'failed' | 'undone';

export interface ImportOptions {
  crm: string;
  tag: string | null;
  updateExisting: boolean;
  role: string | null;
}

export interface ImportCounts {
  listed: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
}

export interface ImportRun extends ImportOptions, ImportCounts {
  id: number;
  state: ImportState;
  cursor: string | null;
  total: number | null;
  error: string | null;
  startedAt: number;
  updatedAt: number;
  finishedAt: number | null;
  undoneAt: number | null;
}

/** The parts of a user an import may change, as recorded before and after it. */
export interface UserValues {
  email: string;
  role: string;
  fields: FieldValues;
  tags: string[];
}

export interface ImportUser {
  importId: number;
  userId: number;
  contactId: string;
  created: boolean;
  before: UserValues | null;
  after: UserValues;
}

function toRun(r: Selectable<ImportsTable>): ImportRun {
  return {
    id: Number(r.id),
    crm: r.crm,
    tag: r.tag,
    updateExisting: Boolean(r.update_existing),
    role: r.role,
    state: r.state as ImportState,
    cursor: r.cursor,
    total: r.total === null ? null : Number(r.total),
    listed: Number(r.listed),
    created: Number(r.created),
    updated: Number(r.updated),
    skipped: Number(r.skipped),
    failed: Number(r.failed),
    error: r.error,
    startedAt: Number(r.started_at),
    updatedAt: Number(r.updated_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    undoneAt: r.undone_at === null ? null : Number(r.undone_at),
  };
}

export async function createImport(db: Db, options: ImportOptions, now: number): Promise<ImportRun> {
  const row = await db
    .insertInto('imports')
    .values({ crm: options.crm, tag: options.tag, update_existing: options.updateExisting ? 1 : 0, role: options.role, state: 'running', cursor: null, total: null, listed: 0, created: 0, updated: 0, skipped: 0, failed: 0, error: null, started_at: now, updated_at: now, finished_at: null, undone_at: null })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRun(row);
}

/** The latest unfinished import with exactly these options: a re-run continues it. */
export async function findUnfinishedImport(db: Db, options: ImportOptions): Promise<ImportRun | null> {
  let query = db
    .selectFrom('imports')
    .selectAll()
    .where('state', 'in', ['running', 'interrupted'])
    .where('crm', '=', options.crm)
    .where('update_existing', '=', options.updateExisting ? 1 : 0);
  query = options.tag === null ? query.where('tag', 'is', null) : query.where('tag', '=', options.tag);
  query = options.role === null ? query.where('role', 'is', null) : query.where('role', '=', options.role);
  const row = await query.orderBy('id', 'desc').executeTakeFirst();
  return row ? toRun(row) : null;
}

export async function getImport(db: Db, id: number): Promise<ImportRun | null> {
  const row = await db.selectFrom('imports').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRun(row) : null;
}

export async function listImports(db: Db, limit: number): Promise<ImportRun[]> {
  return (await db.selectFrom('imports').selectAll().orderBy('id', 'desc').limit(limit).execute()).map(toRun);
}

/**
 * One page done: where the listing now stands and what the page added to the counts (in the
 * page's transaction). The last page (no cursor after it) finishes the run in the same commit, so
 * a run killed right after it is not taken for one that has not started.
 */
export async function advanceImport(db: Db, id: number, page: { cursor: string | null; total: number | null; counts: ImportCounts }, now: number): Promise<void> {
  const last = page.cursor === null;
  const c = page.counts;
  await db
    .updateTable('imports')
    .set({
      cursor: page.cursor,
      total: page.total,
      listed: sql`listed + ${c.listed}`,
      created: sql`created + ${c.created}`,
      updated: sql`updated + ${c.updated}`,
      skipped: sql`skipped + ${c.skipped}`,
      failed: sql`failed + ${c.failed}`,
      state: last ? 'done' : 'running',
      updated_at: now,
      ...(last && { finished_at: now }),
    })
    .where('id', '=', id)
    .execute();
}

export async function setImportState(db: Db, id: number, state: ImportState, now: number, error: string | null = null): Promise<void> {
  await db
    .updateTable('imports')
    .set({
      state,
      error,
      updated_at: now,
      ...((state === 'done' || state === 'failed') && { finished_at: now }),
      ...(state === 'undone' && { undone_at: now }),
    })
    .where('id', '=', id)
    .execute();
}

/** Records what the import did to a user; false if this import already recorded that user. */
export async function recordImportUser(db: Db, row: ImportUser): Promise<boolean> {
  const result = await db
    .insertInto('import_users')
    .values({
      import_id: row.importId,
      user_id: row.userId,
      contact_id: row.contactId,
      created: row.created ? 1 : 0,
      before: row.before ? JSON.stringify(row.before) : null,
      after: JSON.stringify(row.after),
    })
    .onConflict((oc) => oc.columns(['import_id', 'user_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function hasImportUser(db: Db, importId: number, userId: number): Promise<boolean> {
  return (await db.selectFrom('import_users').select('user_id').where('import_id', '=', importId).where('user_id', '=', userId).executeTakeFirst()) !== undefined;
}

export async function listImportUsers(db: Db, importId: number): Promise<ImportUser[]> {
  const rows = await db.selectFrom('import_users').selectAll().where('import_id', '=', importId).orderBy('user_id').execute();
  return rows.map((r) => ({
    importId: Number(r.import_id),
    userId: Number(r.user_id),
    contactId: r.contact_id,
    created: Boolean(r.created),
    before: r.before ? (JSON.parse(r.before) as UserValues) : null,
    after: JSON.parse(r.after) as UserValues,
  }));
}
