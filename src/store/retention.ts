import type { Db } from './database.js';

/**
 * Deletes history older than the retention period: stored webhooks, log lines, kept mail and
 * used or expired set-password tokens, finished event deliveries. Users, pending work and dead
 * letters of the queue are never pruned.
 */
export async function pruneHistory(db: Db, before: number): Promise<{ inbox: number; log: number; mail: number; tokens: number; deliveries: number }> {
  const count = (r: { numDeletedRows: bigint }) => Number(r.numDeletedRows);
  return db.transaction().execute(async (trx) => ({
    inbox: count(await trx.deleteFrom('inbox').where('received_at', '<', before).executeTakeFirst()),
    log: count(await trx.deleteFrom('log').where('at', '<', before).executeTakeFirst()),
    mail: count(await trx.deleteFrom('mail_outbox').where('at', '<', before).executeTakeFirst()),
    tokens: count(await trx.deleteFrom('password_tokens').where('expires_at', '<', before).executeTakeFirst()),
    deliveries: count(await trx.deleteFrom('event_deliveries').where('state', 'in', ['delivered', 'dead']).where('updated_at', '<', before).executeTakeFirst()),
  }));
}
