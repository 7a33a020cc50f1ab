/**
 * The sandbox's API rate limit, the way hosted CRMs count it: fixed one-second windows
 * (epoch seconds). Every call is counted; calls over the limit are refused with the number
 * of whole seconds until the window ends.
 */
export interface RateDecision {
  allowed: boolean;
  /** 0 = unlimited. */
  limit: number;
  remaining: number;
  /** Whole seconds until the current window ends, at least 1. */
  retryAfterSeconds: number;
}

export interface CallStats {
  calls: number;
  rateLimited: number;
  /** The most calls accepted in any one epoch second. */
  maxPerSecond: number;
  /** Accepted calls per epoch second (the last hour of them). */
  perSecond: Record<string, number>;
}

const keepSeconds = 3600;

export class RateWindow {
  private calls = 0;
  private rateLimited = 0;
  private maxPerSecond = 0;
  private perSecond = new Map<number, number>();
  /** Enforcement is kept apart from the stats, so a stats reset does not open the window. */
  private window = { second: 0, accepted: 0 };
  private forced = 0;

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(Number.isInteger(limit) && limit >= 0)) throw new Error('rateLimit must be a whole number ≥ 0');
  }

  hit(): RateDecision {
    const now = this.now();
    const second = Math.floor(now / 1000);
    if (this.window.second !== second) this.window = { second, accepted: 0 };
    const accepted = this.window.accepted;
    const forced = this.forced > 0;
    if (forced) this.forced--;
    const allowed = !forced && (this.limit === 0 || accepted < this.limit);
    this.calls++;
    if (allowed) {
      this.window.accepted++;
      if (!this.perSecond.has(second)) this.prune(second);
      const counted = (this.perSecond.get(second) ?? 0) + 1;
      this.perSecond.set(second, counted);
      this.maxPerSecond = Math.max(this.maxPerSecond, counted);
    } else {
      this.rateLimited++;
    }
    return {
      allowed,
      limit: this.limit,
      remaining: this.limit === 0 ? 0 : Math.max(0, this.limit - accepted - (allowed ? 1 : 0)),
      retryAfterSeconds: Math.max(1, Math.ceil(((second + 1) * 1000 - now) / 1000)),
    };
  }

  /** Refuse the next `calls` calls with 429, whatever the limit (a test control). */
  refuseNext(calls: number): void {
    if (!Number.isInteger(calls) || calls < 0) throw new RangeError('calls must be a whole number ≥ 0');
    this.forced = calls;
  }

  stats(): CallStats {
    return {
      calls: this.calls,
      rateLimited: this.rateLimited,
      maxPerSecond: this.maxPerSecond,
      perSecond: Object.fromEntries([...this.perSecond].map(([s, n]) => [String(s), n])),
    };
  }

  reset(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.maxPerSecond = 0;
    this.perSecond.clear();
  }

  private prune(second: number): void {
    for (const key of this.perSecond.keys()) if (key <= second - keepSeconds) this.perSecond.delete(key);
  }
}
