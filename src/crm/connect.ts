import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { dialectOf, type Db } from '../store/database.js';
import { pushBackSlots, reserveSlots } from '../store/rate-limits.js';
import { SharedSlotLimiter, TokenBucket, type RateLimiter } from './rate-limiter.js';
import { crms } from './registry.js';
import type { Crm } from './types.js';

/**
 * The configured CRM's adapter behind its rate limiter: the documented limit unless
 * CRMSYNC_CRM_RATE_LIMIT says otherwise, shared through the database on PostgreSQL (every
 * instance, and `crmsync import`, draw from one account-wide budget).
 */
export function connectCrm(config: Readonly<Config>, deps: { db: Db; url: string; apiKey: string; clock: Clock; metrics: Metrics }): Crm {
  const { db, url, apiKey, clock, metrics } = deps;
  const entry = crms[config.crm.name];
  // The bucket's size depends on the adapter's capabilities, so it is made once the adapter exists.
  let bucket: RateLimiter | null = null;
  const limiter: RateLimiter = { take: () => bucket!.take(), pauseFor: (ms) => bucket!.pauseFor(ms) };
  const crm = entry.create({
    baseUrl: url,
    apiKey,
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
  const account = `${config.crm.name}:${url}`;
  bucket =
    dialectOf(db) === 'postgres'
      ? new SharedSlotLimiter({ reserve: (n, interval) => reserveSlots(db, account, n, interval), pushBack: (ms) => pushBackSlots(db, account, ms) }, rate)
      : new TokenBucket(rate);
  return crm;
}
