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
    private readonly options: { db: Db; workers: number; pollMs?: number; logger: Logger; now: () => number; workerId: string; leaseMs: number; log: ActivityLog },
  ) {}

  private timer: NodeJS.Timeout | null = null;

  start(): void {
    if (this.running) return;
    this.running = true;
    for (let i = 0; i < this.options.workers; i++) this.loops.push(this.loop());
    this.timer = setInterval(() => void this.tend(), Math.max(250, Math.floor(this.options.leaseMs / 3)));
  }

  /** Heartbeat and takeover, every third of a lease. */
  private async tend(): Promise<void> {
    const { db, now, workerId, leaseMs, log, logger } = this.options;
    try {
      await renewLeases(db, workerId, now());
      const taken = await reclaimExpiredJobs(db, now() - leaseMs, now());
      if (taken.length) {
        await log.write({ level: 'notice', source: 'queue', message: `took over ${taken.length} job(s) whose worker stopped renewing its lease` });
        this.wake();
      }
    } catch (error) {
      logger.error({ err: error }, 'lease upkeep failed');
    }
  }

  wake(): void {
    const waiting = this.wakeUp;
    this.wakeUp = [];
    for (const resolve of waiting) resolve();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    while (this.running) {
      try {
        const { claimed } = await this.reconciler.runOnce();
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
