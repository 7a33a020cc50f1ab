import type { Selectable } from 'kysely';
import type { EventType } from '../events/types.js';
import { dialectOf, type Db } from './database.js';
import type { EventEndpointsTable } from './schema.js';

export interface EndpointSecret {
  secret: string;
  createdAt: number;
  /** Set when a newer secret replaced it: it keeps signing until then. */
  expiresAt: number | null;
}

export interface Endpoint {
  id: number;
  url: string;
  /** Newest first. */
  secrets: EndpointSecret[];
  events: (EventType | '*')[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export function toEndpoint(r: Selectable<EventEndpointsTable>): Endpoint {
  return {
    id: Number(r.id),
    url: r.url,
    secrets: JSON.parse(r.secrets) as EndpointSecret[],
    events: JSON.parse(r.events) as Endpoint['events'],
    enabled: Boolean(Number(r.enabled)),
    disabledReason: r.disabled_reason,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The secrets that sign a message sent at `now`, newest first. */
export function activeSecrets(endpoint: Pick<Endpoint, 'secrets'>, now: number): string[] {
  return endpoint.secrets.filter((s) => s.expiresAt === null || s.expiresAt > now).map((s) => s.secret);
}

export async function insertEndpoint(db: Db, input: { url: string; events: Endpoint['events']; secret: string }, now: number): Promise<Endpoint> {
  const row = await db
    .insertInto('event_endpoints')
    .values({
      url: input.url,
      secrets: JSON.stringify([{ secret: input.secret, createdAt: now, expiresAt: null } satisfies EndpointSecret]),
      events: JSON.stringify(input.events),
      enabled: 1,
      disabled_reason: null,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toEndpoint(row);
}

export async function listEndpoints(db: Db, options: { enabledOnly?: boolean } = {}): Promise<Endpoint[]> {
  let query = db.selectFrom('event_endpoints').selectAll().orderBy('id');
  if (options.enabledOnly) query = query.where('enabled', '=', 1);
  return (await query.execute()).map(toEndpoint);
}

export async function findEndpoint(db: Db, id: number): Promise<Endpoint | null> {
  const row = await db.selectFrom('event_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toEndpoint(row) : null;
}

export async function deleteEndpoint(db: Db, id: number): Promise<boolean> {
  const result = await db.deleteFrom('event_endpoints').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/**
 * Puts `secret` first; older secrets keep signing until `now + graceMs` (or their own earlier
 * expiry); expired ones are dropped. Returns null for an unknown endpoint.
 */
export async function rotateSecret(db: Db, id: number, secret: string, graceMs: number, now: number): Promise<Endpoint | null> {
  return db.transaction().execute(async (trx) => {
    let query = trx.selectFrom('event_endpoints').selectAll().where('id', '=', id);
    // Two rotations at once on PostgreSQL: the second waits and builds on the first.
    if (dialectOf(trx) === 'postgres') query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) return null;
    const until = now + graceMs;
    const older = toEndpoint(row)
      .secrets.map((s) => ({ ...s, expiresAt: s.expiresAt === null ? until : Math.min(s.expiresAt, until) }))
      .filter((s) => s.expiresAt > now);
    const secrets: EndpointSecret[] = [{ secret, createdAt: now, expiresAt: null }, ...older];
    const updated = await trx.updateTable('event_endpoints').set({ secrets: JSON.stringify(secrets), updated_at: now }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
    return toEndpoint(updated);
  });
}

export async function disableEndpoint(db: Db, id: number, reason: string, now: number): Promise<void> {
  await db.updateTable('event_endpoints').set({ enabled: 0, disabled_reason: reason, updated_at: now }).where('id', '=', id).execute();
}
