import type { Logger } from 'pino';
import type { Engine } from '../engine.js';
import { changedContactLister, ListingUnsupportedError } from '../import/listing.js';
import { contactKey, enqueueJobs } from '../store/jobs.js';
import { getSweepCursor, releaseSweepLease, setSweepCursor, takeSweepLease } from '../store/sweeps.js';

export interface SweepOptions {
  /** Between sweeps; 0 = off. */
  intervalMs: number;
  /** How far before the last sweep's start the next one reads again (CRM clock skew, late indexing). */
  overlapMs: number;
  /** Contacts per listing call. */
  pageSize?: number;
}

export type SweepResult =
  | { ran: true; since: number; listed: number; queued: number }
  | { ran: false; reason: string };

const LEASE_MS = 10 * 60_000;

/**
 * Repairs missed webhooks (some CRMs never retry): every interval, lists the contacts the CRM
 * changed since the last sweep (minus an overlap) and queues an `update` for those with a local
 * user. The queue coalesces these with pending webhooks, so a contact is loaded once either way.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly options: SweepOptions,
    private readonly hooks: { wake: () => void; logger: Logger },
  ) {}

  /** Why the sweep does not run here, or null when it does. */
  get offReason(): string | null {
    if (this.options.intervalMs === 0) return 'CRMSYNC_SWEEP_INTERVAL is 0';
    try {
      changedContactLister(this.engine.crm);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  }

  async start(): Promise<void> {
    const off = this.offReason;
    if (off !== null) {
      if (this.options.intervalMs > 0) await this.engine.log.write({ level: 'notice', source: 'sweep', message: off });
      return;
    }
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((err) => this.hooks.logger.error({ err }, 'sweep failed'))
        .finally(() => (this.running = null));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One sweep (the timer calls it; tests call it with a controlled clock). */
  async runOnce(): Promise<SweepResult> {
    const { db, clock, crm, log, metrics, workerId } = this.engine;
    const off = this.offReason;
    if (off !== null) return { ran: false, reason: off };
    const list = changedContactLister(crm);
    const startedAt = clock.now();
    const cursor = await getSweepCursor(db);
    // Another instance swept moments ago: its cursor covers us.
    if (cursor !== null && startedAt - cursor < this.options.intervalMs / 2) return { ran: false, reason: 'swept recently (by this or another instance)' };
    if (!(await takeSweepLease(db, workerId, startedAt, startedAt + LEASE_MS))) return { ran: false, reason: 'another instance is sweeping' };
    const since = (cursor ?? startedAt - this.options.intervalMs) - this.options.overlapMs;
    let listed = 0;
    let queued = 0;
    try {
      let page: string | null = null;
      do {
        const result = await list({ since, cursor: page, limit: this.options.pageSize ?? crm.capabilities.listing!.pageSize });
        const ids = [...new Set([...result.contacts.map((c) => c.contactId), ...result.ids])];
        listed += ids.length;
        const local = ids.length ? await db.selectFrom('users').select(['id', 'contact_id']).where('contact_id', 'in', ids).execute() : [];
        const now = clock.now();
        await enqueueJobs(
          db,
          local.map((u) => ({ key: contactKey(u.contact_id!), action: 'update', contactId: u.contact_id, userId: Number(u.id), role: null, sendNotification: false, webhooks: 0, runAt: now })),
          now,
        );
        queued += local.length;
        page = result.nextCursor;
      } while (page !== null);
      await setSweepCursor(db, startedAt);
    } catch (error) {
      metrics.sweepRuns.inc({ outcome: 'failed' });
      const message = error instanceof ListingUnsupportedError || error instanceof Error ? error.message : String(error);
      await log.write({ level: 'warning', source: 'sweep', message: `sweep of changes since ${new Date(since).toISOString()} failed: ${message}; the next sweep reads from there again` });
      return { ran: false, reason: message };
    } finally {
      await releaseSweepLease(db, workerId);
    }
    metrics.sweepRuns.inc({ outcome: 'ok' });
    metrics.sweepContacts.inc({ outcome: 'queued' }, queued);
    metrics.sweepContacts.inc({ outcome: 'no_local_user' }, listed - queued);
    metrics.sweepLastRun.set(startedAt / 1000);
    await log.write({
      level: 'info',
      source: 'sweep',
      message: `sweep: ${listed} contact(s) changed in the CRM since ${new Date(since).toISOString()} (overlap ${Math.round(this.options.overlapMs / 1000)} s); ${queued} with a local user queued for update`,
      context: { since, listed, queued },
    });
    if (queued > 0) this.hooks.wake();
    return { ran: true, since, listed, queued };
  }
}
