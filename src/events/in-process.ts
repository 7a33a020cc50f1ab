import type { ActivityLog } from '../activity-log.js';
import type { Db } from '../store/database.js';
import type { AttemptOutcome, ClaimedDelivery } from '../store/event-deliveries.js';
import { insertEndpoint, listEndpoints } from '../store/event-endpoints.js';
import { newSecret } from './standard-webhooks.js';
import type { EventData, EventType } from './types.js';

/**
 * Library mode's callbacks ride on the events outbox as one more endpoint, "in-process": an
 * event reaches them only if its change committed (it is written in that transaction), and
 * one committed while the host app was down is delivered when it starts again. Delivery is
 * at least once: `event.id` is the same on a repeat.
 */
export const IN_PROCESS_URL = 'crmsync:in-process';

export const isInProcess = (url: string) => url === IN_PROCESS_URL;

/** Callback names (the issue's) → outbox event types (the webhooks'). */
export const CALLBACK_EVENTS = {
  'user.created': 'user.created',
  'user.updated': 'user.updated',
  'tags.changed': 'user.tags_changed',
  'access.granted': 'access.granted',
  'access.revoked': 'access.revoked',
} as const satisfies Record<string, EventType>;

export type CallbackName = keyof typeof CALLBACK_EVENTS;
export type CallbackPayload<N extends CallbackName> = EventData[(typeof CALLBACK_EVENTS)[N]];
export interface CallbackEvent<N extends CallbackName = CallbackName> {
  /** The outbox's event id (`webhook-id`): the same if a delivery is repeated. */
  id: string;
  type: N;
  /** When the change committed (ISO 8601). */
  timestamp: string;
}
export type CallbackHandler<N extends CallbackName> = (data: CallbackPayload<N>, event: CallbackEvent<N>) => void | Promise<void>;

const NAME_OF = new Map<string, CallbackName>(Object.entries(CALLBACK_EVENTS).map(([name, type]) => [type, name as CallbackName]));

/** The in-process endpoint exists (all event types), so the outbox queues for it. */
export async function ensureInProcessEndpoint(db: Db, now: number): Promise<void> {
  const endpoints = await listEndpoints(db);
  if (endpoints.some((e) => isInProcess(e.url))) return;
  // The column needs a secret; nothing is signed for an in-process receiver.
  await insertEndpoint(db, { url: IN_PROCESS_URL, events: ['*'], secret: newSecret() }, now);
}

/** The host app's handlers, called with each delivery to the in-process endpoint. */
export class Callbacks {
  private readonly handlers = new Map<CallbackName, Set<CallbackHandler<CallbackName>>>();

  on<N extends CallbackName>(name: N, handler: CallbackHandler<N>): () => void {
    if (!Object.hasOwn(CALLBACK_EVENTS, name)) throw new TypeError(`unknown crmsync event "${String(name)}"; known: ${Object.keys(CALLBACK_EVENTS).join(', ')}`);
    if (typeof handler !== 'function') throw new TypeError(`the handler for "${name}" must be a function`);
    const set = this.handlers.get(name) ?? new Set();
    set.add(handler as CallbackHandler<CallbackName>);
    this.handlers.set(name, set);
    return () => void set.delete(handler as CallbackHandler<CallbackName>);
  }

  /**
   * Calls every handler of the event, one after the other. A handler that throws (or does not
   * settle within `timeoutMs`) is logged and not called again for this event: a host bug must
   * never hold up sync or make the other handlers run twice.
   */
  receive(delivery: ClaimedDelivery, log: ActivityLog, timeoutMs: number): Promise<AttemptOutcome> {
    // The deliverer sends a claimed batch at once, in commit order: callbacks run one event at a time, in that order.
    const turn = this.tail.then(() => this.call(delivery, log, timeoutMs));
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  private tail: Promise<unknown> = Promise.resolve();

  private async call(delivery: ClaimedDelivery, log: ActivityLog, timeoutMs: number): Promise<AttemptOutcome> {
    const name = NAME_OF.get(delivery.type);
    const body = JSON.parse(delivery.payload) as { type: EventType; timestamp: string; data: CallbackPayload<CallbackName> };
    const event: CallbackEvent = { id: delivery.eventId, type: name!, timestamp: body.timestamp };
    for (const handler of name ? [...(this.handlers.get(name) ?? [])] : []) {
      try {
        await settleWithin(Promise.resolve().then(() => handler(body.data, event)), timeoutMs);
      } catch (error) {
        const userId = (body.data as { userId?: number }).userId ?? null;
        await log.write({ level: 'error', source: 'events', userId, context: { eventId: delivery.eventId }, message: `the host app's ${name} callback failed for ${delivery.eventId}: ${(error as Error)?.message ?? String(error)}` });
      }
    }
    return { state: 'delivered', status: 200 };
  }
}

function settleWithin(work: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
