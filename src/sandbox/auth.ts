import { createHash, timingSafeEqual } from 'node:crypto';

/** Whether an Authorization header carries `Bearer <apiKey>`, compared in constant time. */
export function bearerMatches(header: string | undefined, apiKey: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = createHash('sha256').update(match[1]).digest();
  const expected = createHash('sha256').update(apiKey).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
