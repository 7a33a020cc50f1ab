import type { Db } from './database.js';

export async function getSetting(db: Db, key: string): Promise<string | null> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value ?? null;
}

/** Stores `value` unless the key already has one; returns the value that is stored. */
export async function getOrCreateSetting(db: Db, key: string, create: () => string): Promise<{ value: string; created: boolean }> {
  const existing = await getSetting(db, key);
  if (existing !== null) return { value: existing, created: false };
  const value = create();
  await db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute();
  const stored = await getSetting(db, key);
  return { value: stored ?? value, created: stored === value };
}
