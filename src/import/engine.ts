import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { ActivityLog } from '../activity-log.js';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import { connectCrm } from '../crm/connect.js';
import { createEngine, type Engine } from '../engine.js';
import { Mailer } from '../mail/mailer.js';
import { createMetrics } from '../metrics.js';
import { createRedactor } from '../redact.js';
import { migrate, openDatabase } from '../store/database.js';
import { getSetting } from '../store/settings.js';
import { ImportRefusedError } from './import-role.js';

/**
 * The engine a one-off command (`crmsync import`) works with, beside a running service: the
 * same store, CRM adapter and rate limit (shared through the database on PostgreSQL), no HTTP,
 * no workers. With the embedded sandbox CRM, it talks to the one inside `crmsync serve`.
 */
export async function openEngine(config: Readonly<Config>, options: { sandboxPort?: number; clock?: Clock; logger?: Logger } = {}): Promise<{ engine: Engine; close(): Promise<void> }> {
  const clock = options.clock ?? systemClock;
  const db = openDatabase(config.databaseUrl);
  try {
    await migrate(db);
    let crmUrl = config.crm.url;
    let crmKey = config.crm.apiKey;
    if (config.crm.name === 'sandbox' && !crmUrl) {
      crmUrl = `http://127.0.0.1:${options.sandboxPort ?? 8788}`;
      crmKey = await getSetting(db, 'sandbox_api_key');
      if (!crmKey) throw new ImportRefusedError('the embedded sandbox CRM has no API key yet: start `crmsync serve` once (the sandbox lives inside it)');
    }
    const secrets = [config.accessKey, config.apiToken, crmKey, config.crm.webhookSecret];
    const logger = options.logger ?? pino({ level: 'warn' }, pino.destination(2));
    const metrics = createMetrics();
    const crm = connectCrm(config, { db, url: crmUrl!, apiKey: crmKey!, clock, metrics });
    const mailer = new Mailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, db, clock, logger });
    const log = new ActivityLog(db, clock, logger, createRedactor(() => secrets));
    // Imported users get the same field ownership and tag rules (grants) as webhooks give them.
    const engine = createEngine(config, { db, crm, clock, log, metrics, mailer, workerId: `${hostname()}:${process.pid}:import` });

    return {
      engine,
      async close() {
        mailer.close();
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
