import { z } from 'zod';

/** Query strings from our GET forms: empty fields mean "no filter", not an invalid value. */
export function withoutBlanks(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string' && v.trim() !== '') out[k] = v.trim();
  }
  return out;
}

/** A `datetime-local` value (read as UTC, as the page shows times) or an ISO timestamp, to epoch ms. */
export const instant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?$/, 'use YYYY-MM-DDTHH:MM (UTC)')
  .transform((s, c) => {
    const ms = Date.parse(s.endsWith('Z') ? s : `${s}Z`);
    if (Number.isNaN(ms)) {
      c.addIssue({ code: 'custom', message: 'not a valid time' });
      return z.NEVER;
    }
    return ms;
  });

/** A local time input's value for epoch ms (UTC). */
export const timeInputValue = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString().slice(0, 16));
