import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * Access grants with provenance: who has which resource, and why (a tag rule, a purchase, an
 * admin). A revoked grant keeps its row (revoked_at) as history.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const id = db.getExecutor().adapter instanceof PostgresAdapter ? sql`id serial primary key` : sql`id integer primary key autoincrement`;
  await sql`create table grants (
    ${id},
    user_id integer not null references users(id) on delete cascade,
    resource text not null,
    source text not null,
    source_detail text not null,
    note text,
    created_at bigint not null,
    revoked_at bigint,
    revoked_reason text
  )`.execute(db);
  // One active grant per provenance; its prefix (user_id, resource) answers "is it granted?".
  await sql`create unique index grants_active on grants (user_id, resource, source, source_detail) where revoked_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists grants`.execute(db);
}
