import { hash, timingSafeEqual } from 'node:crypto';

const sha256 = (text: string) => hash('sha256', text, 'buffer') as Buffer;

/** Digests of the valid keys, remembered: they change only on rotation. */
const digests = new Map<string, Buffer>();

function digestOf(key: string): Buffer {
  let d = digests.get(key);
  if (!d) {
    if (digests.size > 64) digests.clear();
    digests.set(key, (d = sha256(key)));
  }
  return d;
}

/**
 * Constant-time check of a presented access key against the valid ones. Both sides are hashed
 * first so the comparison takes the same time whatever the lengths.
 */
export function accessKeyMatches(presented: string | null, valid: readonly string[]): boolean {
  if (!presented) return false;
  const digest = sha256(presented);
  let ok = false;
  for (const key of valid) ok = timingSafeEqual(digest, digestOf(key)) || ok;
  return ok;
}
