import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { ActivityLog } from '../activity-log.js';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import { SharedSlotLimiter, TokenBucket, type RateLimiter } from '../crm/rate-limiter.js';
import { crms } from '../crm/registry.js';
import type { Engine } from '../engine.js';
import { Mailer } from '../mail/mailer.js';
import { createMetrics } from '../metrics.js';
import { createRedactor } from '../redact.js';
import { dialectOf, migrate, openDatabase } from '../store/database.js';
import { pushBackSlots, reserveSlots } from '../store/rate-limits.js';
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
    let bucket: RateLimiter | null = null;
    const limiter: RateLimiter = { take: () => bucket!.take(), pauseFor: (ms) => bucket!.pauseFor(ms) };
    const entry = crms[config.crm.name];
    const crm = entry.create({
      baseUrl: crmUrl!,
      apiKey: crmKey!,
      webhookSecret: config.crm.webhookSecret,
      fieldMap: { ...entry.defaultFieldMap, ...config.fields },
      limiter,
      clock,
      timeoutMs: config.crm.timeoutMs,
      onCall: ({ status, rateLimited }) => {
        metrics.crmCalls.inc({ status: String(status) });
        if (rateLimited) metrics.crmRateLimited.inc();
      },
    });
    const rate = config.crm.rateLimit ? { requests: config.crm.rateLimit, perMs: 1000 } : crm.capabilities.rateLimit;
    // The same account name as the service's, so on PostgreSQL both draw from one shared limit.
    const account = `${config.crm.name}:${crmUrl}`;
    bucket =
      dialectOf(db) === 'postgres'
        ? new SharedSlotLimiter({ reserve: (n, interval) => reserveSlots(db, account, n, interval), pushBack: (ms) => pushBackSlots(db, account, ms) }, rate)
        : new TokenBucket(rate);
    const mailer = new Mailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, db, clock, logger });
    const engine: Engine = {
      db,
      crm,
      clock,
      log: new ActivityLog(db, clock, logger, createRedactor(() => secrets)),
      metrics,
      mailer,
      roles: config.roles,
      publicUrl: config.publicUrl,
      settleMs: config.settleMs,
      maxAttempts: config.maxAttempts,
      workerId: `${hostname()}:${process.pid}:import`,
    };
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
