import { sql, type Selectable } from 'kysely';
import type { EventType } from '../events/types.js';
import { dialectOf, type Db } from './database.js';
import { listEndpoints, toEndpoint, type Endpoint } from './event-endpoints.js';
import type { EventDeliveriesTable } from './schema.js';

/**
 * The outbox of events to the host application: one row per event and endpoint.
 *
 *   pending ──claim──▶ (in flight: next_attempt_at = claim expiry) ──2xx──▶ delivered
 *      ▲                              │──failure──▶ failed (due again after a backoff) ──claim──▶ …
 *      └── claim expired (crash) ─────┘──410, or the last attempt failed──▶ dead
 *
 * A claim counts the attempt and moves `next_attempt_at` past the request's timeout, so a
 * delivery whose instance died mid-request becomes due again by itself; every later write is
 * guarded by the claim (worker and attempt), so a stale one changes nothing.
 */
export type DeliveryState = 'pending' | 'failed' | 'delivered' | 'dead';
const OPEN = ['pending', 'failed'] as const;

export interface Delivery {
  id: number;
  endpointId: number;
  eventId: string;
  type: EventType;
  /** The JSON body exactly as sent. */
  payload: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
}

export interface NewEvent {
  eventId: string;
  type: EventType;
  payload: string;
}

function toDelivery(r: Selectable<EventDeliveriesTable>): Delivery {
  return {
    id: Number(r.id),
    endpointId: Number(r.endpoint_id),
    eventId: r.event_id,
    type: r.type as EventType,
    payload: r.payload,
    state: r.state as DeliveryState,
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
  };
}

/** Queues each event for every enabled endpoint that wants its type (in the caller's transaction). */
export async function enqueueDeliveries(db: Db, events: readonly NewEvent[], now: number): Promise<number> {
  if (events.length === 0) return 0;
  const endpoints = await listEndpoints(db, { enabledOnly: true });
  const rows = events.flatMap((e) =>
    endpoints
      .filter((ep) => ep.events.includes('*') || ep.events.includes(e.type))
      .map((ep) => ({
        endpoint_id: ep.id,
        event_id: e.eventId,
        type: e.type,
        payload: e.payload,
        state: 'pending',
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })),
  );
  if (rows.length) await db.insertInto('event_deliveries').values(rows).execute();
  return rows.length;
}

export interface ClaimedDelivery extends Delivery {
  endpoint: Endpoint;
}

/**
 * Claims up to `limit` due deliveries of enabled endpoints for `worker` until `now + leaseMs`,
 * counting the attempt. On PostgreSQL, instances claim concurrently with FOR UPDATE SKIP LOCKED.
 */
export async function claimDeliveries(db: Db, options: { worker: string; now: number; limit: number; leaseMs: number }): Promise<ClaimedDelivery[]> {
  const { worker, now, limit, leaseMs } = options;
  return db.transaction().execute(async (trx) => {
    let query = trx
      .selectFrom('event_deliveries')
      .select('id')
      .where('state', 'in', OPEN)
      .where('next_attempt_at', '<=', now)
      .where('endpoint_id', 'in', (eb) => eb.selectFrom('event_endpoints').select('id').where('enabled', '=', 1))
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit);
    if (dialectOf(trx) === 'postgres') query = query.forUpdate().skipLocked();
    const ids = (await query.execute()).map((r) => Number(r.id));
    if (ids.length === 0) return [];
    const rows = await trx
      .updateTable('event_deliveries')
      .set({ attempts: sql`attempts + 1`, next_attempt_at: now + leaseMs, locked_by: worker, updated_at: now })
      .where('id', 'in', ids)
      .where('state', 'in', OPEN)
      .returningAll()
      .execute();
    const endpointIds = [...new Set(rows.map((r) => Number(r.endpoint_id)))];
    const endpoints = new Map((await trx.selectFrom('event_endpoints').selectAll().where('id', 'in', endpointIds).execute()).map((r) => [Number(r.id), toEndpoint(r)]));
    return rows.map(toDelivery).sort((a, b) => a.id - b.id).map((d) => ({ ...d, endpoint: endpoints.get(d.endpointId)! }));
  });
}

export type AttemptOutcome =
  | { state: 'delivered'; status: number }
  | { state: 'failed'; status: number | null; error: string; retryAt: number }
  | { state: 'dead'; status: number | null; error: string }
  /** Stopped mid-request (shutdown): due again at once, the attempt not counted. */
  | { state: 'interrupted' };

/** Records the outcome of a claimed attempt; false (nothing changed) if the claim was lost. */
export async function finishAttempt(db: Db, claimed: Delivery, worker: string, outcome: AttemptOutcome, now: number): Promise<boolean> {
  const base = db
    .updateTable('event_deliveries')
    .where('id', '=', claimed.id)
    .where('attempts', '=', claimed.attempts)
    .where('locked_by', '=', worker)
    .where('state', 'in', OPEN);
  const result =
    outcome.state === 'interrupted'
      ? await base.set({ attempts: claimed.attempts - 1, next_attempt_at: now, locked_by: null, updated_at: now }).executeTakeFirst()
      : await base
          .set({
            state: outcome.state,
            locked_by: null,
            last_status: outcome.status,
            last_error: outcome.state === 'delivered' ? null : outcome.error,
            next_attempt_at: outcome.state === 'failed' ? outcome.retryAt : now,
            delivered_at: outcome.state === 'delivered' ? now : null,
            updated_at: now,
          })
          .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function listDeliveries(db: Db, endpointId: number, options: { state?: DeliveryState; limit: number; beforeId?: number }): Promise<Delivery[]> {
  let query = db.selectFrom('event_deliveries').selectAll().where('endpoint_id', '=', endpointId).orderBy('id', 'desc').limit(options.limit);
  if (options.state) query = query.where('state', '=', options.state);
  if (options.beforeId) query = query.where('id', '<', options.beforeId);
  return (await query.execute()).map(toDelivery);
}

/** When the next open delivery of an enabled endpoint is due (or its claim expires); null if none. */
export async function nextDeliveryDueAt(db: Db): Promise<number | null> {
  const row = await db
    .selectFrom('event_deliveries')
    .select((eb) => eb.fn.min('next_attempt_at').as('at'))
    .where('state', 'in', OPEN)
    .where('endpoint_id', 'in', (eb) => eb.selectFrom('event_endpoints').select('id').where('enabled', '=', 1))
    .executeTakeFirst();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}
