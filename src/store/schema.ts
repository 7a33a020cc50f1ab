import type { Generated } from 'kysely';

/**
 * The tables, as Kysely sees them. Times are epoch milliseconds (integers), JSON columns are
 * text. Row types stay here; repositories map them to domain values at the boundary.
 */
export interface Database {
  settings: SettingsTable;
  users: UsersTable;
  user_tags: UserTagsTable;
  operations: OperationsTable;
  inbox: InboxTable;
  jobs: JobsTable;
  log: LogTable;
  mail_outbox: MailOutboxTable;
  password_tokens: PasswordTokensTable;
  rate_limits: RateLimitsTable;
  event_endpoints: EventEndpointsTable;
  event_deliveries: EventDeliveriesTable;
  field_sync: FieldSyncTable;
  grants: GrantsTable;
  imports: ImportsTable;
  import_users: ImportUsersTable;
  admin_sessions: AdminSessionsTable;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface UsersTable {
  id: Generated<number>;
  email: string;
  contact_id: string | null;
  role: string;
  /** JSON: local field name → value. */
  fields: string;
  /** JSON: the CRM state we last read or wrote ({tags, fields}), to recognise echoes. */
  crm_state: string | null;
  password_hash: string | null;
  created_at: number;
  updated_at: number;
}

export interface UserTagsTable {
  user_id: number;
  tag: string;
}

export interface OperationsTable {
  id: Generated<number>;
  user_id: number;
  /** `tag:NAME` or `field:NAME`: one row per target, the latest intent. */
  target: string;
  kind: string;
  name: string;
  value: string | null;
  state: string;
  created_at: number;
  acked_at: number | null;
}

export interface InboxTable {
  id: Generated<number>;
  received_at: number;
  action: string;
  contact_id: string;
  job_key: string;
  /** JSON: the request's shape, secrets redacted. */
  request: string;
  source_ip: string | null;
}

export interface JobsTable {
  id: Generated<number>;
  /** `c:CONTACT_ID` or `u:USER_ID`: at most one pending and one running job per key. */
  key: string;
  action: string;
  contact_id: string | null;
  user_id: number | null;
  role: string | null;
  send_notification: number;
  state: string;
  attempts: number;
  run_at: number;
  locked_by: string | null;
  locked_at: number | null;
  last_error: string | null;
  /** How many webhooks this job stands for (1 + coalesced duplicates). */
  webhooks: number;
  first_seen_at: number;
  created_at: number;
  updated_at: number;
}

export interface LogTable {
  id: Generated<number>;
  at: number;
  level: string;
  user_id: number | null;
  contact_id: string | null;
  source: string;
  message: string;
  context: string | null;
}

export interface MailOutboxTable {
  id: Generated<number>;
  at: number;
  to_address: string;
  subject: string;
  text: string;
  state: string;
  error: string | null;
}

export interface PasswordTokensTable {
  token_hash: string;
  user_id: number;
  expires_at: number;
  used_at: number | null;
}

export interface RateLimitsTable {
  name: string;
  next_slot_at: number;
}

export interface EventEndpointsTable {
  id: Generated<number>;
  url: string;
  /** JSON: [{secret, createdAt, expiresAt}], newest first; expired ones no longer sign. */
  secrets: string;
  /** JSON: the event types sent there, or ["*"] for all. */
  events: string;
  enabled: number;
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
}

export interface EventDeliveriesTable {
  id: Generated<number>;
  endpoint_id: number;
  /** The `webhook-id`: the same for every endpoint and every attempt of one event. */
  event_id: string;
  type: string;
  /** The JSON body exactly as sent (and signed). */
  payload: string;
  /** pending | failed (retrying) | delivered | dead */
  state: string;
  attempts: number;
  /** When due; while an attempt is in flight, when its claim expires. */
  next_attempt_at: number;
  locked_by: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

export interface FieldSyncTable {
  user_id: number;
  /** The local field name. */
  field: string;
  /** The value both sides last agreed on (null: both empty). */
  value: string | null;
  synced_at: number;
}

export interface GrantsTable {
  id: Generated<number>;
  user_id: number;
  resource: string;
  /** tag | purchase | admin | …: why the grant exists. */
  source: string;
  /** For `tag` grants the tag that made it; otherwise the app's reference or ''. */
  source_detail: string;
  note: string | null;
  created_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
}

export interface ImportsTable {
  id: Generated<number>;
  crm: string;
  tag: string | null;
  update_existing: number;
  role: string | null;
  /** running | interrupted | done | failed | undone */
  state: string;
  /** Where the CRM listing stopped (the adapter's opaque cursor); null before the first page. */
  cursor: string | null;
  total: number | null;
  listed: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
  error: string | null;
  started_at: number;
  updated_at: number;
  finished_at: number | null;
  undone_at: number | null;
}

export interface ImportUsersTable {
  import_id: number;
  user_id: number;
  contact_id: string;
  created: number;
  /** JSON {email, role, fields, tags} before the import changed the user; null when it created it. */
  before: string | null;
  /** JSON {email, role, fields, tags} as the import left the user. */
  after: string;
}

export interface AdminSessionsTable {
  /** SHA-256 (hex) of the session id in the admin cookie. */
  id_hash: string;
  created_at: number;
  expires_at: number;
}
