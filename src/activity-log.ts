import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Redactor } from './redact.js';
import type { Db } from './store/database.js';
import { insertLog, type LogEntry, type LogLevel } from './store/log.js';

const PINO_LEVEL: Record<LogLevel, 'error' | 'warn' | 'info' | 'debug'> = {
  error: 'error',
  warning: 'warn',
  notice: 'info',
  info: 'info',
  http: 'debug',
};

/**
 * The activity log site owners read (WP Fusion's levels), stored in the database and mirrored
 * to the process log. Entries are redacted here, so no caller can leak a secret through it.
 */
export class ActivityLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly redact: Redactor,
  ) {}

  /** Prepares an entry (time, redaction) and mirrors it to the process log; store it with `write`. */
  entry(entry: LogEntry): LogEntry & { at: number } {
    const clean = { ...this.redact(entry), at: this.clock.now() };
    this.logger[PINO_LEVEL[entry.level]]({ source: clean.source, userId: clean.userId, contactId: clean.contactId, activity: clean.level }, clean.message);
    return clean;
  }

  /** Writes entries, in the caller's transaction when `db` is one. */
  async write(entries: LogEntry | readonly LogEntry[], db: Db = this.db): Promise<void> {
    const list = Array.isArray(entries) ? entries : [entries as LogEntry];
    await insertLog(db, list.map((e) => this.entry(e)));
  }
}
