/**
 * A token bucket: `requests` calls per `perMs`, evenly spaced (the bucket holds one token, so
 * there are no bursts that a CRM counting per second would refuse). Every CRM call
 * takes a token first. A 429 pauses the whole bucket until the CRM's Retry-After has passed,
 * so no other call spends the CRM's patience meanwhile.
 */
export interface RateLimiter {
  take(): Promise<void>;
  pauseFor(ms: number): void;
}

export interface TokenBucketOptions {
  requests: number;
  perMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class TokenBucket implements RateLimiter {
  private tokens: number;
  private updatedAt: number;
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.requests > 0) || !(options.perMs > 0)) throw new Error('rate limit must be positive');
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.tokens = 1;
    this.updatedAt = this.now();
  }

  /** Callers are served in order; each waits for its token. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.waitForToken());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
    this.tokens = 0;
  }

  private refill(): void {
    const now = this.now();
    const rate = this.options.requests / this.options.perMs;
    this.tokens = Math.min(1, this.tokens + (now - this.updatedAt) * rate);
    this.updatedAt = now;
  }

  private async waitForToken(): Promise<void> {
    for (;;) {
      const pause = this.pausedUntil - this.now();
      if (pause > 0) {
        await this.sleep(pause);
        this.updatedAt = Math.max(this.updatedAt, this.now());
        continue;
      }
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const rate = this.options.requests / this.options.perMs;
      await this.sleep(Math.ceil((1 - this.tokens) / rate));
    }
  }
}

/**
 * Slots of a shared limit are spaced this much wider than the limit itself. Between its
 * reservation and the call, a slot drifts (the database round trip, a busy event loop, timers,
 * the network), differently on each instance; with slots exactly 1/rate apart, one late slot
 * followed by another instance's punctual ones puts limit + 1 calls into one of the CRM's
 * one-second windows (measured: 3 instances at 5/s, 6 seconds of 6 calls in 30 s). 10% wider
 * absorbs up to 100 ms of relative drift at 5/s.
 */
const SHARED_SLOT_SPACING = 1.1;

/**
 * A rate limit shared by several instances: call slots are reserved from a shared source (the
 * database, see `store/rate-limits.ts`) a few at a time — small slices, so the database is not
 * hit on every call and no instance hoards capacity — and spent locally, each at its time.
 */
export interface SlotSource {
  /** Reserves `count` consecutive slots; resolves with the wait (ms) until the first. */
  reserve(count: number, intervalMs: number): Promise<number>;
  /** No slot for anyone before `ms` from now (a 429's Retry-After). */
  pushBack(ms: number): Promise<void>;
}

export class SharedSlotLimiter implements RateLimiter {
  private slots: number[] = [];
  private queue: Promise<void> = Promise.resolve();
  private waiting = 0;
  private pause: Promise<void> = Promise.resolve();
  private readonly intervalMs: number;

  constructor(
    private readonly source: SlotSource,
    options: { requests: number; perMs: number; maxSlice?: number },
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
    private readonly now: () => number = Date.now,
  ) {
    // Whole milliseconds, rounded up: the database keeps slot times as integers (1000/3 failed there).
    this.intervalMs = Math.ceil((options.perMs / options.requests) * SHARED_SLOT_SPACING);
    this.maxSlice = options.maxSlice ?? Math.max(1, Math.min(5, Math.floor(options.requests / 2)));
  }

  private readonly maxSlice: number;

  take(): Promise<void> {
    this.waiting++;
    const turn = this.queue.then(() => this.nextSlot()).finally(() => this.waiting--);
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  pauseFor(ms: number): void {
    this.slots = [];
    this.pause = this.source.pushBack(ms).catch(() => undefined);
  }

  private async nextSlot(): Promise<void> {
    await this.pause;
    // A slot used late would crowd the next one (maybe another instance's): drop it instead.
    while (this.slots.length && this.slots[0]! < this.now() - this.intervalMs / 10) this.slots.shift();
    if (this.slots.length === 0) {
      const count = Math.min(this.maxSlice, Math.max(1, this.waiting));
      const wait = await this.source.reserve(count, this.intervalMs);
      const first = this.now() + wait;
      this.slots = Array.from({ length: count }, (_, i) => first + i * this.intervalMs);
    }
    const at = this.slots.shift()!;
    const wait = at - this.now();
    if (wait > 0) await this.sleep(wait);
  }
}
