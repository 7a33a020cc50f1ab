import type { Logger } from 'pino';
import type { Db } from '../store/database.js';
import { nextDueAt } from '../store/jobs.js';
import type { Reconciler } from './reconciler.js';

/**
 * Runs `workers` loops that keep claiming work from the queue. They sleep when nothing is due
 * (until the next due job, or `pollMs` at most) and wake at once when ingress signals new work.
 */
export class WorkerPool {
  private running = false;
  private loops: Promise<void>[] = [];
  private wakeUp: (() => void)[] = [];

  constructor(
    private readonly reconciler: Reconciler,
    private readonly options: { db: Db; workers: number; pollMs?: number; logger: Logger; now: () => number },
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    for (let i = 0; i < this.options.workers; i++) this.loops.push(this.loop());
  }

  wake(): void {
    const waiting = this.wakeUp;
    this.wakeUp = [];
    for (const resolve of waiting) resolve();
  }

  async stop(): Promise<void> {
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
