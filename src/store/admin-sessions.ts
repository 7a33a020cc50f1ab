import { createHash } from 'node:crypto';
import type { Db } from './database.js';

const hash = (id: string) => createHash('sha256').update(id).digest('hex');

/** Admin UI sessions: stored by the hash of their id, valid until `expires_at`. */
export async function insertAdminSession(db: Db, id: string, now: number, ttlMs: number): Promise<void> {
  await db.deleteFrom('admin_sessions').where('expires_at', '<=', now).execute();
  await db.insertInto('admin_sessions').values({ id_hash: hash(id), created_at: now, expires_at: now + ttlMs }).execute();
}

export async function adminSessionValid(db: Db, id: string, now: number): Promise<boolean> {
  const row = await db.selectFrom('admin_sessions').select('expires_at').where('id_hash', '=', hash(id)).executeTakeFirst();
  return row !== undefined && Number(row.expires_at) > now;
}

export async function deleteAdminSession(db: Db, id: string): Promise<void> {
  await db.deleteFrom('admin_sessions').where('id_hash', '=', hash(id)).execute();
}
