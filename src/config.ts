import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CRM_NAMES, crms, type CrmName } from './crm/registry.js';

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
  CRMSYNC_EVENT_MAX_ATTEMPTS: int(15, 1, 100),
  CRMSYNC_EVENT_TIMEOUT_MS: int(15_000, 100, 300_000),
  CRMSYNC_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CRMSYNC_CONFIG: z.string().optional(),
});

const fileSchema = z
  .object({
    /** Extra field mappings: local field name → the CRM's field key. */
    fields: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'local field names are lowercase snake_case'), z.string().min(1)).default({}),
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
  logLevel: string;
  fields: Record<string, string>;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const problems: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  let fileFields: Record<string, string> = {};
  if (env.CRMSYNC_CONFIG) {
    try {
      const file = fileSchema.safeParse(JSON.parse(readFileSync(env.CRMSYNC_CONFIG, 'utf8')));
      if (file.success) fileFields = file.data.fields;
      else for (const issue of file.error.issues) problems.push(`CRMSYNC_CONFIG (${env.CRMSYNC_CONFIG}) ${issue.path.join('.') || '(root)'}: ${issue.message}`);
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
    logLevel: e.CRMSYNC_LOG_LEVEL,
    fields: fileFields,
  });
}
