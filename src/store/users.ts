import type { Selectable } from 'kysely';
import type { FieldValues } from '../domain/contact.js';
import type { Db } from './database.js';
import type { UsersTable } from './schema.js';

export interface User {
  id: number;
  email: string;
  contactId: string | null;
  role: string;
  tags: string[];
  fields: FieldValues;
  /** The CRM state we last read or wrote, to recognise echoes of our own writes. */
  crmState: { tags: string[]; fields: FieldValues } | null;
  hasPassword: boolean;
  createdAt: number;
  updatedAt: number;
}

function toUser(row: Selectable<UsersTable>, tags: string[]): User {
  return {
    id: Number(row.id),
    email: row.email,
    contactId: row.contact_id,
    role: row.role,
    tags,
    fields: JSON.parse(row.fields) as FieldValues,
    crmState: row.crm_state ? (JSON.parse(row.crm_state) as User['crmState']) : null,
    hasPassword: row.password_hash !== null,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

async function withTags(db: Db, rows: Selectable<UsersTable>[]): Promise<User[]> {
  if (rows.length === 0) return [];
  const tagRows = await db
    .selectFrom('user_tags')
    .select(['user_id', 'tag'])
    .where('user_id', 'in', rows.map((r) => r.id))
    .orderBy('tag')
    .execute();
  const byUser = new Map<number, string[]>();
  for (const t of tagRows) {
    const list = byUser.get(Number(t.user_id)) ?? [];
    list.push(t.tag);
    byUser.set(Number(t.user_id), list);
  }
  return rows.map((r) => toUser(r, byUser.get(Number(r.id)) ?? []));
}

export async function findUser(db: Db, by: { id: number } | { email: string } | { contactId: string }): Promise<User | null> {
  let query = db.selectFrom('users').selectAll();
  if ('id' in by) query = query.where('id', '=', by.id);
  else if ('email' in by) query = query.where('email', '=', by.email.toLowerCase());
  else query = query.where('contact_id', '=', by.contactId);
  const row = await query.executeTakeFirst();
  return row ? ((await withTags(db, [row]))[0] ?? null) : null;
}

export interface UserFilter {
  email?: string;
  contactId?: string;
  tag?: string;
  limit: number;
  afterId?: number;
}

export async function listUsers(db: Db, filter: UserFilter): Promise<User[]> {
  let query = db.selectFrom('users').selectAll().orderBy('id').limit(filter.limit);
  if (filter.email) query = query.where('email', '=', filter.email.toLowerCase());
  if (filter.contactId) query = query.where('contact_id', '=', filter.contactId);
  if (filter.afterId) query = query.where('id', '>', filter.afterId);
  if (filter.tag) {
    const tag = filter.tag;
    query = query.where('id', 'in', (eb) => eb.selectFrom('user_tags').select('user_id').where('tag', '=', tag));
  }
  return withTags(db, await query.execute());
}

export interface NewUser {
  email: string;
  contactId: string | null;
  role: string;
  fields: FieldValues;
  tags: string[];
  crmState: User['crmState'];
}

export async function insertUser(db: Db, user: NewUser, now: number): Promise<number> {
  const row = await db
    .insertInto('users')
    .values({
      email: user.email.toLowerCase(),
      contact_id: user.contactId,
      role: user.role,
      fields: JSON.stringify(user.fields),
      crm_state: user.crmState ? JSON.stringify(user.crmState) : null,
      password_hash: null,
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const id = Number(row.id);
  await setTags(db, id, [], user.tags);
  return id;
}

export interface UserPatch {
  email?: string;
  contactId?: string | null;
  role?: string;
  fields?: FieldValues;
  crmState?: User['crmState'];
  passwordHash?: string;
}

export async function updateUser(db: Db, id: number, patch: UserPatch, now: number): Promise<void> {
  await db
    .updateTable('users')
    .set({
      ...(patch.email !== undefined && { email: patch.email.toLowerCase() }),
      ...(patch.contactId !== undefined && { contact_id: patch.contactId }),
      ...(patch.role !== undefined && { role: patch.role }),
      ...(patch.fields !== undefined && { fields: JSON.stringify(patch.fields) }),
      ...(patch.crmState !== undefined && { crm_state: patch.crmState ? JSON.stringify(patch.crmState) : null }),
      ...(patch.passwordHash !== undefined && { password_hash: patch.passwordHash }),
      updated_at: now,
    })
    .where('id', '=', id)
    .execute();
}

export async function getPasswordHash(db: Db, id: number): Promise<string | null> {
  const row = await db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirst();
  return row?.password_hash ?? null;
}

/** Moves the user's tag rows from `before` to `after` (only the difference is written). */
export async function setTags(db: Db, userId: number, before: readonly string[], after: readonly string[]): Promise<void> {
  const was = new Set(before);
  const now = new Set(after);
  const removed = [...was].filter((t) => !now.has(t));
  const added = [...now].filter((t) => !was.has(t));
  if (removed.length) await db.deleteFrom('user_tags').where('user_id', '=', userId).where('tag', 'in', removed).execute();
  if (added.length) {
    await db
      .insertInto('user_tags')
      .values(added.map((tag) => ({ user_id: userId, tag })))
      .onConflict((oc) => oc.columns(['user_id', 'tag']).doNothing())
      .execute();
  }
}
