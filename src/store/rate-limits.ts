import { sql } from 'kysely';
import { dialectOf, type Db } from './database.js';

/** Reserved slots: when the first one is, and the database's clock when it was reserved (ms since 1970, both). */
export interface SlotReservation {
  first: number;
  now: number;
}

/**
 * Call slots for a CRM account, shared through the database: each reservation moves the
 * account's `next_slot_at` forward by `count × intervalMs` in one atomic UPDATE, so instances
 * never hand out the same slot. Time is the database's clock, so instances with skewed clocks
 * agree; each instance places the slots on its own clock (see SharedSlotLimiter).
 */
export async function reserveSlots(db: Db, name: string, count: number, intervalMs: number): Promise<SlotReservation> {
  const now = dbNow(db);
  await db.insertInto('rate_limits').values({ name, next_slot_at: 0 }).onConflict((oc) => oc.column('name').doNothing()).execute();
  const row = await db
    .updateTable('rate_limits')
    .set({ next_slot_at: sql`${greatest(db, sql.ref('next_slot_at'), now)} + ${count * intervalMs}` })
    .where('name', '=', name)
    .returning([sql<number>`next_slot_at`.as('next'), sql<number>`${now}`.as('now')])
    .executeTakeFirstOrThrow();
  return { first: Number(row.next) - count * intervalMs, now: Number(row.now) };
}

/** After a 429: no instance gets a slot before `ms` from now. */
export async function pushBackSlots(db: Db, name: string, ms: number): Promise<void> {
  const now = dbNow(db);
  await db
    .updateTable('rate_limits')
    .set({ next_slot_at: greatest(db, sql.ref('next_slot_at'), sql`${now} + ${ms}`) })
    .where('name', '=', name)
    .execute();
}

function dbNow(db: Db) {
  return dialectOf(db) === 'postgres'
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
}

function greatest(db: Db, a: unknown, b: unknown) {
  return dialectOf(db) === 'postgres' ? sql<number>`greatest(${a}, ${b})` : sql<number>`max(${a}, ${b})`;
}
