import type { Kysely } from 'kysely';

/**
 * Admin UI sign-in sessions (the cookie carries a random id; only its SHA-256 is stored, so a
 * database dump cannot be replayed as a cookie), and the time indexes the dashboard's
 * per-minute counts range over.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('admin_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('inbox_received_at').on('inbox').column('received_at').execute();
  await db.schema.createIndex('log_at').on('log').column('at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('log_at').ifExists().execute();
  await db.schema.dropIndex('inbox_received_at').ifExists().execute();
  await db.schema.dropTable('admin_sessions').ifExists().execute();
}
