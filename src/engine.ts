import type { ActivityLog } from './activity-log.js';
import type { Clock } from './clock.js';
import type { Crm } from './crm/types.js';
import type { FieldPolicies } from './domain/field-ownership.js';
import type { TagRule } from './domain/access.js';
import type { RolePolicy } from './domain/role.js';
import type { Mailer } from './mail/mailer.js';
import type { Metrics } from './metrics.js';
import type { Config } from './config.js';
import type { Db } from './store/database.js';

/** What the queue's workers (reconciler, pusher, effects) share. Built once by the service. */
export interface Engine {
  db: Db;
  crm: Crm;
  clock: Clock;
  log: ActivityLog;
  metrics: Metrics;
  mailer: Mailer;
  roles: RolePolicy;
  publicUrl: string;
  /** How long a CRM read that disagrees with an acknowledged local change is distrusted. */
  settleMs: number;
  maxAttempts: number;
  workerId: string;
  /** Who wins per mapped field (`crm`, `app`, `both`); unlisted fields are `both`. */
  fieldPolicies?: FieldPolicies;
  /** Tag rules (a tag grants a resource); none when absent. */
  rules?: readonly TagRule[];
}

/**
 * The engine from the configuration and the parts already opened. One function for the service
 * and `crmsync import`, so both apply the same policies (roles, field ownership, tag rules).
 */
export function createEngine(
  config: Readonly<Config>,
  parts: Pick<Engine, 'db' | 'crm' | 'clock' | 'log' | 'metrics' | 'mailer' | 'workerId'>,
): Engine {
  return {
    ...parts,
    roles: config.roles,
    publicUrl: config.publicUrl,
    settleMs: config.settleMs,
    maxAttempts: config.maxAttempts,
    fieldPolicies: config.fieldPolicies,
    rules: config.rules,
  };
}
