import { sql } from 'kysely';
import type { Db } from './database.js';

export interface MinuteCounts {
  /** Start of the minute, epoch ms. */
  minute: number;
  received: number;
  /** Webhooks that repeated a contact already seen in that minute: merged into one reconcile. */
  coalesced: number;
  rejected: number;
}

/**
 * Webhooks per minute since `since`, from what the store keeps anyway: the inbox (every stored
 * webhook and the job key it joined) and the activity log (every refused webhook is an error
 * from the `webhook` source). Minutes without traffic are filled with zeros.
 */
export async function webhooksPerMinute(db: Db, since: number, until: number): Promise<MinuteCounts[]> {
  const inboxMinute = sql<number>`received_at / 60000`;
  const logMinute = sql<number>`at / 60000`;
  const [stored, refused] = await Promise.all([
    db
      .selectFrom('inbox')
      .select([inboxMinute.as('m'), (eb) => eb.fn.countAll<number>().as('n'), sql<number>`count(distinct job_key)`.as('keys')])
      .where('received_at', '>=', since)
      .groupBy(inboxMinute)
      .execute(),
    db
      .selectFrom('log')
      .select([logMinute.as('m'), (eb) => eb.fn.countAll<number>().as('n')])
      .where('at', '>=', since)
      .where('source', '=', 'webhook')
      .where('level', '=', 'error')
      .groupBy(logMinute)
      .execute(),
  ]);
  const first = Math.floor(since / 60000);
  const last = Math.floor(until / 60000);
  const out = new Map<number, MinuteCounts>();
  for (let m = first; m <= last; m++) out.set(m, { minute: m * 60000, received: 0, coalesced: 0, rejected: 0 });
  for (const r of stored) {
    const row = out.get(Number(r.m));
    if (row) Object.assign(row, { received: Number(r.n), coalesced: Number(r.n) - Number(r.keys) });
  }
  for (const r of refused) {
    const row = out.get(Number(r.m));
    if (row) row.rejected = Number(r.n);
  }
  return [...out.values()];
}

/** When the last webhook was stored, or null when none ever was (or all were pruned). */
export async function lastWebhookAt(db: Db): Promise<number | null> {
  const row = await db.selectFrom('inbox').select((eb) => eb.fn.max('received_at').as('at')).executeTakeFirst();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

export interface InboxRow {
  id: number;
  receivedAt: number;
  action: string;
  contactId: string;
  request: Record<string, unknown>;
  sourceIp: string | null;
}

/** The webhooks received for one contact, newest first. */
export async function listInboxForContact(db: Db, contactId: string, limit: number): Promise<InboxRow[]> {
  const rows = await db.selectFrom('inbox').selectAll().where('contact_id', '=', contactId).orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({
    id: Number(r.id),
    receivedAt: Number(r.received_at),
    action: r.action,
    contactId: r.contact_id,
    request: JSON.parse(r.request) as Record<string, unknown>,
    sourceIp: r.source_ip,
  }));
}
