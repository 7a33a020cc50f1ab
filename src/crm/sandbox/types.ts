import { z } from 'zod';

/**
 * The sandbox CRM's raw shapes, as its HTTP API sends them (see src/sandbox/README.md).
 * Checked at the boundary so a surprising answer is a clear error, not a crash later.
 */
export const rawContactSchema = z.object({
  id: z.string(),
  email: z.string(),
  fields: z.record(z.string(), z.string().nullable()),
  tags: z.array(z.string()),
  version: z.number(),
  updatedAt: z.string(),
});
export type RawContact = z.infer<typeof rawContactSchema>;

export const contactResponseSchema = z.object({ contact: rawContactSchema });
export const contactsResponseSchema = z.object({ contacts: z.array(rawContactSchema) });
export const contactPageSchema = z.object({ contacts: z.array(rawContactSchema), total: z.number(), next: z.string().nullable() });
export const tagsResponseSchema = z.object({ tags: z.array(z.string()) });
export const fieldsResponseSchema = z.object({ fields: z.array(z.object({ id: z.string(), name: z.string() })) });

/** What `POST /api/contacts` and `PATCH /api/contacts/:id` take. */
export interface RawContactWrite {
  email?: string;
  fields: Record<string, string | null>;
}

/** The sandbox's webhook, form-encoded like ActiveCampaign's (see fixtures/). */
export interface RawWebhookForm {
  type?: string;
  'contact[id]'?: string | string[];
  'contact[email]'?: string;
  'contact[tags]'?: string;
}
