import type { Insertable } from 'kysely';
import type { Db } from './database.js';
import type { LogTable } from './schema.js';

/** Activity-log levels, most severe first (WP Fusion's, so its users read ours at a glance). */
export const LOG_LEVELS = ['error', 'warning', 'notice', 'info', 'http'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogEntry {
  level: LogLevel;
  source: string;
  message: string;
  userId?: number | null;
  contactId?: string | null;
  context?: Record<string, unknown> | null;
}

export interface StoredLogEntry extends Required<Omit<LogEntry, 'context'>> {
  id: number;
  at: number;
  context: Record<string, unknown> | null;
}

export function logRow(e: LogEntry & { at: number }): Insertable<LogTable> {
  return {
    at: e.at,
    level: e.level,
    user_id: e.userId ?? null,
    contact_id: e.contactId ?? null,
    source: e.source,
    message: e.message,
    context: e.context ? JSON.stringify(e.context) : null,
  };
}

export function insertLogQuery(db: Db, rows: Insertable<LogTable>[]) {
  return db.insertInto('log').values(rows);
}

export async function insertLog(db: Db, entries: readonly (LogEntry & { at: number })[]): Promise<void> {
  if (entries.length === 0) return;
  await insertLogQuery(db, entries.map(logRow)).execute();
}

export async function listLog(
  db: Db,
  filter: { level?: LogLevel; contactId?: string; userId?: number; limit: number; beforeId?: number; source?: string; since?: number; until?: number },
): Promise<StoredLogEntry[]> {
  let query = db.selectFrom('log').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.level) query = query.where('level', '=', filter.level);
  if (filter.contactId) query = query.where('contact_id', '=', filter.contactId);
  if (filter.userId) query = query.where('user_id', '=', filter.userId);
  if (filter.beforeId) query = query.where('id', '<', filter.beforeId);
  if (filter.source) query = query.where('source', '=', filter.source);
  if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('at', '<', filter.until);
  const rows = await query.execute();
  return rows.map((r) => ({
    id: Number(r.id),
    at: Number(r.at),
    level: r.level as LogLevel,
    source: r.source,
    message: r.message,
    userId: r.user_id === null ? null : Number(r.user_id),
    contactId: r.contact_id,
    context: r.context ? (JSON.parse(r.context) as Record<string, unknown>) : null,
  }));
}
