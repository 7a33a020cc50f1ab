import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { BenchError } from './children.js';

/**
 * A fresh PostgreSQL database per measurement, created from template0 on the server of
 * CRMSYNC_BENCH_POSTGRES_URL and dropped (WITH (FORCE)) afterwards. Not a schema in a shared
 * database, as the tests do: Kysely's migrator looks for its `kysely_migration*` tables in every
 * schema of the database, so one other crmsync (or Kysely) schema there makes migrating a fresh
 * schema fail ("relation kysely_migration_lock does not exist"); a database of its own is also
 * what a deployment has. Databases are named `bench_<pid>_<random>`; one left behind by a bench
 * process that no longer runs (killed before its clean-up) is dropped at the next start.
 */
export const postgresUrl = process.env.CRMSYNC_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const shownPostgresUrl = postgresUrl.replace(/\/\/[^@/]*@/, '//…@');

export interface PostgresInfo {
  version: string;
  synchronousCommit: string;
  fsync: string;
  maxConnections: number;
}

export interface BenchPgDatabase {
  name: string;
  /** The database URL crmsync is given. */
  url: string;
  /** One value (first column of the first row) from a query run in the database. */
  scalar(sql: string): Promise<number>;
  /** Transactions committed in the database so far (pg_stat_database.xact_commit). */
  commits(): Promise<number>;
  drop(): Promise<void>;
}

const live = new Set<string>();

function urlOf(database: string): string {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(fn: (client: pg.Client) => Promise<T>, connectionString = postgresUrl): Promise<T> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000, statement_timeout: 60_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Null when PostgreSQL answers, else why not. */
export async function postgresUnavailable(): Promise<string | null> {
  try {
    await withClient((c) => c.query('select 1'));
    return null;
  } catch (error) {
    return `PostgreSQL is not reachable at ${shownPostgresUrl} (${(error as Error).message})`;
  }
}

export async function postgresInfo(): Promise<PostgresInfo> {
  return withClient(async (c) => {
    const get = async (name: string) => String((await c.query(`show ${name}`)).rows[0]?.[name] ?? '?');
    return {
      version: (await get('server_version')).split(' ')[0]!,
      synchronousCommit: await get('synchronous_commit'),
      fsync: await get('fsync'),
      maxConnections: Number(await get('max_connections')),
    };
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Drops `bench_<pid>_…` databases whose bench process is gone; returns their names. */
export async function dropStaleDatabases(): Promise<string[]> {
  return withClient(async (c) => {
    const { rows } = await c.query<{ datname: string }>(`select datname from pg_database where datname ~ '^bench_[0-9]+_[0-9a-f]+$'`);
    const stale = rows.map((r) => r.datname).filter((name) => !alive(Number(name.split('_')[1])));
    for (const name of stale) await c.query(`drop database if exists ${name} with (force)`);
    return stale;
  });
}

export async function createDatabase(): Promise<BenchPgDatabase> {
  const name = `bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  live.add(name);
  await withClient((c) => c.query(`create database ${name} template template0`));
  const url = urlOf(name);
  return {
    name,
    url,
    scalar: (sql) =>
      withClient(async (c) => {
        const { rows } = await c.query(sql);
        const value = rows[0] ? Object.values(rows[0] as Record<string, unknown>)[0] : undefined;
        if (value === undefined) throw new BenchError(`no value from: ${sql}`);
        return Number(value);
      }, url),
    commits: () =>
      withClient(async (c) => {
        // Statistics are flushed by each backend at its exit, at most a second late otherwise.
        await c.query('select pg_stat_clear_snapshot()');
        const { rows } = await c.query<{ n: string }>('select xact_commit as n from pg_stat_database where datname = $1', [name]);
        return Number(rows[0]?.n ?? NaN);
      }),
    async drop() {
      // FORCE: connections of a killed instance may not have been noticed by the server yet.
      await withClient((c) => c.query(`drop database if exists ${name} with (force)`));
      live.delete(name);
    },
  };
}

/** Drops every database this process created and has not dropped yet (on an early exit). */
export async function dropLiveDatabases(): Promise<void> {
  await withClient(async (c) => {
    for (const name of [...live]) {
      await c.query(`drop database if exists ${name} with (force)`);
      live.delete(name);
    }
  });
}
