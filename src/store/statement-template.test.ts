import { describe, expect, it } from 'vitest';
import { migrate, openDatabase } from './database.js';
import { jobRow, upsertJobsQuery } from './jobs.js';
import { rowTemplate, StatementTemplate } from './statement-template.js';

describe('StatementTemplate', () => {
  it('binds each named value where its marker landed, keeps constants, and repeats a name used twice', async () => {
    const db = openDatabase('sqlite::memory:');
    try {
      const t = new StatementTemplate<'key' | 'at'>((v) =>
        db.selectFrom('jobs').select('id').where('key', '=', v('key')).where('state', '=', 'pending').where('run_at', '<', v('at')).where('updated_at', '<', v('at')),
      );
      expect(t.sql).toContain('from "jobs"');
      expect(t.bind({ key: 'c:7', at: 42 })).toEqual(['c:7', 'pending', 42, 42]);
      expect(() => t.bind({ key: 'c:7' } as never)).toThrow('no value for at');
    } finally {
      await db.destroy();
    }
  });

  it('runs the same statement as the query it was built from', async () => {
    const db = openDatabase('sqlite::memory:');
    try {
      await migrate(db);
      const row = jobRow({ key: 'c:1', action: 'update', contactId: '1', userId: null, role: 'member', sendNotification: true, webhooks: 1, runAt: 5 }, 9);
      const t = rowTemplate(row, (marked) => upsertJobsQuery(db, [marked]));
      const built = upsertJobsQuery(db, [row]).compile();
      expect(t.sql).toBe(built.sql);
      expect(t.bind(row as Record<string, unknown>)).toEqual(built.parameters);
    } finally {
      await db.destroy();
    }
  });
});
