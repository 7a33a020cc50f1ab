import { z } from 'zod';
import { SandboxError } from './errors.js';

/** Input shapes of the sandbox's HTTP API; anything else is a 400 that changes nothing. */
const fieldKey = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'field keys are letters, digits and _, starting with a letter');
const fields = z.record(fieldKey, z.string().max(10_000).nullable());
const tagName = z.string().trim().min(1, 'tag names cannot be empty').max(255);
const tagList = z.array(tagName).max(100);
const contactId = z.string().regex(/^\d{1,12}$/, 'contact ids are numeric');

export const contactIdParams = z.object({ id: contactId });

export const contactsQuery = z
  .object({
    ids: z.union([z.string(), z.array(z.string())]).optional(),
    email: z.string().min(1).max(320).optional(),
    // Listing (neither ids nor email): filters, then pages in ID order.
    tag: z.string().trim().min(1).max(255).optional(),
    updated_after: z.iso.datetime({ offset: true }).optional(),
    after: contactId.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(100),
  })
  .strict()
  .refine((q) => q.ids === undefined || q.email === undefined, 'give either ids or email, not both')
  .refine((q) => (q.ids === undefined && q.email === undefined) || (q.tag ?? q.updated_after ?? q.after) === undefined, 'tag, updated_after and after are for listing (without ids or email)');

export const upsertBody = z.object({ email: z.email().max(320), fields: fields.optional() }).strict();
export const patchBody = z.object({ fields }).strict();
export const tagsBody = z.object({ apply: tagList.optional(), remove: tagList.optional() }).strict();

export const staleBody = z
  .object({ contactId, reads: z.number().int().min(0).max(1000), version: z.number().int().min(1).optional() })
  .strict();

export const webhookControlsBody = z
  .object({
    hold: z.boolean().optional(),
    duplicate: z.number().int().min(1).max(20).optional(),
    delayMs: z.number().int().min(0).max(60_000).optional(),
    url: z.url({ protocol: /^https?$/ }).nullable().optional(),
    echoApiChanges: z.boolean().optional(),
  })
  .strict();

/** Parse or throw a 400 listing every problem. */
export function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
  throw new SandboxError('bad_request', `invalid ${what}: ${problems.join('; ')}`);
}

/** `?ids=1,2,3` or `?ids=1&ids=2`: deduplicated, at most 100. */
export function parseIds(ids: string | string[]): string[] {
  const list = [...new Set((Array.isArray(ids) ? ids : [ids]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))];
  if (list.length === 0) throw new SandboxError('bad_request', 'invalid query: ids is empty');
  if (list.length > 100) throw new SandboxError('bad_request', `invalid query: at most 100 ids per call (got ${list.length})`);
  return list;
}

export const refuseBody = z.object({ calls: z.number().int().min(0).max(1000).default(1) }).strict();
