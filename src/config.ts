import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CRM_NAMES, crms, type CrmName } from './crm/registry.js';
import { FIELD_OWNERS, type FieldPolicies } from './domain/field-ownership.js';
import { tagRules, type TagRule } from './domain/access.js';

/**
 * The whole configuration, parsed once at start from `CRMSYNC_*` environment variables (and an
 * optional JSON file named by CRMSYNC_CONFIG for structured settings such as the field map).
 * Every bad variable is reported at once; the result is frozen.
 */
const csv = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s) => s.split(',').map((r) => r.trim()).filter(Boolean));

const int = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

const secret = z.string().min(16, 'must be at least 16 characters').optional();

const envSchema = z.object({
  PORT: int(8787, 0, 65535),
  HOST: z.string().min(1).default('127.0.0.1'),
  CRMSYNC_DATABASE_URL: z
    .string()
    .default('sqlite:./data/crmsync.sqlite')
    .refine((s) => /^(sqlite:|postgres(ql)?:\/\/)/.test(s), 'must be sqlite:PATH or postgres://USER@HOST:PORT/DATABASE'),
  CRMSYNC_ACCESS_KEY: secret,
  CRMSYNC_API_TOKEN: secret,
  CRMSYNC_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  CRMSYNC_CRM: z.enum(CRM_NAMES).default('sandbox'),
  CRMSYNC_CRM_URL: z.url({ protocol: /^https?$/ }).optional(),
  CRMSYNC_CRM_API_KEY: z.string().min(1).optional(),
  CRMSYNC_CRM_WEBHOOK_SECRET: z.string().min(1).optional(),
  CRMSYNC_CRM_RATE_LIMIT: z.coerce.number().positive().optional(),
  CRMSYNC_CRM_TIMEOUT_MS: int(15_000, 100, 300_000),
  CRMSYNC_SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  CRMSYNC_MAIL_FROM: z.string().min(3).default('crmsync <crmsync@localhost>'),
  CRMSYNC_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  CRMSYNC_ROLES: csv('subscriber,customer,member,editor,administrator'),
  CRMSYNC_DEFAULT_ROLE: z.string().min(1).default('subscriber'),
  CRMSYNC_PRIVILEGED_ROLES: csv('administrator'),
  CRMSYNC_WORKERS: int(4, 1, 64),
  CRMSYNC_MAX_ATTEMPTS: int(8, 1, 100),
  CRMSYNC_SETTLE_MS: int(60_000, 0, 3_600_000),
  CRMSYNC_LEASE_MS: int(30_000, 1000, 3_600_000),
  CRMSYNC_BODY_LIMIT: int(1_048_576, 1024, 16 * 1_048_576),
  CRMSYNC_RETENTION_DAYS: int(30, 1, 3650),
  CRMSYNC_ROTATION_GRACE_HOURS: int(24, 0, 720),
  CRMSYNC_EVENT_MAX_ATTEMPTS: int(15, 1, 100),
  CRMSYNC_EVENT_TIMEOUT_MS: int(15_000, 100, 300_000),
  CRMSYNC_SWEEP_INTERVAL: int(300, 0, 86_400),
  CRMSYNC_SWEEP_OVERLAP: int(120, 0, 86_400),
  CRMSYNC_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CRMSYNC_CONFIG: z.string().optional(),
});

/** A mapped field: `"PHONE"` (short form) or `{crm, owner, clearOnEmpty}` (see field-ownership.ts). */
// The short form is read as `{crm}` so that every problem is reported with its exact path.
const fieldSetting = z.preprocess(
  (v) => (typeof v === 'string' ? { crm: v } : v),
  z
    .object(
      {
        /** The CRM's field key; may be left out for a field the CRM adapter maps by default. */
        crm: z.string().min(1, 'must be the CRM field key').optional(),
        owner: z.enum(FIELD_OWNERS).default('both'),
        clearOnEmpty: z.boolean().default(false),
      },
      { error: (issue) => (issue.code === 'invalid_type' ? 'must be the CRM field key ("PHONE") or {"crm": "PHONE", "owner": "crm" | "app" | "both", "clearOnEmpty": false}' : undefined) },
    )
    .strict(),
);

const fileSchema = z
  .object({
    /** Extra field mappings: local field name → the CRM's field key, or the long form with its ownership. */
    fields: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'local field names are lowercase snake_case'), fieldSetting).default({}),
    /** Tag rules: a tag grants a resource (see src/domain/access.ts). */
    rules: tagRules,
  })
  .strict();

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  accessKey: string | null;
  apiToken: string | null;
  /** Signs in to the admin UI, besides the API token. */
  adminPassword: string | null;
  crm: { name: CrmName; url: string | null; apiKey: string | null; webhookSecret: string | null; rateLimit: number | null; timeoutMs: number };
  smtpUrl: string | null;
  mailFrom: string;
  publicUrl: string;
  roles: { roles: string[]; defaultRole: string; privileged: string[] };
  workers: number;
  maxAttempts: number;
  settleMs: number;
  leaseMs: number;
  bodyLimit: number;
  retentionDays: number;
  /** Events to the host application: attempts before a delivery is dead, timeout per request. */
  events: { maxAttempts: number; timeoutMs: number };
  /** How long a rotated access key or API token keeps working. */
  rotationGraceMs: number;
  logLevel: string;
  fields: Record<string, string>;
  /** Who wins per mapped field (from the long form in the config file); unlisted fields are `both`. */
  fieldPolicies: FieldPolicies;
  rules: TagRule[];
  /** The periodic sweep: seconds between sweeps (0 = off) and the overlap window, in ms. */
  sweep: { intervalMs: number; overlapMs: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, readFile = (path: string) => readFileSync(path, 'utf8')): Readonly<Config> {
  const problems: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  let fileFields: Record<string, string> = {};
  let fieldPolicies: FieldPolicies = {};
  let fileRules: TagRule[] = [];
  if (env.CRMSYNC_CONFIG) {
    try {
      const raw: unknown = JSON.parse(readFile(env.CRMSYNC_CONFIG));
      const file = fileSchema.safeParse(raw);
      for (const p of unmappedFields(raw, parsed.success ? parsed.data.CRMSYNC_CRM : null)) problems.push(`CRMSYNC_CONFIG (${env.CRMSYNC_CONFIG}) ${p}`);
      if (file.success) {
        ({ fields: fileFields, policies: fieldPolicies } = fieldSettings(file.data.fields));
        fileRules = file.data.rules;
      } else for (const issue of file.error.issues) problems.push(`CRMSYNC_CONFIG (${env.CRMSYNC_CONFIG}) ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    } catch (error) {
      problems.push(`CRMSYNC_CONFIG: cannot read ${env.CRMSYNC_CONFIG}: ${(error as Error).message}`);
    }
  }
  if (parsed.success) {
    const e = parsed.data;
    if (!e.CRMSYNC_ROLES.includes(e.CRMSYNC_DEFAULT_ROLE)) problems.push(`CRMSYNC_DEFAULT_ROLE: "${e.CRMSYNC_DEFAULT_ROLE}" is not one of CRMSYNC_ROLES`);
    if (e.CRMSYNC_PRIVILEGED_ROLES.includes(e.CRMSYNC_DEFAULT_ROLE)) problems.push('CRMSYNC_DEFAULT_ROLE: the default role cannot be privileged');
    if (e.CRMSYNC_CRM !== 'sandbox' && !e.CRMSYNC_CRM_URL && !crms[e.CRMSYNC_CRM].defaultUrl) problems.push(`CRMSYNC_CRM_URL: required for ${e.CRMSYNC_CRM}`);
    if (e.CRMSYNC_CRM !== 'sandbox' && !e.CRMSYNC_CRM_API_KEY) problems.push(`CRMSYNC_CRM_API_KEY: required for ${e.CRMSYNC_CRM}`);
  }
  if (problems.length || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.CRMSYNC_DATABASE_URL,
    accessKey: e.CRMSYNC_ACCESS_KEY ?? null,
    apiToken: e.CRMSYNC_API_TOKEN ?? null,
    adminPassword: e.CRMSYNC_ADMIN_PASSWORD ?? null,
    crm: {
      name: e.CRMSYNC_CRM,
      url: e.CRMSYNC_CRM_URL ?? crms[e.CRMSYNC_CRM].defaultUrl,
      apiKey: e.CRMSYNC_CRM_API_KEY ?? null,
      webhookSecret: e.CRMSYNC_CRM_WEBHOOK_SECRET ?? null,
      rateLimit: e.CRMSYNC_CRM_RATE_LIMIT ?? null,
      timeoutMs: e.CRMSYNC_CRM_TIMEOUT_MS,
    },
    smtpUrl: e.CRMSYNC_SMTP_URL ?? null,
    mailFrom: e.CRMSYNC_MAIL_FROM,
    publicUrl: (e.CRMSYNC_PUBLIC_URL ?? `http://${e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST}:${e.PORT}`).replace(/\/$/, ''),
    roles: { roles: e.CRMSYNC_ROLES, defaultRole: e.CRMSYNC_DEFAULT_ROLE, privileged: e.CRMSYNC_PRIVILEGED_ROLES },
    workers: e.CRMSYNC_WORKERS,
    maxAttempts: e.CRMSYNC_MAX_ATTEMPTS,
    settleMs: e.CRMSYNC_SETTLE_MS,
    leaseMs: e.CRMSYNC_LEASE_MS,
    bodyLimit: e.CRMSYNC_BODY_LIMIT,
    retentionDays: e.CRMSYNC_RETENTION_DAYS,
    events: { maxAttempts: e.CRMSYNC_EVENT_MAX_ATTEMPTS, timeoutMs: e.CRMSYNC_EVENT_TIMEOUT_MS },
    rotationGraceMs: e.CRMSYNC_ROTATION_GRACE_HOURS * 3_600_000,
    logLevel: e.CRMSYNC_LOG_LEVEL,
    fields: fileFields,
    fieldPolicies: Object.freeze(fieldPolicies),
    rules: fileRules,
    sweep: { intervalMs: e.CRMSYNC_SWEEP_INTERVAL * 1000, overlapMs: e.CRMSYNC_SWEEP_OVERLAP * 1000 },
  });
}

/** Splits the config file's fields into the field map and the ownership policies. */
function fieldSettings(settings: Record<string, z.infer<typeof fieldSetting>>): { fields: Record<string, string>; policies: FieldPolicies } {
  const fields: Record<string, string> = {};
  const policies: Record<string, FieldPolicies[string]> = {};
  for (const [name, setting] of Object.entries(settings)) {
    if (setting.crm) fields[name] = setting.crm;
    policies[name] = Object.freeze({ owner: setting.owner, clearOnEmpty: setting.clearOnEmpty });
  }
  return { fields, policies };
}

/** Long-form fields without a `crm` key that the CRM adapter does not map by default (checked on the raw file, so reported with every other problem). */
function unmappedFields(raw: unknown, crm: CrmName | null): string[] {
  const settings = (raw as { fields?: unknown } | null)?.fields;
  if (!crm || typeof settings !== 'object' || settings === null) return [];
  const standard = crms[crm].defaultFieldMap;
  return Object.entries(settings)
    .filter(([name, s]) => typeof s === 'object' && s !== null && !Array.isArray(s) && !('crm' in s) && !Object.prototype.hasOwnProperty.call(standard, name))
    .map(([name]) => `fields.${name}.crm: required (${name} is not one of the fields ${crm} maps by default: ${Object.keys(standard).join(', ')})`);
}
