import pino from 'pino';
import { ManualClock, type Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { startService, type Service } from '../../src/service.js';
import { testDatabase } from './database.js';

export const ACCESS_KEY = 'test-access-key-0123456789';
export const API_TOKEN = 'test-api-token-0123456789';

export interface Harness {
  service: Service;
  sandbox: NonNullable<Service['sandbox']>;
  /** The SQLite file, when the test runs on SQLite (null on PostgreSQL: use service.engine.db). */
  dbFile: string | null;
  /** CRMSYNC_DATABASE_URL of this service (for a CLI run against the same database). */
  databaseUrl: string;
  /** Calls crmsync's API with the bearer token. */
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Sends a webhook the way a CRM does (GET with the WP Fusion query string). */
  webhook(params: Record<string, string>, init?: RequestInit): Promise<{ status: number; body: any }>;
  /** Runs the reconciler until nothing is due (for tests that drive it by hand). */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * crmsync with its embedded sandbox CRM, on random ports and a fresh SQLite file: the real
 * service, as `crmsync serve` starts it, with the sandbox unlimited unless told otherwise.
 */
export async function startHarness(
  options: {
    clock?: Clock;
    workers?: boolean;
    env?: Record<string, string>;
    sandboxRateLimit?: number;
    sandboxLatencyMs?: number;
    /** Let the service generate and store its access key and API token (rotatable), instead of fixed test values. */
    storedSecrets?: boolean;
  } = {},
): Promise<Harness> {
  const database = await testDatabase();
  const config = loadConfig({
    PORT: '0',
    CRMSYNC_DATABASE_URL: database.url,
    ...(!options.storedSecrets && { CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_API_TOKEN: API_TOKEN }),
    CRMSYNC_CRM_RATE_LIMIT: '1000',
    CRMSYNC_WORKERS: '2',
    ...options.env,
  });
  const service = await startService(config, {
    clock: options.clock,
    logger: pino({ level: 'silent' }),
    workers: options.workers ?? true,
    sandboxPort: 0,
    sandboxRateLimit: options.sandboxRateLimit ?? 0,
    sandboxLatencyMs: options.sandboxLatencyMs ?? 0,
  });
  const base = service.url;
  return {
    service,
    sandbox: service.sandbox!,
    dbFile: database.sqliteFile,
    databaseUrl: database.url,
    async api(method, path, body) {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${service.apiToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async webhook(params, init) {
      const qs = new URLSearchParams({ access_key: service.accessKey, ...params });
      const res = await fetch(`${base}/?${qs}`, init);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* HTML */
      }
      return { status: res.status, body };
    },
    async drain() {
      let total = 0;
      for (let i = 0; i < 100; i++) {
        const { claimed } = await service.reconciler.runOnce();
        if (claimed === 0) return total;
        total += claimed;
      }
      throw new Error('queue did not drain in 100 passes');
    },
    async stop() {
      await service.stop();
      await database.cleanup();
    },
  };
}

/** Waits until `check` returns a truthy value (polling), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export { ManualClock };
