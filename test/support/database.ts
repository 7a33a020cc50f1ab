import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * The database a test runs on. SQLite (a fresh file) by default; with
 * CRMSYNC_TEST_DIALECT=postgres, a fresh schema in the PostgreSQL at CRMSYNC_TEST_POSTGRES_URL,
 * dropped again by `cleanup`. `npm test` runs the suite once per dialect.
 */
export const testDialect = process.env.CRMSYNC_TEST_DIALECT === 'postgres' ? 'postgres' : 'sqlite';
export const postgresUrl = process.env.CRMSYNC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function testDatabase(): Promise<{ url: string; sqliteFile: string | null; cleanup(): Promise<void> }> {
  if (testDialect === 'sqlite') {
    const file = join(mkdtempSync(join(tmpdir(), 'crmsync-test-')), 'crmsync.sqlite');
    return { url: `sqlite:${file}`, sqliteFile: file, cleanup: async () => undefined };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    sqliteFile: null,
    async cleanup() {
      const c = new pg.Client({ connectionString: postgresUrl });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}
