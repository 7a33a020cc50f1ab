import { PostgresAdapter, type CreateTableBuilder, type Kysely } from 'kysely';

function withId<T extends string>(db: Kysely<unknown>, table: CreateTableBuilder<T, never>): CreateTableBuilder<T, 'id'> {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? table.addColumn('id', 'serial', (c) => c.primaryKey())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/**
 * Events to the host application: the URLs it registered (with their signing secrets) and the
 * outbox of deliveries, one row per event and endpoint, written in the transaction of the
 * change that caused the event.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withId(db, db.schema.createTable('event_endpoints'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('secrets', 'text', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('disabled_reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await withId(db, db.schema.createTable('event_deliveries'))
    .addColumn('endpoint_id', 'integer', (c) => c.notNull().references('event_endpoints.id').onDelete('cascade'))
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('locked_by', 'text')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint')
    // An event is queued once per endpoint.
    .addUniqueConstraint('event_deliveries_once', ['endpoint_id', 'event_id'])
    .execute();
  await db.schema.createIndex('event_deliveries_due').on('event_deliveries').columns(['state', 'next_attempt_at']).execute();
  await db.schema.createIndex('event_deliveries_endpoint').on('event_deliveries').columns(['endpoint_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('event_deliveries').ifExists().execute();
  await db.schema.dropTable('event_endpoints').ifExists().execute();
}
