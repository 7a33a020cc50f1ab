import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDatabase, type SqliteDialectConfig } from 'kysely';
import { startCheckpointer } from './checkpointer.js';
import type { Db } from './database.js';
import type { Database } from './schema.js';
import type { StatementTemplate } from './statement-template.js';
import { WalSync, type Fsync } from './wal-sync.js';

/**
 * SQLite, the embedded default: one connection in WAL mode, readers never block the writer.
 *
 * Durability: every write is on disk before its caller goes on. SQLite's own way (synchronous=
 * FULL) fsyncs inside COMMIT, on the event loop, once per transaction. Instead the connection
 * runs at synchronous=NORMAL and, when a caller that wrote hands the connection back, the WAL
 * is fdatasync'ed on libuv's thread pool before that caller's promise resolves (`WalSync`:
 * one fsync serves every commit made while the previous one ran). Same guarantee as FULL; the
 * event loop serves requests during the fsync and the connection serves the next caller.
 * A transaction syncs at its commit instead (holding the connection for that fsync): Kysely
 * resolves a controlled transaction's commit (`startTransaction()`) before it hands the
 * connection back.
 *
 * Tried and measured, not kept (see issue 2's notes):
 * - this connection itself in a worker thread: every query became a round trip between
 *   threads, and under load the reconciler's many small queries held the connection for so
 *   long that webhook ingest fell to half its rate;
 * - a second connection in an ingest thread, given the webhooks as they are and taking turns
 *   with this one through an `Atomics` write token: the event loop was then half idle, but
 *   webhooks/s stayed where they were (5,500–8,900 against 6,100–7,800 here, same runs),
 *   because a webhook's answer then waits on the thread's commit and fsync in turn, and the
 *   50-connection load is bound by that latency rather than by the event loop.
 */
interface Handle {
  sqlite: SQLite.Database;
  statements: Map<string, SQLite.Statement>;
  wal: WalSync;
  /** Something was written since the connection was last handed back. */
  wrote: boolean;
}

const handles = new WeakMap<Db, Handle>();

/** `fsync` is replaceable for tests that need to hold or fail it. */
export function openSqlite(path: string, options: { fsync?: Fsync } = {}): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  const wal = path !== ':memory:' && String(sqlite.pragma('journal_mode = WAL', { simple: true })).toLowerCase() === 'wal';
  // Without a WAL file to sync ourselves (in memory, or a filesystem refusing WAL), SQLite syncs.
  sqlite.pragma(wal ? 'synchronous = NORMAL' : 'synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('cache_size = -65536');
  let walFd: number | null = null;
  const handle: Handle = {
    sqlite,
    statements: new Map(),
    // The WAL is never deleted while this connection is open (checkpoints truncate it in place).
    wal: new WalSync(() => (wal ? (walFd ??= openSync(`${path}-wal`, 'r')) : null), options.fsync),
    wrote: false,
  };
  let stopCheckpointer = () => undefined as void;
  if (wal) {
    // Checkpoints run in a worker thread (see checkpointer.ts); this is only the safety net.
    sqlite.pragma('wal_autocheckpoint = 20000');
    stopCheckpointer = startCheckpointer(path).stop;
  }
  const close = () => {
    stopCheckpointer();
    if (walFd !== null) closeSync(walFd);
    sqlite.close();
  };
  const db = new Kysely<Database>({ dialect: new DurableSqliteDialect(handle, { database: cachedStatements(handle, close) }) });
  handles.set(db, handle);
  return db;
}

class DurableSqliteDialect extends SqliteDialect {
  constructor(
    private readonly handle: Handle,
    private readonly driverConfig: SqliteDialectConfig,
  ) {
    super(driverConfig);
  }

  override createDriver(): Driver {
    const handle = this.handle;
    /** Takes the "something was written" flag: whoever took it true owes the WAL an fsync. */
    const takeWrites = () => {
      const wrote = handle.wrote;
      handle.wrote = false;
      return wrote;
    };
    return new (class extends SqliteDriver {
      override async commitTransaction(connection: DatabaseConnection): Promise<void> {
        await super.commitTransaction(connection);
        if (takeWrites()) await handle.wal.sync();
      }

      override async releaseConnection(): Promise<void> {
        const wrote = takeWrites();
        // The next caller gets the connection now; this one waits for its writes to reach the disk.
        await super.releaseConnection();
        if (wrote) await handle.wal.sync();
      }

      override async destroy(): Promise<void> {
        await handle.wal.sync().catch(() => undefined);
        await super.destroy();
      }
    })(this.driverConfig);
  }
}

/**
 * Kysely prepares every statement on every call; the hot paths repeat the same few SQL texts,
 * so prepared statements are kept (up to 500, oldest dropped first). Preparing is also where a
 * write is noticed: Kysely prepares each statement right before running it.
 */
function cachedStatements(handle: Handle, close: () => void): SqliteDatabase {
  return {
    close,
    prepare(text: string) {
      const statement = prepared(handle, text);
      if (!statement.readonly) handle.wrote = true;
      return statement;
    },
  };
}

function prepared(handle: Handle, text: string): SQLite.Statement {
  let statement = handle.statements.get(text);
  if (!statement) {
    statement = handle.sqlite.prepare(text);
    if (handle.statements.size >= 500) handle.statements.delete(handle.statements.keys().next().value!);
    handle.statements.set(text, statement);
  }
  return statement;
}

export interface PreparedWriter {
  /** Runs a template's statement with these values. */
  run<N extends string>(template: StatementTemplate<N>, values: Record<N, unknown>): void;
  /** Runs it and returns its first row (an upsert's `returning`). */
  get<N extends string, R>(template: StatementTemplate<N>, values: Record<N, unknown>): R;
}

/**
 * Runs `write` — prepared statements, no query building — as one transaction, durable when the
 * promise resolves: the webhook ingest path. Null when `db` is not a SQLite store opened here:
 * the caller uses Kysely. The connection is taken through Kysely's mutex, so no Kysely
 * transaction is open on it meanwhile.
 */
export function writePrepared<T>(db: Db, write: (writer: PreparedWriter) => T): Promise<T> | null {
  const handle = handles.get(db);
  if (!handle) return null;
  const writer: PreparedWriter = {
    run: (template, values) => void prepared(handle, template.sql).run(template.bind(values)),
    get: (template, values) => prepared(handle, template.sql).get(template.bind(values)) as never,
  };
  return db.connection().execute(async () => {
    const result = handle.sqlite.transaction(() => write(writer))();
    handle.wrote = true;
    return result;
  });
}
