import type { WebhookAction } from '../domain/action.js';
import type { Db } from '../store/database.js';
import { insertInbox } from '../store/inbox.js';
import { contactKey, enqueued, enqueueJobs, mergeByKey, SQLITE_ENQUEUE_JOB, type JobRequest } from '../store/jobs.js';
import { writeDurably } from '../store/sqlite-direct.js';
import { insertLog, type LogEntry } from '../store/log.js';

/** One accepted webhook, ready to be stored. */
export interface IncomingWebhook {
  action: WebhookAction;
  contactIds: string[];
  role: string | null;
  sendNotification: boolean;
  receivedAt: number;
  /** The request's shape, already redacted. */
  request: Record<string, unknown>;
  sourceIp: string | null;
  /** Notices decided at the edge (e.g. a refused role), stored with the webhook. */
  notices: string[];
}

export interface IngestResult {
  contacts: { contactId: string; coalesced: boolean }[];
}

/**
 * Stores a batch of webhooks in one transaction: each in the inbox, each contact's pending
 * reconcile created or coalesced, and the log lines. Nothing is acknowledged before this commits.
 */
export async function ingestWebhooks(db: Db, webhooks: readonly IncomingWebhook[]): Promise<IngestResult[]> {
  const inbox = webhooks.flatMap((w) =>
    w.contactIds.map((contactId) => ({ receivedAt: w.receivedAt, action: w.action, contactId, jobKey: contactKey(contactId), request: w.request, sourceIp: w.sourceIp })),
  );
  const requests: JobRequest[] = webhooks.flatMap((w) =>
    w.contactIds.map((contactId) => ({ key: contactKey(contactId), action: w.action, contactId, userId: null, role: w.role, sendNotification: w.sendNotification, webhooks: 1, runAt: w.receivedAt })),
  );
  const now = Math.min(...webhooks.map((w) => w.receivedAt));
  // SQLite: prepared statements on the connection itself, fsync off the event loop (see sqlite-direct.ts).
  const direct = await writeDurably(db, (w) => {
    const insertInbox = w.statement(SQLITE_INSERT_INBOX);
    for (const e of inbox) insertInbox.run(e.receivedAt, e.action, e.contactId, e.jobKey, JSON.stringify(e.request), e.sourceIp);
    const byKey = mergeByKey(requests);
    const upsert = w.statement(SQLITE_ENQUEUE_JOB);
    const stored = new Map<string, { id: number; webhooks: number }>();
    for (const r of byKey.values()) {
      const row = upsert.get(r.key, r.action, r.contactId, r.userId, r.role, r.sendNotification ? 1 : 0, r.runAt, r.webhooks, now, now, now) as { id: number; webhooks: number };
      stored.set(r.key, { id: Number(row.id), webhooks: Number(row.webhooks) });
    }
    const { results, log } = outcomes(webhooks, enqueued(requests, byKey, stored));
    const insertLog = w.statement(SQLITE_INSERT_LOG);
    for (const e of log) insertLog.run(e.at, e.level, e.userId ?? null, e.contactId ?? null, e.source, e.message, e.context ? JSON.stringify(e.context) : null);
    return results;
  });
  if (direct) return direct;
  return db.transaction().execute(async (trx) => {
    await insertInbox(trx, inbox);
    const { results, log } = outcomes(webhooks, await enqueueJobs(trx, requests, now));
    await insertLog(trx, log);
    return results;
  });
}

const SQLITE_INSERT_INBOX = 'insert into inbox (received_at, action, contact_id, job_key, request, source_ip) values (?, ?, ?, ?, ?, ?)';
const SQLITE_INSERT_LOG = 'insert into log (at, level, user_id, contact_id, source, message, context) values (?, ?, ?, ?, ?, ?, ?)';

/** Per webhook: its contacts and whether each was coalesced; and the log lines of the batch. */
function outcomes(webhooks: readonly IncomingWebhook[], enqueuedJobs: readonly { existed: boolean }[]): { results: IngestResult[]; log: (LogEntry & { at: number })[] } {
  const results: IngestResult[] = [];
  const log: (LogEntry & { at: number })[] = [];
  const seen = new Set<string>();
  let i = 0;
  for (const w of webhooks) {
    const contacts: IngestResult['contacts'] = [];
    for (const contactId of w.contactIds) {
      const key = contactKey(contactId);
      // A duplicate is one whose contact already had a pending job, or an earlier webhook in this batch.
      const coalesced = enqueuedJobs[i++]!.existed || seen.has(key);
      seen.add(key);
      contacts.push({ contactId, coalesced });
      const at = w.receivedAt;
      log.push({ at, level: 'http', source: 'webhook', contactId, message: `webhook ${w.action} for contact #${contactId} received`, context: w.request });
      if (coalesced) log.push({ at, level: 'notice', source: 'webhook', contactId, message: `duplicate webhook for contact #${contactId} coalesced into its pending reconcile` });
      for (const notice of w.notices) log.push({ at, level: 'notice', source: 'webhook', contactId, message: notice });
    }
    results.push({ contacts });
  }
  return { results, log };
}
