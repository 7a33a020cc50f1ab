import { PostgresAdapter, sql, type CreateTableBuilder, type Kysely } from 'kysely';

/** An auto-numbered primary key: `serial` on PostgreSQL, `integer … autoincrement` on SQLite. */
function withId<T extends string>(db: Kysely<unknown>, table: CreateTableBuilder<T, never>): CreateTableBuilder<T, 'id'> {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? table.addColumn('id', 'serial', (c) => c.primaryKey())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/** The initial schema. Written with portable types so it runs on SQLite and PostgreSQL. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();

  await withId(db, db.schema.createTable('users'))
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('contact_id', 'text', (c) => c.unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('fields', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('crm_state', 'text')
    .addColumn('password_hash', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('user_tags')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_tags_pk', ['user_id', 'tag'])
    .execute();
  await db.schema.createIndex('user_tags_tag').on('user_tags').column('tag').execute();

  await withId(db, db.schema.createTable('operations'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('acked_at', 'bigint')
    .addUniqueConstraint('operations_user_target', ['user_id', 'target'])
    .execute();

  await withId(db, db.schema.createTable('inbox'))
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('job_key', 'text', (c) => c.notNull())
    .addColumn('request', 'text', (c) => c.notNull())
    .addColumn('source_ip', 'text')
    .execute();
  await db.schema.createIndex('inbox_contact').on('inbox').columns(['contact_id', 'id']).execute();

  await withId(db, db.schema.createTable('jobs'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text')
    .addColumn('user_id', 'integer')
    .addColumn('role', 'text')
    .addColumn('send_notification', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('run_at', 'bigint', (c) => c.notNull())
    .addColumn('locked_by', 'text')
    .addColumn('locked_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('webhooks', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // The coalescing guarantee lives in the database: one pending and one running job per key.
  await sql`create unique index jobs_one_pending on jobs (key) where state = 'pending'`.execute(db);
  await sql`create unique index jobs_one_running on jobs (key) where state = 'running'`.execute(db);
  await db.schema.createIndex('jobs_due').on('jobs').columns(['state', 'run_at']).execute();

  await withId(db, db.schema.createTable('log'))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('level', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer')
    .addColumn('contact_id', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('context', 'text')
    .execute();
  await db.schema.createIndex('log_contact').on('log').columns(['contact_id', 'id']).execute();
  await db.schema.createIndex('log_level').on('log').columns(['level', 'id']).execute();

  await withId(db, db.schema.createTable('mail_outbox'))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .execute();

  await db.schema
    .createTable('password_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['password_tokens', 'mail_outbox', 'log', 'jobs', 'inbox', 'operations', 'user_tags', 'users', 'settings']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
