import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time check of a presented access key against the valid ones. Both sides are hashed
 * first so the comparison takes the same time whatever the lengths.
 */
export function accessKeyMatches(presented: string | null, valid: readonly string[]): boolean {
  if (!presented) return false;
  const digest = createHash('sha256').update(presented).digest();
  let ok = false;
  for (const key of valid) ok = timingSafeEqual(digest, createHash('sha256').update(key).digest()) || ok;
  return ok;
}
