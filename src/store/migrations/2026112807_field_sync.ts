import type { Kysely } from 'kysely';

/**
 * The last synced value of each mapped field per user: what the app and the CRM last agreed on.
 * The three-way merge of `both`-owned fields compares both sides against it. Written whenever a
 * CRM read shows the local value (see src/store/field-sync.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('field_sync')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('field', 'text', (c) => c.notNull())
    .addColumn('value', 'text')
    .addColumn('synced_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('field_sync_pk', ['user_id', 'field'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('field_sync').ifExists().execute();
}
