import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase, type Db } from '../../src/store/database.js';

/** A migrated store in a fresh SQLite file (a real file, as in production). */
export async function freshStore(): Promise<{ db: Db; url: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'crmsync-test-'));
  const url = `sqlite:${join(dir, 'crmsync.sqlite')}`;
  const db = openDatabase(url);
  await migrate(db);
  return { db, url, close: () => db.destroy() };
}
