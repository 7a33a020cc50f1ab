import type { WebhookAction } from '../domain/action.js';
import type { Db } from '../store/database.js';
import { inboxRow, insertInbox, insertInboxQuery, type InboxEntry } from '../store/inbox.js';
import { contactKey, enqueued, enqueueJobs, jobRow, mergeByKey, upsertJobsQuery, type JobRequest } from '../store/jobs.js';
import { insertLog, insertLogQuery, logRow, type LogEntry } from '../store/log.js';
import { writePrepared } from '../store/sqlite.js';
import { rowTemplate, type StatementTemplate } from '../store/statement-template.js';

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
  const inbox: InboxEntry[] = webhooks.flatMap((w) =>
    w.contactIds.map((contactId) => ({ receivedAt: w.receivedAt, action: w.action, contactId, jobKey: contactKey(contactId), request: w.request, sourceIp: w.sourceIp })),
  );
  const requests: JobRequest[] = webhooks.flatMap((w) =>
    w.contactIds.map((contactId) => ({ key: contactKey(contactId), action: w.action, contactId, userId: null, role: w.role, sendNotification: w.sendNotification, webhooks: 1, runAt: w.receivedAt })),
  );
  const now = Math.min(...webhooks.map((w) => w.receivedAt));
  // SQLite: the same queries, compiled once and run as prepared statements (the hottest path).
  const prepared = writePrepared(db, (writer) => {
    const t = templates(db);
    for (const e of inbox) writer.run(t.inbox, inboxRow(e));
    const byKey = mergeByKey(requests);
    const stored = new Map<string, { id: number; webhooks: number }>();
    for (const r of byKey.values()) {
      const row = writer.get<string, { id: number; webhooks: number }>(t.job, jobRow(r, now));
      stored.set(r.key, { id: Number(row.id), webhooks: Number(row.webhooks) });
    }
    const { results, log } = outcomes(webhooks, enqueued(requests, byKey, stored));
    for (const e of log) writer.run(t.log, logRow(e));
    return results;
  });
  if (prepared) return prepared;
  return db.transaction().execute(async (trx) => {
    await insertInbox(trx, inbox);
    const { results, log } = outcomes(webhooks, await enqueueJobs(trx, requests, now));
    await insertLog(trx, log);
    return results;
  });
}

const compiled = new WeakMap<Db, { inbox: StatementTemplate<string>; job: StatementTemplate<string>; log: StatementTemplate<string> }>();

function templates(db: Db) {
  let t = compiled.get(db);
  if (!t) {
    const at = 0;
    t = {
      inbox: rowTemplate(inboxRow({ receivedAt: at, action: 'update', contactId: '', jobKey: '', request: {}, sourceIp: null }), (row) => insertInboxQuery(db, [row])),
      job: rowTemplate(jobRow({ key: '', action: 'update', contactId: null, userId: null, role: null, sendNotification: false, webhooks: 0, runAt: at }, at), (row) =>
        upsertJobsQuery(db, [row]),
      ),
      log: rowTemplate(logRow({ at, level: 'http', source: '', message: '' }), (row) => insertLogQuery(db, [row])),
    };
    compiled.set(db, t);
  }
  return t;
}

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
      // One line per webhook, with its request: received (http), or a duplicate folded into the pending reconcile (notice).
      if (coalesced) log.push({ at, level: 'notice', source: 'webhook', contactId, message: `duplicate webhook for contact #${contactId} coalesced into its pending reconcile (${w.action})`, context: w.request });
      else log.push({ at, level: 'http', source: 'webhook', contactId, message: `webhook ${w.action} for contact #${contactId} received`, context: w.request });
      for (const notice of w.notices) log.push({ at, level: 'notice', source: 'webhook', contactId, message: notice });
    }
    results.push({ contacts });
  }
  return { results, log };
}
