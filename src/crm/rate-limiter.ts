/**
 * Calls are spaced this much wider than the limit itself. Between its reservation and the
 * call, a slot drifts (the database round trip, a busy event loop, timers,
 * the network), differently on each instance; with slots exactly 1/rate apart, one late slot
 * followed by another instance's punctual ones puts limit + 1 calls into one of the CRM's
 * one-second windows (measured: 3 instances at 5/s, 6 seconds of 6 calls in 30 s). 10% wider
 * absorbs up to 100 ms of relative drift at 5/s.
 * A single instance's calls drift the same way under load (one 429 was seen at load 14).
 */
const SPACING = 1.1;

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

/**
 * A token bucket: `requests` calls per `perMs`, evenly spaced (the bucket holds one token, so
 * there are no bursts that a CRM counting per second would refuse). Every CRM call
 * takes a token first. A 429 pauses the whole bucket until the CRM's Retry-After has passed,
 * so no other call spends the CRM's patience meanwhile.
 */
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
    const rate = this.options.requests / (this.options.perMs * SPACING);
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
      const rate = this.options.requests / (this.options.perMs * SPACING);
      await this.sleep(Math.ceil((1 - this.tokens) / rate));
    }
  }
}


/**
 * A rate limit shared by several instances: call slots are reserved from a shared source (the
 * database, see `store/rate-limits.ts`) a few at a time — small slices, so the database is not
 * hit on every call and no instance hoards capacity — and spent locally, each at its time.
 */
export interface SlotSource {
  /** Reserves `count` consecutive slots; resolves with the first one and the source's clock then (ms, its clock). */
  reserve(count: number, intervalMs: number): Promise<{ first: number; now: number }>;
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
    this.intervalMs = Math.ceil((options.perMs / options.requests) * SPACING);
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

  private lastTripMs = 0;

  /** The source's clock minus ours, estimated from the fastest recent round trip (as NTP does). */
  private offset = { ms: 0, rttMs: Infinity, at: -Infinity };

  private learnOffset(sourceNow: number, sentAt: number, receivedAt: number): void {
    const rttMs = receivedAt - sentAt;
    if (rttMs <= this.offset.rttMs || receivedAt - this.offset.at > 60_000) this.offset = { ms: sourceNow - (sentAt + rttMs / 2), rttMs, at: receivedAt };
  }

  private async nextSlot(): Promise<void> {
    await this.pause;
    for (;;) {
      // Late by more than a fifth of the spacing, or than the last reservation's round trip: a
      // fresh slot is always late by that trip, and with slots closer together than the trip
      // (a fast limit, a slow store) dropping those re-reserved forever without making a call.
      const tolerance = Math.max(this.intervalMs / 5, this.lastTripMs);
      // A slot used late would crowd the next one (maybe another instance's): drop it instead.
      while (this.slots.length && this.slots[0]! < this.now() - tolerance) this.slots.shift();
      if (this.slots.length === 0) {
        const count = Math.min(this.maxSlice, Math.max(1, this.waiting));
        const sentAt = this.now();
        const { first, now } = await this.source.reserve(count, this.intervalMs);
        const receivedAt = this.now();
        this.lastTripMs = receivedAt - sentAt;
        this.learnOffset(now, sentAt, receivedAt);
        // The slots' own times on our clock. (Counting their wait from when the answer arrived
        // shifted them by a slow round trip — a busy pool, a busy event loop — onto the slots of
        // other instances: calls 5 ms apart at a 5/s CRM.) Late on arrival by more than the trip: dropped above.
        const start = first - this.offset.ms;
        this.slots = Array.from({ length: count }, (_, i) => start + i * this.intervalMs);
        continue;
      }
      const at = this.slots.shift()!;
      const wait = at - this.now();
      if (wait > 0) await this.sleep(wait);
      // Woken late (a busy event loop): the same rule, after the sleep.
      if (this.now() - at <= tolerance) return;
    }
  }
}
