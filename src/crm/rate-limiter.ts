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
