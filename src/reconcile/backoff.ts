/** Exponential backoff with a cap and jitter: attempt 0 waits ~1 s, then 2, 4, … up to 5 minutes. */
export function backoffMs(attempts: number, random: () => number = Math.random, baseMs = 1000, capMs = 300_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempts, 30));
  // "Equal jitter": at least half the ceiling, so retries never bunch at zero.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
