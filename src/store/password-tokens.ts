import type { Db } from './database.js';

/** Set-password tokens are stored as SHA-256 hashes: the link in the e-mail is the only copy. */
export async function insertPasswordToken(db: Db, token: { hash: string; userId: number; expiresAt: number }): Promise<void> {
  await db.insertInto('password_tokens').values({ token_hash: token.hash, user_id: token.userId, expires_at: token.expiresAt, used_at: null }).execute();
}

/** Marks the token used if it is valid now; returns its user, or null (unknown, used or expired). */
export async function consumePasswordToken(db: Db, hash: string, now: number): Promise<number | null> {
  const row = await db
    .updateTable('password_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', hash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('user_id')
    .executeTakeFirst();
  return row ? Number(row.user_id) : null;
}

export async function findPasswordToken(db: Db, hash: string, now: number): Promise<number | null> {
  const row = await db
    .selectFrom('password_tokens')
    .select('user_id')
    .where('token_hash', '=', hash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return row ? Number(row.user_id) : null;
}
