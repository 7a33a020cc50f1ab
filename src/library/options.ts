import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config.js';
import type { CrmName } from '../crm/registry.js';

/**
 * `createCrmsync`'s options: the service's configuration as a typed object. Everything is
 * optional with the defaults of the matching `CRMSYNC_*` variable; the values go through the
 * same zod schema (src/config.ts), so a bad option is reported like a bad variable — all at
 * once, named by its option path.
 */
export interface CrmsyncOptions {
  /** `sqlite:PATH` or `postgres://…`; default `sqlite:./data/crmsync.sqlite`. */
  databaseUrl?: string;
  /** The webhook's `access_key`; default: generated once and stored. */
  accessKey?: string;
  /** Bearer token of the /api routes (when mounted); default: generated once and stored. */
  apiToken?: string;
  crm?: { name?: CrmName; url?: string; apiKey?: string; webhookSecret?: string; rateLimit?: number; timeoutMs?: number };
  smtpUrl?: string;
  mailFrom?: string;
  /** Where crmsync's routes are reachable from outside: host origin + mount prefix (links, webhook URL). */
  publicUrl?: string;
  roles?: { roles?: string[]; defaultRole?: string; privileged?: string[] };
  workers?: number;
  maxAttempts?: number;
  settleMs?: number;
  leaseMs?: number;
  bodyLimit?: number;
  retentionDays?: number;
  /** Outbound events: attempts per delivery, and the timeout of a request (or of a callback). */
  events?: { maxAttempts?: number; timeoutMs?: number };
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** How long a rotated access key or API token keeps working. */
  rotationGraceHours?: number;
  /** The periodic sweep of recently changed contacts (0 = off). */
  sweep?: { intervalSeconds?: number; overlapSeconds?: number };
  /** Extra field mappings, as in the CRMSYNC_CONFIG file: `"phone": "PHONE"` or the long form with its owner. */
  fields?: Record<string, string | { crm?: string; owner?: 'crm' | 'app' | 'both'; clearOnEmpty?: boolean }>;
  /** Tag rules, as in the CRMSYNC_CONFIG file: a tag grants a resource. */
  rules?: { tag: string; resource: string; revokeTags?: string[]; applyTags?: string[] }[];
  /** The host app's pino logger; default: a new one at `logLevel`. */
  logger?: Logger;
  /** With `crm.name: 'sandbox'` and no `crm.url`: the embedded sandbox CRM (port 0 = any free port). */
  sandbox?: { port?: number; rateLimit?: number; latencyMs?: number };
}

type Kind = 'string' | 'number' | 'list';
/** Option path → the variable it stands for, and the type it must have. */
const VARIABLES: Record<string, [string, Kind]> = {
  databaseUrl: ['CRMSYNC_DATABASE_URL', 'string'],
  accessKey: ['CRMSYNC_ACCESS_KEY', 'string'],
  apiToken: ['CRMSYNC_API_TOKEN', 'string'],
  'crm.name': ['CRMSYNC_CRM', 'string'],
  'crm.url': ['CRMSYNC_CRM_URL', 'string'],
  'crm.apiKey': ['CRMSYNC_CRM_API_KEY', 'string'],
  'crm.webhookSecret': ['CRMSYNC_CRM_WEBHOOK_SECRET', 'string'],
  'crm.rateLimit': ['CRMSYNC_CRM_RATE_LIMIT', 'number'],
  'crm.timeoutMs': ['CRMSYNC_CRM_TIMEOUT_MS', 'number'],
  smtpUrl: ['CRMSYNC_SMTP_URL', 'string'],
  mailFrom: ['CRMSYNC_MAIL_FROM', 'string'],
  publicUrl: ['CRMSYNC_PUBLIC_URL', 'string'],
  'roles.roles': ['CRMSYNC_ROLES', 'list'],
  'roles.defaultRole': ['CRMSYNC_DEFAULT_ROLE', 'string'],
  'roles.privileged': ['CRMSYNC_PRIVILEGED_ROLES', 'list'],
  workers: ['CRMSYNC_WORKERS', 'number'],
  maxAttempts: ['CRMSYNC_MAX_ATTEMPTS', 'number'],
  settleMs: ['CRMSYNC_SETTLE_MS', 'number'],
  leaseMs: ['CRMSYNC_LEASE_MS', 'number'],
  bodyLimit: ['CRMSYNC_BODY_LIMIT', 'number'],
  retentionDays: ['CRMSYNC_RETENTION_DAYS', 'number'],
  'events.maxAttempts': ['CRMSYNC_EVENT_MAX_ATTEMPTS', 'number'],
  'events.timeoutMs': ['CRMSYNC_EVENT_TIMEOUT_MS', 'number'],
  logLevel: ['CRMSYNC_LOG_LEVEL', 'string'],
  rotationGraceHours: ['CRMSYNC_ROTATION_GRACE_HOURS', 'number'],
  'sweep.intervalSeconds': ['CRMSYNC_SWEEP_INTERVAL', 'number'],
  'sweep.overlapSeconds': ['CRMSYNC_SWEEP_OVERLAP', 'number'],
};
const GROUPS = new Set(['crm', 'roles', 'events', 'sweep']);
/** Options that are not configuration (objects given to the engine as they are). */
const NOT_CONFIG = new Set(['logger', 'sandbox']);
const FILE_LABEL = 'createCrmsync options';

/**
 * Validates the options with the service's schema. Options the variables don't cover (`fields`,
 * and any other key) are what the CRMSYNC_CONFIG file holds, and are checked by its schema.
 */
export function configFromOptions(options: CrmsyncOptions): Readonly<Config> {
  const problems: string[] = [];
  const env: Record<string, string> = {};
  const file: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined || NOT_CONFIG.has(key)) continue;
    if (!GROUPS.has(key)) {
      if (VARIABLES[key]) put(key, value);
      else file[key] = value;
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${key}: must be an object`);
      continue;
    }
    for (const [sub, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if (VARIABLES[`${key}.${sub}`]) put(`${key}.${sub}`, v);
      else problems.push(`${key}.${sub}: unknown option`);
    }
  }
  problems.push(...checkSandbox(options?.sandbox));

  function put(path: string, value: unknown) {
    const [name, kind] = VARIABLES[path]!;
    if (kind === 'list' && Array.isArray(value) && value.every((v) => typeof v === 'string')) env[name] = value.join(',');
    else if (kind !== 'list' && typeof value === kind) env[name] = String(value);
    else problems.push(`${path}: must be ${kind === 'list' ? 'a list of strings' : `a ${kind}`}`);
  }

  if (Object.keys(file).length) env.CRMSYNC_CONFIG = FILE_LABEL;
  try {
    const config = loadConfig(env, () => JSON.stringify(file));
    if (problems.length) throw new ConfigError(problems);
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError([...problems, ...error.problems.map(inOptionTerms)]);
  }
}

const BY_VARIABLE = Object.entries(VARIABLES)
  .map(([path, [name]]) => [name, path] as const)
  .sort((a, b) => b[0].length - a[0].length);

/** "CRMSYNC_DEFAULT_ROLE: … CRMSYNC_ROLES" → "roles.defaultRole: … roles.roles". */
function inOptionTerms(problem: string): string {
  let text = problem.replace(`CRMSYNC_CONFIG (${FILE_LABEL}) `, '').replace(/^\(root\): /, '');
  const unknown = /^Unrecognized keys?: (.+)$/.exec(text);
  if (unknown) return unknown[1]!.split(', ').map((key) => `${key.replace(/"/g, '')}: unknown option`).join('; ');
  for (const [name, path] of BY_VARIABLE) text = text.replace(new RegExp(`\\b${name}\\b`, 'g'), path);
  return text;
}

function checkSandbox(sandbox: CrmsyncOptions['sandbox']): string[] {
  if (sandbox === undefined) return [];
  if (typeof sandbox !== 'object' || sandbox === null) return ['sandbox: must be an object'];
  return Object.entries(sandbox).flatMap(([key, value]) => {
    if (!['port', 'rateLimit', 'latencyMs'].includes(key)) return [`sandbox.${key}: unknown option`];
    return Number.isInteger(value) && (value as number) >= 0 ? [] : [`sandbox.${key}: must be a whole number ≥ 0`];
  });
}
