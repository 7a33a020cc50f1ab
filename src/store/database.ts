import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './schema.js';
import * as initial from './migrations/2026112801_initial.js';

export type Db = Kysely<Database>;

/** Migrations are listed here (not read from disk) so they ship inside the build. */
const migrations: Record<string, Migration> = {
  '2026112801_initial': initial,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Opens the store named by a `sqlite:PATH` URL (`sqlite::memory:` for tests).
 * WAL with synchronous=FULL: a committed transaction is on disk before we acknowledge it,
 * and readers do not block the writer.
 */
export function openDatabase(url: string): Db {
  if (!url.startsWith('sqlite:')) throw new Error(`unsupported database URL scheme: ${url.split(':')[0]}`);
  const path = url.slice('sqlite:'.length);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${(error as Error | undefined)?.message ?? 'unknown error'}`);
  }
}
