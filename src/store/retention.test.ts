import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshStore } from '../../test/support/store.js';
import type { Db } from './database.js';
import { countInbox, insertInbox } from './inbox.js';
import { insertLog, listLog } from './log.js';
import { pruneHistory } from './retention.js';

describe('retention', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeEach(async () => ({ db, close } = await freshStore()));
  afterEach(() => close());

  it('deletes only history older than the cut-off', async () => {
    const entry = (at: number) => ({ receivedAt: at, action: 'update', contactId: '1', jobKey: 'c:1', request: {}, sourceIp: null });
    await insertInbox(db, [entry(100), entry(200), entry(300)]);
    await insertLog(db, [100, 300].map((at) => ({ at, level: 'info' as const, source: 'test', message: `at ${at}` })));
    expect(await pruneHistory(db, 250)).toMatchObject({ inbox: 2, log: 1 });
    expect(await countInbox(db)).toBe(1);
    expect((await listLog(db, { limit: 10 })).map((e) => e.message)).toEqual(['at 300']);
  });
});
