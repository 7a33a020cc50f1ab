import { closeSync, fdatasync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import type SQLite from 'better-sqlite3';
import { SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';
import type { Db } from './database.js';

const fdatasyncAsync = promisify(fdatasync);

/**
 * Durable commits without the fsync on the event loop, and direct statements for the one hot
 * path (webhook ingest). Under load, SQLite's synchronous=FULL commit — an fsync of the WAL, a
 * few ms each, blocking the event loop — and Kysely's per-call query building were most of
 * the service's time; requests waited behind them.
 *
 * A commit here runs with synchronous=NORMAL (its WAL frames are written, not synced), then
 * the WAL file is fdatasync'ed on libuv's thread pool before the commit resolves. A sync of
 * the file covers every frame written before it, so when the caller goes on (and acknowledges)
 * the transaction is on disk — the guarantee of synchronous=FULL — while the event loop keeps
 * serving requests. Statements outside a transaction keep synchronous=FULL.
 */
export interface SqliteConnection {
  raw: SQLite.Database;
  /** The WAL file (null for `:memory:`), opened on first use. */
  walPath: string | null;
  walFd: number | null;
  /** synchronous=NORMAL for the open transaction: its commit must be synced by us. */
  relaxed: boolean;
  statements: Map<string, SQLite.Statement>;
  /** Closes the WAL descriptor; call before closing `raw`. */
  release(): void;
}

const connections = new WeakMap<Db, SqliteConnection>();

export function sqliteConnection(raw: SQLite.Database, path: string): SqliteConnection {
  const conn: SqliteConnection = {
    raw,
    walPath: path === ':memory:' ? null : `${path}-wal`,
    walFd: null,
    relaxed: false,
    statements: new Map(),
    release() {
      if (conn.walFd !== null) closeSync(conn.walFd);
      conn.walFd = null;
      conn.walPath = null;
    },
  };
  return conn;
}

/** Kysely's SQLite dialect, with every transaction's commit made durable off the event loop. */
export function durableSqliteDialect(conn: SqliteConnection, config: SqliteDialectConfig): SqliteDialect {
  return new (class extends SqliteDialect {
    override createDriver(): Driver {
      return new (class extends SqliteDriver {
        override async beginTransaction(connection: DatabaseConnection): Promise<void> {
          relaxSync(conn);
          try {
            await super.beginTransaction(connection);
          } catch (error) {
            restoreSync(conn);
            throw error;
          }
        }
        override async commitTransaction(connection: DatabaseConnection): Promise<void> {
          await super.commitTransaction(connection);
          // The connection stays ours until the sync is done: nobody reads what is not on disk yet.
          await syncCommitted(conn);
        }
        override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
          await super.rollbackTransaction(connection);
          restoreSync(conn);
        }
      })(config);
    }
  })(config);
}

/** Lets `writeDurably` find the connection behind `db` (called by `openDatabase`). */
export function bindSqliteConnection(db: Db, conn: SqliteConnection): void {
  connections.set(db, conn);
}

export interface DirectWriter {
  /** A prepared statement, prepared once per text. */
  statement(text: string): SQLite.Statement;
}

/**
 * Runs `write` — synchronous better-sqlite3 statements, no Kysely query building — as one
 * transaction and resolves once it is on disk (see above). The connection is taken through
 * Kysely, so no Kysely transaction is open on it meanwhile.
 *
 * Returns null when `db` is not a SQLite store opened by `openDatabase` (the caller uses Kysely).
 */
export async function writeDurably<T>(db: Db, write: (w: DirectWriter) => T): Promise<T | null> {
  const conn = connections.get(db);
  if (!conn) return null;
  const writer: DirectWriter = {
    statement(text) {
      let s = conn.statements.get(text);
      if (!s) conn.statements.set(text, (s = conn.raw.prepare(text)));
      return s;
    },
  };
  return db.connection().execute(async () => {
    relaxSync(conn);
    let result!: T;
    try {
      result = conn.raw.transaction(() => write(writer))();
    } catch (error) {
      restoreSync(conn);
      throw error;
    }
    await syncCommitted(conn);
    return result;
  });
}

/** Before a transaction begins (the level cannot change inside one): commit without fsync. */
function relaxSync(conn: SqliteConnection): void {
  if (walFd(conn) === null) return;
  conn.raw.pragma('synchronous = NORMAL');
  conn.relaxed = true;
}

function restoreSync(conn: SqliteConnection): void {
  if (!conn.relaxed) return;
  conn.raw.pragma('synchronous = FULL');
  conn.relaxed = false;
}

/** After the commit: back to FULL for statements outside transactions, then the WAL to disk. */
async function syncCommitted(conn: SqliteConnection): Promise<void> {
  if (!conn.relaxed) return;
  restoreSync(conn);
  await fdatasyncAsync(conn.walFd!);
}

/**
 * The WAL file's descriptor, or null (in memory, or no WAL yet: then commits stay FULL). The
 * WAL is never deleted while our connection is open (only truncated or rewritten in place),
 * so one descriptor stays valid for the connection's life.
 */
function walFd(conn: SqliteConnection): number | null {
  if (conn.walFd !== null || conn.walPath === null) return conn.walFd;
  try {
    conn.walFd = openSync(conn.walPath, 'r');
  } catch {
    return null;
  }
  return conn.walFd;
}
