import { migrate, openDatabase, type Db } from '../../src/store/database.js';
import { testDatabase } from './database.js';

/** A migrated store on the test dialect (a real SQLite file, or a fresh PostgreSQL schema). */
export async function freshStore(): Promise<{ db: Db; url: string; close(): Promise<void> }> {
  const { url, cleanup } = await testDatabase();
  const db = openDatabase(url);
  await migrate(db);
  return {
    db,
    url,
    async close() {
      await db.destroy();
      await cleanup();
    },
  };
}
