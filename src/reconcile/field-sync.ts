import type { FieldValues } from '../domain/contact.js';
import type { MergeResult } from '../domain/merge.js';
import type { Operation } from '../domain/operation.js';
import type { Engine } from '../engine.js';
import type { Db } from '../store/database.js';
import { saveSyncedFields } from '../store/field-sync.js';
import { enqueueJob, type Job } from '../store/jobs.js';
import type { LogEntry } from '../store/log.js';
import { recordOperation } from '../store/operations.js';

type Note = (level: LogEntry['level'], message: string, context?: Record<string, unknown>) => void;

/**
 * The field-ownership side of a reconcile pass, in its transaction: log what the policies
 * decided (conflicts, ignored CRM changes, values kept against an empty CRM value), remember the
 * values now equal on both sides, record the corrections the CRM should get, and queue the push
 * of those and of the `both`-owned changes held back for this read (see pushUser).
 */
export async function settleFields(
  engine: Engine,
  db: Db,
  job: Job,
  user: { id: number; contactId: string },
  result: MergeResult,
  operations: readonly Operation[],
  known: FieldValues,
  note: Note,
): Promise<void> {
  const now = engine.clock.now();
  for (const n of result.fieldNotes) note(n.level, n.message, n.context);
  await saveSyncedFields(db, user.id, result.synced, now, known);
  const corrections = Object.entries(result.corrections);
  for (const [name, value] of corrections) await recordOperation(db, { userId: user.id, kind: 'set_field', name, value }, now);
  const dropped = new Set([...result.confirmed, ...result.overridden].map((op) => op.id));
  const heldBack = operations.some((op) => op.kind === 'set_field' && op.state === 'pending' && !dropped.has(op.id));
  if (corrections.length || heldBack) {
    await enqueueJob(db, { key: job.key, action: 'push', contactId: user.contactId, userId: user.id, role: null, sendNotification: false, webhooks: 0, runAt: now }, now);
  }
}
