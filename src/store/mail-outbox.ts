import type { Db } from './database.js';

export type MailState = 'sent' | 'logged' | 'failed';

export interface OutboxMail {
  id: number;
  at: number;
  to: string;
  subject: string;
  text: string;
  state: MailState;
  error: string | null;
}

export async function insertMail(db: Db, mail: Omit<OutboxMail, 'id'>): Promise<number> {
  const row = await db
    .insertInto('mail_outbox')
    .values({ at: mail.at, to_address: mail.to, subject: mail.subject, text: mail.text, state: mail.state, error: mail.error })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export async function listMail(db: Db, limit: number): Promise<OutboxMail[]> {
  const rows = await db.selectFrom('mail_outbox').selectAll().orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({ id: Number(r.id), at: Number(r.at), to: r.to_address, subject: r.subject, text: r.text, state: r.state as MailState, error: r.error }));
}
