import { z } from 'zod';
import { grantSource, resourceName } from '../domain/access.js';

/** Request and response shapes of the access API (grants and what they unlock). */
export { resourceName };

export const newGrant = z.object({
  resource: resourceName,
  source: grantSource,
  note: z.string().max(1000).refine((v) => !v.includes('\u0000'), 'notes cannot contain NUL characters').optional(),
}).strict();

export const grantKey = z.object({ resource: resourceName, source: grantSource }).strict();

export const grantView = z.object({
  id: z.number(),
  resource: z.string(),
  source: z.string(),
  /** `tag:NAME` for a tag rule's grant, else the source. */
  reason: z.string(),
  note: z.string().nullable(),
  grantedAt: z.string(),
});

export const accessList = z.object({
  userId: z.number(),
  resources: z.array(z.object({ resource: z.string(), grants: z.array(grantView) })),
});

export const accessCheck = z.object({ userId: z.number(), resource: z.string(), granted: z.boolean(), reasons: z.array(z.string()) });
