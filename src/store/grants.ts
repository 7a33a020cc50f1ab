import type { Selectable } from 'kysely';
import type { Grant } from '../domain/access.js';
import type { Db } from './database.js';
import type { GrantsTable } from './schema.js';

function toGrant(r: Selectable<GrantsTable>): Grant {
  return {
    id: Number(r.id),
    userId: Number(r.user_id),
    resource: r.resource,
    source: r.source,
    detail: r.source_detail,
    note: r.note,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

/** The user's active grants, oldest first. */
export async function listActiveGrants(db: Db, userId: number): Promise<Grant[]> {
  const rows = await db.selectFrom('grants').selectAll().where('user_id', '=', userId).where('revoked_at', 'is', null).orderBy('id').execute();
  return rows.map(toGrant);
}

/**
 * Whether the user exists and which active grants cover `resource`: one query on the
 * `grants_active` index (a user without grants still answers one row, with nulls).
 */
export async function findAccess(db: Db, userId: number, resource: string): Promise<{ userExists: boolean; grants: Grant[] }> {
  const rows = await db
    .selectFrom('users')
    .leftJoin('grants', (j) => j.onRef('grants.user_id', '=', 'users.id').on('grants.resource', '=', resource).on('grants.revoked_at', 'is', null))
    .select(['users.id as user', 'grants.id', 'grants.user_id', 'grants.resource', 'grants.source', 'grants.source_detail', 'grants.note', 'grants.created_at', 'grants.revoked_at', 'grants.revoked_reason'])
    .where('users.id', '=', userId)
    .orderBy('grants.id')
    .execute();
  const grants = rows.filter((r) => r.id !== null).map((r) => toGrant(r as Selectable<GrantsTable>));
  return { userExists: rows.length > 0, grants };
}

/** Adds an active grant unless the same provenance is already active; returns it, or null if it was. */
export async function insertGrant(
  db: Db,
  grant: { userId: number; resource: string; source: string; detail: string; note: string | null },
  now: number,
): Promise<Grant | null> {
  const row = await db
    .insertInto('grants')
    .values({ user_id: grant.userId, resource: grant.resource, source: grant.source, source_detail: grant.detail, note: grant.note, created_at: now, revoked_at: null, revoked_reason: null })
    .onConflict((oc) => oc.columns(['user_id', 'resource', 'source', 'source_detail']).where('revoked_at', 'is', null).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row ? toGrant(row) : null;
}

/** Revokes the given grants if still active; returns those it revoked. */
export async function revokeGrants(db: Db, ids: readonly number[], reason: string, now: number): Promise<Grant[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .updateTable('grants')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('id', 'in', ids)
    .where('revoked_at', 'is', null)
    .returningAll()
    .execute();
  return rows.map(toGrant);
}
