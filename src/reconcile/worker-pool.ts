import type { Logger } from 'pino';
import type { ActivityLog } from '../activity-log.js';
import type { Db } from '../store/database.js';
import { nextDueAt, reclaimExpiredJobs, renewLeases } from '../store/jobs.js';
import type { Reconciler } from './reconciler.js';

/**
 * Runs `workers` loops that keep claiming work from the queue. They sleep when nothing is due
 * (until the next due job, or `pollMs` at most) and wake at once when ingress signals new work.
 * A heartbeat renews the leases of this instance's running jobs, and expired leases of other
 * (crashed) instances are taken over.
 */
export class WorkerPool {
  private running = false;
  private loops: Promise<void>[] = [];
  private wakeUp: (() => void)[] = [];

  constructor(
    private readonly reconciler: Reconciler,
    private readonly options: {
      db: Db;
      workers: number;
      pollMs?: number;
      /**
       * With a CRM that loads contacts in batches, how long a worker lets a partial batch grow
       * before claiming it: during a flood, fewer and fuller loads (the CRM's rate limit is the
       * scarce resource, not these milliseconds). 0 with a CRM that loads one contact per call.
       */
      lingerMs?: number;
      logger: Logger;
      now: () => number;
      workerId: string;
      leaseMs: number;
      log: ActivityLog;
    },
  ) {}

  private timers: NodeJS.Timeout[] = [];
  private busy = new Set<string>();

  start(): void {
    if (this.running) return;
    this.running = true;
    for (let i = 0; i < this.options.workers; i++) this.loops.push(this.loop());
    // Every third of a lease, each on its own: a slow takeover never delays the heartbeat.
    const every = Math.max(250, Math.floor(this.options.leaseMs / 3));
    this.timers = [setInterval(() => void this.once('heartbeat', () => this.heartbeat()), every), setInterval(() => void this.once('takeover', () => this.takeOver()), every)];
  }

  private heartbeat(): Promise<void> {
    const { db, now, workerId } = this.options;
    return renewLeases(db, workerId, now());
  }

  private async takeOver(): Promise<void> {
    const { db, now, leaseMs, log } = this.options;
    const taken = await reclaimExpiredJobs(db, now() - leaseMs, now());
    if (taken.length) {
      await log.write({ level: 'notice', source: 'queue', message: `took over ${taken.length} job(s) whose worker stopped renewing its lease` });
      this.wake();
    }
  }

  /** Runs `task` unless its previous round is still going (slow rounds are not stacked). */
  private async once(name: string, task: () => Promise<void>): Promise<void> {
    if (this.busy.has(name)) return;
    this.busy.add(name);
    try {
      await task();
    } catch (error) {
      this.options.logger.error({ err: error }, `lease upkeep (${name}) failed`);
    } finally {
      this.busy.delete(name);
    }
  }

  wake(): void {
    const waiting = this.wakeUp;
    this.wakeUp = [];
    for (const resolve of waiting) resolve();
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    const linger = this.options.lingerMs ?? 0;
    let idle = false;
    while (this.running) {
      try {
        if (idle && linger > 0) await new Promise((r) => setTimeout(r, linger));
        const { claimed, full } = await this.reconciler.runOnce();
        // A partial batch means work trickles in: let the next one grow a little first.
        idle = claimed === 0 || !full;
        if (claimed > 0) continue;
        const due = await nextDueAt(this.options.db);
        const wait = due === null ? pollMs : Math.max(5, Math.min(pollMs, due - this.options.now()));
        await this.sleep(wait);
      } catch (error) {
        this.options.logger.error({ err: error }, 'worker loop error; retrying');
        await this.sleep(pollMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiter = () => done();
      this.wakeUp.push(waiter);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}
