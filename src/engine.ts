import type { ActivityLog } from './activity-log.js';
import type { Clock } from './clock.js';
import type { Crm } from './crm/types.js';
import type { FieldPolicies } from './domain/field-ownership.js';
import type { TagRule } from './domain/access.js';
import type { RolePolicy } from './domain/role.js';
import type { Mailer } from './mail/mailer.js';
import type { Metrics } from './metrics.js';
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
