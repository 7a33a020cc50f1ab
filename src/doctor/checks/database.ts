import type { Config } from '../../config.js';
import { openDatabase, pendingMigrations, type Db } from '../../store/database.js';
import { fail, ok, type CheckResult } from '../types.js';

/** The database opens, answers a query, and has every migration of this build applied. */
export async function checkDatabase(config: Readonly<Config>): Promise<{ result: CheckResult; db: Db | null }> {
  const name = 'database';
  const where = config.databaseUrl.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:[redacted]@');
  let db: Db;
  try {
    db = openDatabase(config.databaseUrl);
  } catch (error) {
    return { result: fail(name, `cannot open ${where}: ${(error as Error).message}`, 'check CRMSYNC_DATABASE_URL: the directory must be writable (SQLite) or the server reachable with that user and password (PostgreSQL)'), db: null };
  }
  try {
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      return {
        result: fail(name, `${where} is reachable but ${pending.length} migration(s) have not run: ${pending.join(', ')}`, 'start `crmsync serve` once with this build: it applies migrations at start'),
        db,
      };
    }
    return { result: ok(name, `${where} is reachable and its migrations are current`), db };
  } catch (error) {
    await db.destroy().catch(() => undefined);
    return { result: fail(name, `cannot query ${where}: ${(error as Error).message}`, 'check CRMSYNC_DATABASE_URL, that the database server is running and that the user may connect'), db: null };
  }
}
