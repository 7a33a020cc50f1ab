import type { Insertable } from 'kysely';
import type { Db } from './database.js';
import type { InboxTable } from './schema.js';

export interface InboxEntry {
  receivedAt: number;
  action: string;
  contactId: string;
  jobKey: string;
  /** The request's shape, secrets already redacted. */
  request: Record<string, unknown>;
  sourceIp: string | null;
}

export function inboxRow(e: InboxEntry): Insertable<InboxTable> {
  return {
    received_at: e.receivedAt,
    action: e.action,
    contact_id: e.contactId,
    job_key: e.jobKey,
    request: JSON.stringify(e.request),
    source_ip: e.sourceIp,
  };
}

export function insertInboxQuery(db: Db, rows: Insertable<InboxTable>[]) {
  return db.insertInto('inbox').values(rows);
}

export async function insertInbox(db: Db, entries: readonly InboxEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await insertInboxQuery(db, entries.map(inboxRow)).execute();
}

export async function countInbox(db: Db): Promise<number> {
  const row = await db.selectFrom('inbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}
