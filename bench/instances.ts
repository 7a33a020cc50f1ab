import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '../src/sandbox/index.js';
import { startCrmsync, type CrmsyncChild } from './children.js';
import { ACCESS_KEY, API_TOKEN, TARGET, checkDurability, freshDatabase, loadThenKill, measureBare, type Durability } from './ingest.js';
import type { LoadResult } from './load.js';

export interface InstancesSettings {
  /** Total connections of the one load generator, spread round-robin over the instances. */
  connections: number;
  durationSec: number;
  warmupSec: number;
  contacts: number;
  /** Instance counts measured, in this order, e.g. [1, 2, 3]. */
  counts: number[];
  /** The shared sandbox CRM's limit (429 beyond it). */
  crmRateLimit: number;
}

export interface InstancesRun {
  instances: number;
  /** Connections per instance (autocannon assigns connection i to URL i mod n). */
  connectionsPerInstance: number[];
  result: LoadResult;
  ratio: number;
  /** result.requestsPerSec over the 1-instance figure of this run. */
  vsOne: number | null;
  /** Webhooks each instance stored during the measured run (its /metrics); null where unreadable. */
  perInstance: (number | null)[];
  durability: Durability;
  /** The shared sandbox's counters over warm-up + run: the rate limit is global across instances. */
  crm: { calls: number; rateLimited: number; maxPerSecond: number };
  loadAverage: number;
}

export interface InstancesReport {
  settings: InstancesSettings;
  target: string;
  bare: LoadResult;
  bareLoadAverage: number;
  runs: InstancesRun[];
  dataDir: string;
}

const split = (connections: number, n: number) => Array.from({ length: n }, (_, i) => Math.floor(connections / n) + (i < connections % n ? 1 : 0));

/**
 * Ingest with 1, 2, 3… `crmsync serve` instances on one PostgreSQL database (fresh for each count),
 * each on its own port, all pointed at one sandbox CRM run in this process (its limit shared
 * through the database). One autocannon process spreads the connections over the instances'
 * URLs; the bare node:http baseline is measured first with the same load generator and settings.
 */
export async function runInstances(settings: InstancesSettings, say: (line: string) => void): Promise<InstancesReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'crmsync-bench-instances-'));
  say(`instances: ingest with ${settings.counts.join(', ')} crmsync serve instances on one PostgreSQL database, one shared sandbox CRM at ${settings.crmRateLimit}/s`);
  const bare = await measureBare(settings, say);

  const sandbox = await startSandbox({ port: 0, rateLimit: settings.crmRateLimit, seed: false, webhookUrl: null, logger: false });
  const runs: InstancesRun[] = [];
  try {
    for (const n of settings.counts) {
      const db = await freshDatabase('postgres', dataDir, `instances-${n}`);
      const servers: CrmsyncChild[] = [];
      try {
        const env = {
          CRMSYNC_DATABASE_URL: db.url,
          CRMSYNC_ACCESS_KEY: ACCESS_KEY,
          CRMSYNC_API_TOKEN: API_TOKEN,
          CRMSYNC_CRM: 'sandbox',
          CRMSYNC_CRM_URL: sandbox.url,
          CRMSYNC_CRM_API_KEY: sandbox.apiKey,
        };
        const start = (i: number) => startCrmsync({ env, logFile: join(dataDir, `instances-${n}-${i + 1}.log`) });
        // The first one migrates the fresh database alone; the others start together.
        try {
          servers.push(await start(0));
          const rest = await Promise.allSettled(Array.from({ length: n - 1 }, (_, i) => start(i + 1)));
          for (const r of rest) if (r.status === 'fulfilled') servers.push(r.value);
          const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed) throw failed.reason;
        } catch (error) {
          for (const s of servers) s.child.kill('SIGKILL');
          throw error;
        }
        const connectionsPerInstance = split(settings.connections, n);
        say(`  ${n} instance(s) on ports ${servers.map((s) => new URL(s.url).port).join(', ')}; connections ${connectionsPerInstance.join(' + ')}`);
        await fetch(`${sandbox.url}/_sandbox/stats/reset`, { method: 'POST', headers: { authorization: `Bearer ${sandbox.apiKey}` }, signal: AbortSignal.timeout(5000) });
        const { warm, run, loadAverage, perInstance } = await loadThenKill(servers, settings);
        const stats = sandbox.stats();
        const durability = await checkDurability(db, warm.ok2xx + run.ok2xx);
        const one = runs.find((r) => r.instances === 1);
        runs.push({
          instances: n,
          connectionsPerInstance,
          result: run,
          ratio: run.requestsPerSec / bare.result.requestsPerSec,
          vsOne: one ? run.requestsPerSec / one.result.requestsPerSec : n === 1 ? 1 : null,
          perInstance,
          durability,
          crm: { calls: stats.calls, rateLimited: stats.rateLimited, maxPerSecond: stats.maxPerSecond },
          loadAverage,
        });
        say(
          `    ${n}: ${Math.round(run.requestsPerSec)} req/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms; stored per instance ${perInstance.map((c) => c ?? '?').join(' / ')}; ` +
            `after kill -9: ${durability.inboxRows} inbox rows for ${durability.acknowledged} acknowledged (${durability.ok ? 'ok' : 'LOST WEBHOOKS'}); CRM max ${stats.maxPerSecond}/s, ${stats.rateLimited} × 429`,
        );
      } finally {
        await db.drop();
      }
    }
  } finally {
    await sandbox.close();
  }
  return { settings, target: TARGET, bare: bare.result, bareLoadAverage: bare.loadAverage, runs, dataDir };
}
