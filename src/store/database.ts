import { Kysely, Migrator, sql, PostgresAdapter, PostgresDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { openSqlite } from './sqlite.js';
import type { Database } from './schema.js';
import * as initial from './migrations/2026112801_initial.js';
import * as rateLimits from './migrations/2026112802_rate_limits.js';
import * as events from './migrations/2026112803_events.js';
import * as adminSessions from './migrations/2026112804_admin_sessions.js';
import * as grants from './migrations/2026112805_grants.js';
import * as imports from './migrations/2026112806_imports.js';
import * as fieldSync from './migrations/2026112807_field_sync.js';

export type Db = Kysely<Database>;
export type DialectName = 'sqlite' | 'postgres';

/** Migrations are listed here (not read from disk) so they ship inside the build. */
const migrations: Record<string, Migration> = {
  '2026112801_initial': initial,
  '2026112802_rate_limits': rateLimits,
  '2026112803_events': events,
  '2026112804_admin_sessions': adminSessions,
  '2026112805_grants': grants,
  '2026112806_imports': imports,
  '2026112807_field_sync': fieldSync,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

// Times and counts are BIGINT in PostgreSQL; they fit a JS number (ms since 1970, row counts).
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function dialectOf(db: Kysely<any>): DialectName {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * Opens the store named by its URL: `sqlite:PATH` (`sqlite::memory:` for tests), or
 * `postgres://…` / `postgresql://…`. The same migrations and queries run on both; the few
 * differences live in the store (see `dialectOf`).
 *
 * On both, a write is on disk before the promise of its query or transaction resolves (for
 * SQLite, see `sqlite.ts`).
 */
export function openDatabase(url: string): Db {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  if (!url.startsWith('sqlite:')) throw new Error(`unsupported database URL scheme: ${url.split(':')[0]}`);
  return openSqlite(url.slice('sqlite:'.length));
}

/** Migrations this build has that the database has not run yet (read-only: for `crmsync doctor`). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const schema =
    dialectOf(db) === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema : undefined;
  const migrator = new Migrator({ db, provider, ...(schema && { migrationTableSchema: schema }) });
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}

export async function migrate(db: Db): Promise<void> {
  // On PostgreSQL, keep Kysely's bookkeeping in our own schema (the search_path's first), or it
  // would find another schema's migration tables in a shared database and skip creating ours.
  const schema =
    dialectOf(db) === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema : undefined;
  const migrator = new Migrator({ db, provider, ...(schema && { migrationTableSchema: schema }) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${(error as Error | undefined)?.message ?? 'unknown error'}`);
  }
}
