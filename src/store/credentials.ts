import type { Db } from './database.js';

/** The two secrets crmsync hands out: the webhook access key and the API bearer token. */
export type CredentialKind = 'access_key' | 'api_token';

export interface StoredCredential {
  current: string;
  /** The value before the last rotation, accepted until `previousUntil` (epoch ms). */
  previous: string | null;
  previousUntil: number | null;
  rotatedAt: number | null;
}

interface PreviousRecord {
  value: string;
  until: number;
  rotatedAt: number;
}

// The current value keeps the key it always had in `settings`; the retiring one sits beside it.
const previousKey = (kind: CredentialKind) => `${kind}:previous`;

export async function loadCredential(db: Db, kind: CredentialKind): Promise<StoredCredential | null> {
  const rows = await db.selectFrom('settings').select(['key', 'value']).where('key', 'in', [kind, previousKey(kind)]).execute();
  const current = rows.find((r) => r.key === kind)?.value;
  if (current === undefined) return null;
  const raw = rows.find((r) => r.key === previousKey(kind))?.value;
  const previous = raw ? (JSON.parse(raw) as PreviousRecord) : null;
  return { current, previous: previous?.value ?? null, previousUntil: previous?.until ?? null, rotatedAt: previous?.rotatedAt ?? null };
}

/**
 * Makes `next` the current value and keeps the old one valid until `until`. One transaction, so
 * two concurrent rotations cannot leave a value that nobody was shown.
 */
export async function rotateCredential(db: Db, kind: CredentialKind, next: string, now: number, until: number): Promise<StoredCredential> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('settings').select('value').where('key', '=', kind).executeTakeFirst();
    if (!row) throw new Error(`no stored ${kind} to rotate`);
    const previous: PreviousRecord = { value: row.value, until, rotatedAt: now };
    await trx.updateTable('settings').set({ value: next }).where('key', '=', kind).execute();
    await trx
      .insertInto('settings')
      .values({ key: previousKey(kind), value: JSON.stringify(previous) })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(previous) }))
      .execute();
    return { current: next, previous: previous.value, previousUntil: until, rotatedAt: now };
  });
}
