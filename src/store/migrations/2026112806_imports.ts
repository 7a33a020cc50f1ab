import { PostgresAdapter, type CreateTableBuilder, type Kysely } from 'kysely';

function withId<T extends string>(db: Kysely<unknown>, table: CreateTableBuilder<T, never>): CreateTableBuilder<T, 'id'> {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? table.addColumn('id', 'serial', (c) => c.primaryKey())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/**
 * `crmsync import`: each run (its options, where its listing stopped, its counts) and every user
 * it created or changed, with the values it replaced, so a run can be resumed and undone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withId(db, db.schema.createTable('imports'))
    .addColumn('crm', 'text', (c) => c.notNull())
    .addColumn('tag', 'text')
    .addColumn('update_existing', 'integer', (c) => c.notNull())
    .addColumn('role', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('cursor', 'text')
    .addColumn('total', 'integer')
    .addColumn('listed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('skipped', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('undone_at', 'bigint')
    .execute();

  // No foreign key to users: an undo deletes users and still needs these rows to report on.
  await db.schema
    .createTable('import_users')
    .addColumn('import_id', 'integer', (c) => c.notNull().references('imports.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('created', 'integer', (c) => c.notNull())
    .addColumn('before', 'text')
    .addColumn('after', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('import_users_pk', ['import_id', 'user_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('import_users').ifExists().execute();
  await db.schema.dropTable('imports').ifExists().execute();
}
