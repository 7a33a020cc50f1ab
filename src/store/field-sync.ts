import type { FieldValues } from '../domain/contact.js';
import type { Db } from './database.js';

/** The last synced value of each of a user's fields (a field never synced is absent). */
export async function loadSyncedFields(db: Db, userId: number): Promise<FieldValues> {
  const rows = await db.selectFrom('field_sync').select(['field', 'value']).where('user_id', '=', userId).execute();
  return Object.fromEntries(rows.map((r) => [r.field, r.value]));
}

/** Records values as equal on both sides now; only rows whose value changed are written. */
export async function saveSyncedFields(db: Db, userId: number, values: FieldValues, now: number, known?: FieldValues): Promise<void> {
  const changed = Object.entries(values).filter(([field, value]) => !known || !Object.prototype.hasOwnProperty.call(known, field) || known[field] !== value);
  if (changed.length === 0) return;
  await db
    .insertInto('field_sync')
    .values(changed.map(([field, value]) => ({ user_id: userId, field, value, synced_at: now })))
    .onConflict((oc) => oc.columns(['user_id', 'field']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), synced_at: eb.ref('excluded.synced_at') })))
    .execute();
}
