import type { Logger } from 'pino';
import type { ActivityLog } from '../activity-log.js';
import type { Clock } from '../clock.js';
import { backoffMs } from '../reconcile/backoff.js';
import type { Db } from '../store/database.js';
import { claimDeliveries, finishAttempt, nextDeliveryDueAt, type AttemptOutcome, type ClaimedDelivery } from '../store/event-deliveries.js';
import { activeSecrets, disableEndpoint } from '../store/event-endpoints.js';
import { isInProcess } from './in-process.js';
import { signatureHeaders } from './standard-webhooks.js';

export interface DelivererOptions {
  db: Db;
  clock: Clock;
  log: ActivityLog;
  logger: Logger;
  workerId: string;
  /** Attempts before a delivery is dead. */
  maxAttempts: number;
  /** Per request. */
  timeoutMs: number;
  /** Deliveries sent at once. */
  concurrency?: number;
  /** How often to look for due work when nothing woke us. */
  pollMs?: number;
  /** Delay before retry number `attempts` (1 = after the first failure). */
  backoff?: (attempts: number) => number;
  /** Receives deliveries to the in-process endpoint (library mode's callbacks). */
  inProcess?: InProcessReceiver;
}

/** Handles one delivery to the in-process endpoint and says how it went. */
export type InProcessReceiver = (delivery: ClaimedDelivery) => Promise<AttemptOutcome>;

/** Retries spread over about a day: ~5 s, 10 s, 20 s, … capped at 6 h, with jitter. */
export const eventBackoff = (attempts: number) => backoffMs(attempts - 1, Math.random, 5_000, 6 * 3_600_000);

/** The abort reason of a request cut short by `stop()`. */
const STOPPED = new Error('crmsync is stopping');

const describeUrl = (url: string) => {
  if (isInProcess(url)) return url;
  const u = new URL(url);
  return `${u.origin}${u.pathname}`; // never the query: it may carry the receiver's own token
};

/**
 * Sends the outbox to the host application's endpoints: claims due deliveries, POSTs each
 * body signed per Standard Webhooks, and records the outcome — 2xx delivered; 410 Gone
 * disables the endpoint; anything else (3xx included: redirects are not followed, as the spec
 * advises) is retried with backoff, honouring `Retry-After`, until `maxAttempts`, then dead.
 * Every outcome is in the activity log (source `events`); secrets and signatures never are.
 */
export class Deliverer {
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly inFlight = new Set<AbortController>();

  constructor(private readonly options: DelivererOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops claiming; requests in flight are aborted and put back, due at once, uncounted. */
  async stop(): Promise<void> {
    this.running = false;
    for (const controller of this.inFlight) controller.abort(STOPPED);
    this.wake();
    await this.loopDone;
    this.loopDone = null;
  }

  wake(): void {
    this.wakeUp?.();
  }

  /** Claims and sends one batch of due deliveries; returns how many were claimed. */
  async runOnce(): Promise<number> {
    const { db, clock, workerId, timeoutMs } = this.options;
    const claimed = await claimDeliveries(db, { worker: workerId, now: clock.now(), limit: this.options.concurrency ?? 8, leaseMs: timeoutMs + 30_000 });
    await Promise.all(claimed.map((d) => this.deliver(d)));
    return claimed.length;
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollMs ?? 500;
    while (this.running) {
      try {
        if ((await this.runOnce()) > 0) continue;
        const due = await nextDeliveryDueAt(this.options.db);
        await this.sleep(due === null ? pollMs : Math.max(5, Math.min(pollMs, due - this.options.clock.now())));
      } catch (error) {
        this.options.logger.error({ err: error }, 'event delivery loop error; retrying');
        await this.sleep(pollMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wakeUp === done) self.wakeUp = null;
        resolve();
      }
    });
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const { clock, timeoutMs } = this.options;
    // Claimed while stopping (only a loop that is running sends): put back, untried.
    if (!this.running && this.loopDone) return this.record(delivery, { state: 'interrupted' });
    if (isInProcess(delivery.endpoint.url)) return this.record(delivery, await this.deliverInProcess(delivery));
    const sentAt = clock.now();
    const headers = signatureHeaders(activeSecrets(delivery.endpoint, sentAt), { id: delivery.eventId, timestamp: Math.floor(sentAt / 1000), body: delivery.payload });
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let outcome: AttemptOutcome;
    try {
      const response = await fetch(delivery.endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'crmsync-events', ...headers },
        body: delivery.payload,
        redirect: 'manual',
        signal: controller.signal,
      });
      await response.body?.cancel().catch(() => undefined);
      outcome = this.judge(delivery, response.status, response.headers.get('retry-after'));
    } catch (error) {
      if (controller.signal.reason === STOPPED) outcome = { state: 'interrupted' };
      else outcome = this.failure(delivery, null, describeError(controller.signal.aborted ? controller.signal.reason : error), null);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
    await this.record(delivery, outcome);
  }

  /** No receiver here (a plain service sharing the store): retried later, as if the endpoint were down. */
  private async deliverInProcess(delivery: ClaimedDelivery): Promise<AttemptOutcome> {
    if (this.options.inProcess) return this.options.inProcess(delivery);
    return this.failure(delivery, null, 'no in-process receiver runs in this instance (library mode callbacks)', null);
  }

  private judge(delivery: ClaimedDelivery, status: number, retryAfter: string | null): AttemptOutcome {
    if (status >= 200 && status < 300) return { state: 'delivered', status };
    if (status === 410) return { state: 'dead', status, error: 'HTTP 410 Gone: the endpoint asked to receive no more events' };
    return this.failure(delivery, status, `HTTP ${status}`, retryAfterMs(retryAfter));
  }

  private failure(delivery: ClaimedDelivery, status: number | null, error: string, retryAfter: number | null): AttemptOutcome {
    if (delivery.attempts >= this.options.maxAttempts) return { state: 'dead', status, error };
    const wait = retryAfter ?? (this.options.backoff ?? eventBackoff)(delivery.attempts);
    return { state: 'failed', status, error, retryAt: this.options.clock.now() + wait };
  }

  private async record(delivery: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    const { db, clock, log, workerId, maxAttempts } = this.options;
    const now = clock.now();
    const gone = outcome.state === 'dead' && outcome.status === 410;
    const kept = await db.transaction().execute(async (trx) => {
      const ok = await finishAttempt(trx, delivery, workerId, outcome, now);
      if (ok && gone) await disableEndpoint(trx, delivery.endpointId, `answered 410 Gone on ${new Date(now).toISOString()}`, now);
      return ok;
    });
    if (!kept || outcome.state === 'interrupted') return;
    const where = `${delivery.type} ${delivery.eventId} to endpoint #${delivery.endpointId} (${describeUrl(delivery.endpoint.url)})`;
    const entry = { source: 'events', userId: userIdOf(delivery), context: { deliveryId: delivery.id, endpointId: delivery.endpointId, eventId: delivery.eventId, attempt: delivery.attempts } };
    if (outcome.state === 'delivered') await log.write({ ...entry, level: 'info', message: `delivered ${where}: ${isInProcess(delivery.endpoint.url) ? 'callbacks called' : `HTTP ${outcome.status}`}` });
    else if (gone) {
      await log.write({ ...entry, level: 'warning', message: `endpoint #${delivery.endpointId} (${describeUrl(delivery.endpoint.url)}) answered 410 Gone to ${delivery.type} ${delivery.eventId}: endpoint disabled, no more events are sent there` });
    } else if (outcome.state === 'dead') {
      await log.write({ ...entry, level: 'error', message: `gave up on ${where} after ${delivery.attempts} attempts: ${outcome.error}` });
    } else {
      const wait = Math.max(0, outcome.retryAt - now);
      await log.write({ ...entry, level: 'warning', message: `${where} failed (attempt ${delivery.attempts} of ${maxAttempts}): ${outcome.error}; retrying in ${wait < 10_000 ? `${(wait / 1000).toFixed(1)} s` : `${Math.round(wait / 1000)} s`}` });
    }
  }
}

function retryAfterMs(value: string | null): number | null {
  if (!value) return null;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, 6 * 3_600_000) : null;
}

function describeError(error: unknown): string {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  const cause = err?.cause?.code ?? err?.cause?.message;
  return `${err?.message ?? String(error)}${cause && !String(err?.message).includes(cause) ? ` (${cause})` : ''}`;
}

function userIdOf(delivery: ClaimedDelivery): number | null {
  try {
    const userId = (JSON.parse(delivery.payload) as { data?: { userId?: unknown } }).data?.userId;
    return typeof userId === 'number' ? userId : null;
  } catch {
    return null;
  }
}
