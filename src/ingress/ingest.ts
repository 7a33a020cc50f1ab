import type { WebhookAction } from '../domain/action.js';
import type { Db } from '../store/database.js';
import { insertInbox } from '../store/inbox.js';
import { contactKey, enqueueJobs } from '../store/jobs.js';
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
  return db.transaction().execute(async (trx) => {
    const results: IngestResult[] = [];
    const log: (LogEntry & { at: number })[] = [];
    await insertInbox(
      trx,
      webhooks.flatMap((w) =>
        w.contactIds.map((contactId) => ({ receivedAt: w.receivedAt, action: w.action, contactId, jobKey: contactKey(contactId), request: w.request, sourceIp: w.sourceIp })),
      ),
    );
    const requests = webhooks.flatMap((w) =>
      w.contactIds.map((contactId) => ({ key: contactKey(contactId), action: w.action, contactId, userId: null, role: w.role, sendNotification: w.sendNotification, webhooks: 1, runAt: w.receivedAt })),
    );
    const enqueued = await enqueueJobs(trx, requests, Math.min(...webhooks.map((w) => w.receivedAt)));
    const seen = new Set<string>();
    let i = 0;
    for (const w of webhooks) {
      const contacts: IngestResult['contacts'] = [];
      for (const contactId of w.contactIds) {
        const key = contactKey(contactId);
        // A duplicate is one whose contact already had a pending job, or an earlier webhook in this batch.
        const coalesced = enqueued[i++]!.existed || seen.has(key);
        seen.add(key);
        contacts.push({ contactId, coalesced });
        const at = w.receivedAt;
        log.push({ at, level: 'http', source: 'webhook', contactId, message: `webhook ${w.action} for contact #${contactId} received`, context: w.request });
        if (coalesced) log.push({ at, level: 'notice', source: 'webhook', contactId, message: `duplicate webhook for contact #${contactId} coalesced into its pending reconcile` });
        for (const notice of w.notices) log.push({ at, level: 'notice', source: 'webhook', contactId, message: notice });
      }
      results.push({ contacts });
    }
    await insertLog(trx, log);
    return results;
  });
}
