import { sql, type Insertable, type Selectable } from 'kysely';
import { strongerAction, type Action } from '../domain/action.js';
import { dialectOf, type Db } from './database.js';
import type { JobsTable } from './schema.js';

/**
 * The queue lives in the store, in the same transactions as the data it changes.
 *
 * Job states and their transitions (the only ones any function here makes):
 *
 *   pending ──claim──▶ running ──complete──▶ (deleted)
 *      ▲                  │──retry──▶ pending (merged into a newer pending job of the key, if any)
 *      │                  └──bury───▶ dead
 *      └──────replay────── dead
 *
 * A unique index allows one pending and one running job per key, so webhooks for a contact
 * are coalesced into its pending job, and one that arrives while the contact is running
 * creates exactly one more pass.
 */
export type JobState = 'pending' | 'running' | 'dead';

export interface JobRequest {
  key: string;
  action: Action;
  contactId: string | null;
  userId: number | null;
  role: string | null;
  sendNotification: boolean;
  /** How many webhooks this request stands for (0 for internal work such as a push). */
  webhooks: number;
  runAt: number;
}

export interface Job extends JobRequest {
  id: number;
  state: JobState;
  /** Which worker claimed it, and when (running jobs). */
  lockedBy: string | null;
  lockedAt: number | null;
  attempts: number;
  lastError: string | null;
  firstSeenAt: number;
  updatedAt: number;
}

/** The same work again, due at `runAt` (a retry or a replay). */
function again(job: Job, runAt: number): JobRequest {
  const { key, action, contactId, userId, role, sendNotification, webhooks } = job;
  return { key, action, contactId, userId, role, sendNotification, webhooks, runAt };
}

export function contactKey(contactId: string): string {
  return `c:${contactId}`;
}

export function userKey(userId: number): string {
  return `u:${userId}`;
}

function toJob(r: Selectable<JobsTable>): Job {
  return {
    id: Number(r.id),
    key: r.key,
    action: r.action as Action,
    contactId: r.contact_id,
    userId: r.user_id === null ? null : Number(r.user_id),
    role: r.role,
    sendNotification: Boolean(r.send_notification),
    state: r.state as JobState,
    lockedBy: r.locked_by,
    lockedAt: r.locked_at === null ? null : Number(r.locked_at),
    attempts: Number(r.attempts),
    runAt: Number(r.run_at),
    lastError: r.last_error,
    webhooks: Number(r.webhooks),
    firstSeenAt: Number(r.first_seen_at),
    updatedAt: Number(r.updated_at),
  };
}

const rank = (column: string) =>
  sql<number>`case ${sql.ref(column)} when 'add' then 3 when 'update' then 2 when 'update_tags' then 1 else 0 end`;

/** Two requests for one key as one: the stronger action, the later role, notification if either asked. */
export function mergeRequests(a: JobRequest, b: JobRequest): JobRequest {
  return {
    key: a.key,
    action: strongerAction(a.action, b.action),
    contactId: b.contactId ?? a.contactId,
    userId: b.userId ?? a.userId,
    role: b.role ?? a.role,
    sendNotification: a.sendNotification || b.sendNotification,
    webhooks: a.webhooks + b.webhooks,
    runAt: Math.min(a.runAt, b.runAt),
  };
}

/**
 * Adds work for a key, or merges it into the key's pending job: the stronger action wins,
 * `role` and `send_notification` are kept, the earlier run time stands. Returns the job's id
 * and whether it already existed (a coalesced duplicate).
 */
export async function enqueueJob(db: Db, req: JobRequest, now: number): Promise<{ id: number; coalesced: boolean }> {
  const [result] = await enqueueJobs(db, [req], now);
  return { id: result!.id, coalesced: result!.existed };
}

/**
 * `enqueueJob` for many requests in one statement (ingress batches): requests for the same key
 * are merged first (one row per key and statement, as PostgreSQL requires). Returns, per
 * request, the job's id and whether its key already had a pending job before this batch.
 */
export async function enqueueJobs(db: Db, requests: readonly JobRequest[], now: number): Promise<{ id: number; existed: boolean }[]> {
  if (requests.length === 0) return [];
  const byKey = mergeByKey(requests);
  // In key order: concurrent batches (group commits, instances) then lock the same jobs in the same order, never deadlocking.
  const merged = [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const rows = await upsertJobsQuery(db, merged.map((req) => jobRow(req, now))).execute();
  return enqueued(requests, byKey, new Map(rows.map((r) => [r.key, { id: Number(r.id), webhooks: Number(r.webhooks) }])));
}

/** A new pending job's row; `updated_at` is also the time a merge into an existing job records. */
export function jobRow(req: JobRequest, now: number): Insertable<JobsTable> {
  return {
    key: req.key,
    action: req.action,
    contact_id: req.contactId,
    user_id: req.userId,
    role: req.role,
    send_notification: req.sendNotification ? 1 : 0,
    state: 'pending',
    attempts: 0,
    run_at: req.runAt,
    webhooks: req.webhooks,
    first_seen_at: now,
    created_at: now,
    updated_at: now,
  };
}

/**
 * The upsert behind `enqueueJobs` (rows already merged by key): a key's pending job absorbs the
 * new request — the stronger action, the later role, notification if either asked, the earlier
 * run time, the webhooks added up.
 */
export function upsertJobsQuery(db: Db, rows: Insertable<JobsTable>[]) {
  return db
    .insertInto('jobs')
    .values(rows)
    .onConflict((oc) =>
      oc
        .column('key')
        // A literal, not a parameter: the conflict target must match the partial index.
        .where('state', '=', sql.lit('pending'))
        .doUpdateSet({
          action: sql`case when ${rank('excluded.action')} > ${rank('jobs.action')} then excluded.action else jobs.action end`,
          contact_id: sql`coalesce(excluded.contact_id, jobs.contact_id)`,
          user_id: sql`coalesce(excluded.user_id, jobs.user_id)`,
          role: sql`coalesce(excluded.role, jobs.role)`,
          send_notification: sql`case when excluded.send_notification > jobs.send_notification then excluded.send_notification else jobs.send_notification end`,
          run_at: sql`case when excluded.run_at < jobs.run_at then excluded.run_at else jobs.run_at end`,
          webhooks: sql`jobs.webhooks + excluded.webhooks`,
          updated_at: sql`excluded.updated_at`,
        }),
    )
    .returning(['id', 'key', 'webhooks']);
}

/** Requests for the same key merged into one (one row per key and statement). */
export function mergeByKey(requests: readonly JobRequest[]): Map<string, JobRequest> {
  const byKey = new Map<string, JobRequest>();
  for (const req of requests) {
    const seen = byKey.get(req.key);
    byKey.set(req.key, seen ? mergeRequests(seen, req) : req);
  }
  return byKey;
}

/** Per request: its job's id, and whether the key had a pending job before this batch. */
export function enqueued(
  requests: readonly JobRequest[],
  byKey: Map<string, JobRequest>,
  stored: Map<string, { id: number; webhooks: number }>,
): { id: number; existed: boolean }[] {
  return requests.map((req) => {
    const row = stored.get(req.key)!;
    // More webhooks on the row than this batch brought for the key: the job was there before.
    return { id: row.id, existed: row.webhooks > byKey.get(req.key)!.webhooks };
  });
}

/**
 * Claims up to `limit` due pending jobs whose key is not running, oldest first, and marks them
 * running for `worker`. On PostgreSQL, instances claim concurrently with FOR UPDATE SKIP LOCKED;
 * the one-running-job-per-key index is the final guard (a lost race claims nothing this time).
 */
export async function claimJobs(
  db: Db,
  options: { worker: string; now: number; limit: number; actions?: readonly Action[]; key?: string },
): Promise<Job[]> {
  const postgres = dialectOf(db) === 'postgres';
  try {
    return await db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('jobs as j')
        .select('j.id')
        .where('j.state', '=', 'pending')
        .where('j.run_at', '<=', options.now)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('jobs as r').select('r.id').whereRef('r.key', '=', 'j.key').where('r.state', '=', 'running'))),
        )
        .orderBy('j.run_at')
        .orderBy('j.id')
        .limit(options.limit);
      if (options.actions) query = query.where('j.action', 'in', options.actions);
      if (options.key) query = query.where('j.key', '=', options.key);
      if (postgres) query = query.forUpdate().skipLocked();
      const ids = (await query.execute()).map((r) => Number(r.id));
      if (ids.length === 0) return [];
      const rows = await trx
        .updateTable('jobs')
        .set({ state: 'running', locked_by: options.worker, locked_at: options.now, updated_at: options.now })
        .where('id', 'in', ids)
        .where('state', '=', 'pending')
        .returningAll()
        .execute();
      return rows.map(toJob).sort((a, b) => a.runAt - b.runAt || a.id - b.id);
    });
  } catch (error) {
    // Another instance started a pass for one of these keys between our read and our update.
    if ((error as { code?: string }).code === '23505') return [];
    throw error;
  }
}

/** The job is no longer this worker's: its lease expired and another worker took it over. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/** Deletes a finished job; throws `LeaseLostError` if it was taken over meanwhile (its pass must not commit). */
export async function completeJob(db: Db, id: number): Promise<void> {
  const result = await db.deleteFrom('jobs').where('id', '=', id).where('state', '=', 'running').executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw new LeaseLostError(`job #${id} was taken over by another worker after its lease expired`);
}

/**
 * Puts a running job back to pending at `runAt`, merged into a newer pending job of its key if
 * one exists. Returns false, changing nothing, when the job is no longer running (taken over).
 */
export async function retryJob(db: Db, job: Job, runAt: number, error: string, now: number): Promise<boolean> {
  return db.transaction().execute((trx) => requeue(trx, job, runAt, error, now));
}

async function requeue(trx: Db, job: Job, runAt: number, error: string, now: number): Promise<boolean> {
  const gone = await trx.deleteFrom('jobs').where('id', '=', job.id).where('state', '=', 'running').executeTakeFirst();
  if (Number(gone.numDeletedRows) === 0) return false;
  const merged = await enqueueJob(trx, again(job, runAt), now);
  // The retry keeps its attempt count and reason; a merged newer job inherits them.
  await trx
    .updateTable('jobs')
    .set({ attempts: job.attempts + 1, last_error: error, first_seen_at: sql`case when first_seen_at < ${job.firstSeenAt} then first_seen_at else ${job.firstSeenAt} end`, run_at: sql`case when run_at > ${runAt} then run_at else ${runAt} end` })
    .where('id', '=', merged.id)
    .execute();
  return true;
}

/** Moves a running job to the dead letters (one taken over meanwhile is left to its new owner). */
export async function buryJob(db: Db, job: Job, error: string, now: number): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ state: 'dead', attempts: job.attempts + 1, last_error: error, locked_by: null, locked_at: null, updated_at: now })
    .where('id', '=', job.id)
    .where('state', '=', 'running')
    .execute();
}

/** Sends a dead job back to the queue (merged into the key's pending job, if any). */
export async function replayJob(db: Db, id: number, now: number): Promise<Job | null> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('jobs').selectAll().where('id', '=', id).where('state', '=', 'dead').executeTakeFirst();
    if (!row) return null;
    const dead = toJob(row);
    await trx.deleteFrom('jobs').where('id', '=', id).execute();
    const { id: newId } = await enqueueJob(trx, again(dead, now), now);
    const replayed = await trx.selectFrom('jobs').selectAll().where('id', '=', newId).executeTakeFirstOrThrow();
    return toJob(replayed);
  });
}

/**
 * Running jobs whose worker stopped renewing its lease (it crashed) go back to the queue,
 * merged into a newer pending job of their key, without counting an attempt. On SQLite a
 * single instance owns the file, so at start everything running was interrupted (`cutoff` = now).
 */
export async function reclaimExpiredJobs(db: Db, cutoff: number, now: number): Promise<Job[]> {
  const postgres = dialectOf(db) === 'postgres';
  const candidates = await db.selectFrom('jobs').select('id').where('state', '=', 'running').where('locked_at', '<=', cutoff).orderBy('id').execute();
  const taken: Job[] = [];
  // One job per transaction, each re-checked under its row lock: a lease renewed meanwhile, a
  // job its worker is completing (locked) or another instance is taking over is left alone.
  for (const { id } of candidates) {
    const job = await db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('jobs').selectAll().where('id', '=', Number(id)).where('state', '=', 'running').where('locked_at', '<=', cutoff);
      if (postgres) query = query.forUpdate().skipLocked();
      const row = await query.executeTakeFirst();
      if (!row) return null;
      const expired = toJob(row);
      await requeue(trx, { ...expired, attempts: expired.attempts - 1 }, now, expired.lastError ?? 'interrupted: its worker stopped', now);
      return expired;
    });
    if (job) taken.push(job);
  }
  return taken;
}

/**
 * A live worker's heartbeat: its running jobs stay claimed. Rows locked by a transaction (the
 * worker's own pass completing them, or a takeover) are skipped, never waited for: waiting on
 * its own pass's open transaction deadlocked the heartbeat with it, and live leases expired.
 */
export async function renewLeases(db: Db, worker: string, now: number): Promise<void> {
  let mine = db.selectFrom('jobs').select('id').where('state', '=', 'running').where('locked_by', '=', worker);
  if (dialectOf(db) === 'postgres') mine = mine.forUpdate().skipLocked();
  await db.updateTable('jobs').set({ locked_at: now }).where('state', '=', 'running').where('id', 'in', mine).execute();
}

export async function listJobs(db: Db, options: { state?: JobState; limit: number }): Promise<Job[]> {
  let query = db.selectFrom('jobs').selectAll().orderBy('id').limit(options.limit);
  if (options.state) query = query.where('state', '=', options.state);
  return (await query.execute()).map(toJob);
}

export async function getJob(db: Db, id: number): Promise<Job | null> {
  const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toJob(row) : null;
}

export interface QueueCounts {
  pending: number;
  retrying: number;
  running: number;
  dead: number;
}

export async function countJobs(db: Db): Promise<QueueCounts> {
  const rows = await db
    .selectFrom('jobs')
    .select(['state', sql<number>`case when attempts > 0 and state = 'pending' then 1 else 0 end`.as('retry'), (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['state', sql`case when attempts > 0 and state = 'pending' then 1 else 0 end`])
    .execute();
  const counts: QueueCounts = { pending: 0, retrying: 0, running: 0, dead: 0 };
  for (const r of rows) {
    if (r.state === 'pending' && Number(r.retry) === 1) counts.retrying += Number(r.n);
    else if (r.state === 'pending') counts.pending += Number(r.n);
    else if (r.state === 'running') counts.running += Number(r.n);
    else if (r.state === 'dead') counts.dead += Number(r.n);
  }
  return counts;
}

/** The earliest time a pending job becomes due, or null when none is pending. */
export async function nextDueAt(db: Db): Promise<number | null> {
  const row = await db.selectFrom('jobs').select((eb) => eb.fn.min('run_at').as('at')).where('state', '=', 'pending').executeTakeFirst();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

/** Removes a dead job for good (the caller logs why); null when no dead job has that id. */
export async function discardJob(db: Db, id: number): Promise<Job | null> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('jobs').selectAll().where('id', '=', id).where('state', '=', 'dead').executeTakeFirst();
    if (!row) return null;
    await trx.deleteFrom('jobs').where('id', '=', id).where('state', '=', 'dead').execute();
    return toJob(row);
  });
}
