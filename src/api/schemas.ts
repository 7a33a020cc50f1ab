import { z } from 'zod';
import { EVENT_TYPES } from '../events/types.js';
import { LOG_LEVELS } from '../store/log.js';

/** Request and response shapes of the REST API: validation and the OpenAPI document use these. */
const fieldName = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'field names are lowercase snake_case');
// PostgreSQL refuses NUL in text: refuse it here with a clear 400 on every store alike.
const fieldValue = z.string().max(10_000).refine((v) => !v.includes('\u0000'), 'field values cannot contain NUL characters').nullable();
const tag = z.string().trim().min(1).max(255).refine((t) => !/[\u0000-\u001f]/.test(t), 'tags cannot contain control characters');
const contactId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@+:-]{0,127}$/);
/** Row ids are 32-bit in the store (`serial` on PostgreSQL): anything larger is no id of ours. */
const MAX_ID = 2_147_483_647;

export const email = z.email().max(254).transform((e) => e.toLowerCase());
export const userId = z.coerce.number().int().positive().max(MAX_ID);

export const userQuery = z.object({
  email: email.optional(),
  contact_id: contactId.optional(),
  tag: tag.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  after: z.coerce.number().int().min(0).max(MAX_ID).optional(),
}).strict();

export const newUser = z.object({
  email,
  role: z.string().optional(),
  fields: z.record(fieldName, fieldValue).default({}),
  tags: z.array(tag).max(500).default([]),
}).strict();

export const userPatch = z.object({
  fields: z.record(fieldName, fieldValue).optional(),
  role: z.string().optional(),
}).strict();

export const tagChange = z.object({
  apply: z.array(tag).max(500).default([]),
  remove: z.array(tag).max(500).default([]),
}).strict();

export const logQuery = z.object({
  level: z.enum(LOG_LEVELS).optional(),
  contact_id: contactId.optional(),
  user_id: userId.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().min(1).max(MAX_ID).optional(),
}).strict();

export const queueQuery = z.object({
  state: z.enum(['pending', 'running', 'dead']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
}).strict();

export const credentials = z.object({ email, password: z.string().min(1).max(1024) }).strict();

export const user = z.object({
  id: z.number(),
  email: z.string(),
  contactId: z.string().nullable(),
  role: z.string(),
  tags: z.array(z.string()),
  fields: z.record(z.string(), z.string().nullable()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

const eventType = z.enum(EVENT_TYPES);
export const newEndpoint = z.object({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  /** The event types to send there; all of them when omitted. */
  events: z.array(eventType).min(1).max(EVENT_TYPES.length).optional(),
}).strict();

export const secretRotation = z.object({
  /** How long the previous secrets keep signing alongside the new one (default one day). */
  graceSeconds: z.number().int().min(0).max(7 * 86_400).default(86_400),
}).strict();

export const deliveryQuery = z.object({
  state: z.enum(['pending', 'failed', 'delivered', 'dead']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().min(1).max(MAX_ID).optional(),
}).strict();

export const endpoint = z.object({
  id: z.number(),
  url: z.string(),
  events: z.array(z.string()),
  enabled: z.boolean(),
  disabledReason: z.string().nullable(),
  secrets: z.array(z.object({ createdAt: z.string(), expiresAt: z.string().nullable() })),
  createdAt: z.string(),
  /** Only in the answer that created the secret: shown once. */
  secret: z.string().optional(),
});

export const credentialKind = z.enum(['access-key', 'api-token']);

export const rotation = z.object({
  /** Override of CRMSYNC_ROTATION_GRACE_HOURS for this rotation (0 = the old value stops now). */
  graceHours: z.number().int().min(0).max(720).optional(),
}).strict();
