import type { Operation, OperationKind } from '../domain/operation.js';
import { operationTarget } from '../domain/operation.js';
import type { Db } from './database.js';

/**
 * Records a local change on its way to the CRM, replacing any older change to the same target
 * (a new row, so an acknowledgement for the old one cannot land on the new one).
 */
export async function recordOperation(
  db: Db,
  op: { userId: number; kind: OperationKind; name: string; value: string | null },
  now: number,
): Promise<void> {
  const target = operationTarget(op.kind, op.name);
  await db.deleteFrom('operations').where('user_id', '=', op.userId).where('target', '=', target).execute();
  await db
    .insertInto('operations')
    .values({ user_id: op.userId, target, kind: op.kind, name: op.name, value: op.value, state: 'pending', created_at: now, acked_at: null })
    .execute();
}

export async function listOperations(db: Db, userId: number): Promise<Operation[]> {
  const rows = await db.selectFrom('operations').selectAll().where('user_id', '=', userId).orderBy('id').execute();
  return rows.map((r) => ({
    id: Number(r.id),
    userId: Number(r.user_id),
    kind: r.kind as OperationKind,
    name: r.name,
    value: r.value,
    state: r.state as Operation['state'],
    createdAt: Number(r.created_at),
    ackedAt: r.acked_at === null ? null : Number(r.acked_at),
  }));
}

export async function markAcked(db: Db, ids: readonly number[], at: number): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('operations').set({ state: 'acked', acked_at: at }).where('id', 'in', ids).where('state', '=', 'pending').execute();
}

export async function deleteOperations(db: Db, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('operations').where('id', 'in', ids).execute();
}

export async function countPendingOperations(db: Db): Promise<number> {
  const row = await db.selectFrom('operations').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'pending').executeTakeFirstOrThrow();
  return Number(row.n);
}
