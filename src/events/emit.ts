import { randomBytes } from 'node:crypto';
import type { FieldChange } from '../domain/merge.js';
import type { Db } from '../store/database.js';
import { enqueueDeliveries } from '../store/event-deliveries.js';
import type { AppEvent, ChangeSource } from './types.js';

/** A `webhook-id`: time-ordered, unique, without dots (the spec forbids them there). */
export function newEventId(now: number): string {
  return `evt_${now.toString(16).padStart(12, '0')}${randomBytes(10).toString('hex')}`;
}

/**
 * Records events in the outbox, in the transaction `db` of the change that caused them: they
 * are delivered if and only if the change commits. The body follows the Standard Webhooks
 * payload shape `{type, timestamp, data}` and is stored as sent, so every attempt sends (and
 * signs) the same bytes.
 */
export async function emitEvents(db: Db, events: readonly AppEvent[], now: number): Promise<void> {
  if (events.length === 0) return;
  const timestamp = new Date(now).toISOString();
  await enqueueDeliveries(
    db,
    events.map((e) => ({ eventId: newEventId(now), type: e.type, payload: JSON.stringify({ type: e.type, timestamp, data: e.data }) })),
    now,
  );
}

/** The events of a change to an existing user: tags_changed for a tag diff, updated for fields, role or e-mail. */
export function userChangeEvents(change: {
  userId: number;
  source: ChangeSource;
  added?: readonly string[];
  removed?: readonly string[];
  fields?: readonly FieldChange[];
  role?: { from: string; to: string } | null;
  email?: { from: string; to: string } | null;
}): AppEvent[] {
  const { userId, source } = change;
  const events: AppEvent[] = [];
  const added = [...(change.added ?? [])].sort();
  const removed = [...(change.removed ?? [])].sort();
  if (added.length || removed.length) events.push({ type: 'user.tags_changed', data: { userId, added, removed, source } });
  const fields = [...(change.fields ?? [])];
  if (fields.length || change.role || change.email) {
    events.push({ type: 'user.updated', data: { userId, fields, role: change.role ?? null, email: change.email ?? null, source } });
  }
  return events;
}
