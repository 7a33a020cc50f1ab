import type { Db } from './database.js';
import { getSetting } from './settings.js';

/**
 * The periodic sweep's state, in the settings table: where the last sweep started (the next
 * one lists changes since then, minus the overlap) and a lease so that, of several instances
 * sharing one database, one sweeps at a time.
 */
const CURSOR = 'sweep_cursor';
const LEASE = 'sweep_lease';

export async function getSweepCursor(db: Db): Promise<number | null> {
  const value = await getSetting(db, CURSOR);
  return value === null ? null : Number(value);
}

export async function setSweepCursor(db: Db, at: number): Promise<void> {
  await db
    .insertInto('settings')
    .values({ key: CURSOR, value: String(at) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(at) }))
    .execute();
}

/**
 * Takes the sweep lease for `owner` until `until`, if nobody else holds an unexpired one.
 * A compare-and-set on the stored value: of two instances racing, one update finds the row changed.
 */
export async function takeSweepLease(db: Db, owner: string, now: number, until: number): Promise<boolean> {
  const value = JSON.stringify({ owner, until });
  const current = await getSetting(db, LEASE);
  if (current === null) {
    const inserted = await db.insertInto('settings').values({ key: LEASE, value }).onConflict((oc) => oc.column('key').doNothing()).executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  const held = JSON.parse(current) as { owner: string; until: number };
  if (held.owner !== owner && held.until > now) return false;
  const updated = await db.updateTable('settings').set({ value }).where('key', '=', LEASE).where('value', '=', current).executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

export async function releaseSweepLease(db: Db, owner: string): Promise<void> {
  const current = await getSetting(db, LEASE);
  if (current === null || (JSON.parse(current) as { owner: string }).owner !== owner) return;
  await db.deleteFrom('settings').where('key', '=', LEASE).where('value', '=', current).execute();
}
