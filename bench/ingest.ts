import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  BenchError,
  exitOnSignalModule,
  runLoad,
  sleep,
  startBareServer,
  startCrmsync,
  stopChild,
  waitForExit,
  type CrmsyncChild,
} from './children.js';
import type { LoadRequest, LoadResult } from './load.js';
import { createDatabase } from './postgres.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';

export type Store = 'sqlite' | 'postgres';
export const storeName: Record<Store, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

export interface IngestSettings {
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** Webhook URLs cycle over contact ids 1..contacts. */
  contacts: number;
  /** The stores measured, in this order, between two runs of the bare baseline. */
  stores: Store[];
  /** Also run a profiled crmsync (`--cpu-prof`, on the first store) and summarise where its time goes: always, never, or when its ratio is below `autoProfileBelow`. */
  profile: 'always' | 'never' | 'auto';
  autoProfileBelow: number;
}

export interface Durability {
  /** 2xx answers autocannon counted, warm-up and measured run together. */
  acknowledged: number;
  /** Rows in the inbox table after `kill -9`. */
  inboxRows: number;
  /** Contacts with a pending reconcile after `kill -9` (coalescing at work). */
  pendingJobs: number;
  ok: boolean;
  /**
   * PostgreSQL only: transactions committed in the database over its whole life (migrations,
   * ingest, workers) per inbox row — how well group commit batched the webhooks.
   */
  commitsPerWebhook: number | null;
}

export interface IngestTarget {
  store: Store;
  result: LoadResult;
  /** result.requestsPerSec over the mean of the bare baseline before and after, all from this run. */
  ratio: number;
  durability: Durability;
  /** 1-minute load average when this target's measured run started. */
  loadAverage: number;
}

export interface IngestReport {
  settings: IngestSettings;
  target: string;
  /** The bare baseline measured before the stores … */
  bare: LoadResult;
  bareLoadAverage: number;
  /** … and again after them: the ratios divide by the mean of the two, so a drift of the machine's speed during the run does not favour either side. */
  bareAfter: LoadResult;
  bareAfterLoadAverage: number;
  bareMean: number;
  targets: IngestTarget[];
  profile: (ProfileSummary & { store: Store }) | null;
  dataDir: string;
}

export const ACCESS_KEY = 'bench-access-key-0123456789abcdef';
export const API_TOKEN = 'bench-api-token-0123456789abcdef';
export const TARGET = 'GET /?wpf_action=update&access_key=…&contact_id=N';
export const load1 = () => Math.round(os.loadavg()[0]! * 100) / 100;

export interface LoadShape {
  connections: number;
  durationSec: number;
  warmupSec: number;
  contacts: number;
}

export const loadRequest = (shape: LoadShape, url: string | string[], durationSec: number, seed: number): LoadRequest => ({
  url,
  accessKey: ACCESS_KEY,
  connections: shape.connections,
  durationSec,
  contacts: shape.contacts,
  seed,
});

/** The bare node:http baseline under the same load (warm-up, then the measured run). */
export async function measureBare(shape: LoadShape, say: (line: string) => void): Promise<{ result: LoadResult; loadAverage: number }> {
  say(`  bare node:http server — warm-up ${shape.warmupSec} s, then ${shape.durationSec} s with ${shape.connections} connections (load average ${load1()})`);
  const bareServer = await startBareServer();
  try {
    await runLoad(loadRequest(shape, bareServer.url, shape.warmupSec, 1));
    const loadAverage = load1();
    const result = await runLoad(loadRequest(shape, bareServer.url, shape.durationSec, 2));
    say(`    bare: ${Math.round(result.requestsPerSec)} req/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`);
    return { result, loadAverage };
  } finally {
    await stopChild(bareServer.child);
  }
}

/** Sum of crmsync_webhooks_received_total (all actions) on one instance's /metrics; null if unreadable. */
async function storedCount(server: CrmsyncChild): Promise<number | null> {
  try {
    const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return null;
    let sum = 0;
    for (const line of (await res.text()).split('\n')) {
      const m = /^crmsync_webhooks_received_total(?:\{[^}]*\})? (\S+)$/.exec(line);
      if (m) sum += Number(m[1]);
    }
    return sum;
  } catch {
    return null;
  }
}

/**
 * Warm-up, then the measured run, against every server at once (connections round-robin over
 * their URLs, one autocannon process); then `kill -9` on every server — no graceful stop, no
 * flush: each dies where it stands. `perInstance`: webhooks each stored during the measured run
 * (its own /metrics), null where unreadable.
 */
export async function loadThenKill(
  servers: CrmsyncChild[],
  shape: LoadShape,
): Promise<{ warm: LoadResult; run: LoadResult; loadAverage: number; perInstance: (number | null)[] }> {
  const urls = servers.length === 1 ? servers[0]!.url : servers.map((s) => s.url);
  try {
    const warm = await runLoad(loadRequest(shape, urls, shape.warmupSec, 1));
    const before = await Promise.all(servers.map(storedCount));
    const loadAverage = load1();
    const run = await runLoad(loadRequest(shape, urls, shape.durationSec, 2));
    const after = await Promise.all(servers.map(storedCount));
    const perInstance = after.map((a, i) => (a === null || before[i] === null ? null : a - before[i]!));
    return { warm, run, loadAverage, perInstance };
  } finally {
    for (const s of servers) s.child.kill('SIGKILL');
    await Promise.all(servers.map((s) => waitForExit(s.child, 10_000)));
  }
}

/** A fresh database of `store`'s kind: the URL for crmsync, counting queries, clean-up. */
export interface BenchDatabase {
  url: string;
  count(sql: string): Promise<number>;
  /** PostgreSQL: transactions committed in the database so far; SQLite: null. */
  commits(): Promise<number | null>;
  /** Removes the database (PostgreSQL database, or SQLite files). */
  drop(): Promise<void>;
}

export async function freshDatabase(store: Store, dir: string, name: string): Promise<BenchDatabase> {
  if (store === 'postgres') {
    const pgdb = await createDatabase();
    return {
      url: pgdb.url,
      count: (sql) => pgdb.scalar(sql),
      commits: async () => {
        // The killed instances' backends flush their statistics as they exit, once they notice.
        await sleep(1000);
        return pgdb.commits();
      },
      drop: () => pgdb.drop(),
    };
  }
  const file = join(dir, `${name}.sqlite`);
  return {
    url: `sqlite:${file}`,
    count: async (sql) => {
      const db = new Database(file, { readonly: false });
      try {
        return Number(Object.values(db.prepare(sql).get() as Record<string, unknown>)[0]);
      } finally {
        db.close();
      }
    },
    commits: async () => null,
    drop: async () => {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    },
  };
}

/** After `kill -9`: every acknowledged webhook must be a row of the inbox. */
export async function checkDurability(db: BenchDatabase, acknowledged: number): Promise<Durability> {
  const inboxRows = await db.count('select count(*) as n from inbox');
  const pendingJobs = await db.count("select count(*) as n from jobs where state in ('pending', 'running')");
  const commits = await db.commits();
  const commitsPerWebhook = commits === null || inboxRows === 0 ? null : Math.round((100 * commits) / inboxRows) / 100;
  return { acknowledged, inboxRows, pendingJobs, ok: acknowledged > 0 && inboxRows >= acknowledged, commitsPerWebhook };
}

export async function runIngest(settings: IngestSettings, say: (line: string) => void): Promise<IngestReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'crmsync-bench-ingest-'));

  // (a) the bare node:http baseline (and again after the stores, in (c))
  say(`ingest: ${settings.stores.map((s) => storeName[s]).join(' and ')} beside bare node:http (before and after), same load generator and settings`);
  const bare = await measureBare(settings, say);

  // (b) crmsync serve on each store, durable webhook endpoint; workers run against the embedded sandbox CRM
  const measured: Omit<IngestTarget, 'ratio'>[] = [];
  for (const store of settings.stores) {
    say(
      `  crmsync serve on ${storeName[store]} (child process, ${store === 'sqlite' ? 'WAL, fsynced before each answer' : 'fresh database'}, workers on, embedded sandbox CRM)`,
    );
    const db = await freshDatabase(store, dataDir, 'crmsync');
    try {
      const server = await startCrmsync({
        env: { CRMSYNC_DATABASE_URL: db.url, CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_API_TOKEN: API_TOKEN },
        logFile: join(dataDir, `crmsync-${store}.log`),
      });
      const { warm, run, loadAverage } = await loadThenKill([server], settings);
      say(`    ${storeName[store]}: ${Math.round(run.requestsPerSec)} req/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms; killed with SIGKILL`);
      const durability = await checkDurability(db, warm.ok2xx + run.ok2xx);
      say(`    after kill -9: ${durability.inboxRows} inbox rows for ${durability.acknowledged} acknowledged webhooks (${durability.ok ? 'ok' : 'LOST WEBHOOKS'})`);
      measured.push({ store, result: run, durability, loadAverage });
    } finally {
      await db.drop();
    }
  }

  // (c) the bare baseline again: on a shared machine its speed drifts within minutes
  const bareAfter = await measureBare(settings, say);
  const bareMean = (bare.result.requestsPerSec + bareAfter.result.requestsPerSec) / 2;
  const targets: IngestTarget[] = measured.map((t) => ({ ...t, ratio: t.result.requestsPerSec / bareMean }));

  let profile: IngestReport['profile'] = null;
  const first = targets[0];
  if (first && (settings.profile === 'always' || (settings.profile === 'auto' && first.ratio < settings.autoProfileBelow))) {
    say(`  ratio ${first.ratio.toFixed(2)} on ${storeName[first.store]}; profiling crmsync serve (--cpu-prof) under the same load for ${settings.durationSec} s`);
    const profDir = join(dataDir, 'profile');
    const db = await freshDatabase(first.store, dataDir, 'profiled');
    try {
      const profiled = await startCrmsync({
        env: { CRMSYNC_DATABASE_URL: db.url, CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_API_TOKEN: API_TOKEN },
        logFile: join(dataDir, 'profiled.log'),
        nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', exitOnSignalModule],
      });
      try {
        await runLoad(loadRequest(settings, profiled.url, settings.durationSec, 2));
      } finally {
        // process.exit (not SIGKILL), so Node writes the profile.
        await stopChild(profiled.child, 'SIGUSR2', 20_000).catch(() => profiled.child.kill('SIGKILL'));
      }
    } finally {
      await db.drop();
    }
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's loader has its own).
    const file = readdirSync(profDir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    if (!file) throw new BenchError(`no main-thread .cpuprofile written in ${profDir}`);
    profile = { store: first.store, ...summarizeProfile(join(profDir, file), { windowMs: settings.durationSec * 1000 + 500 }) };
  }

  return {
    settings,
    target: TARGET,
    bare: bare.result,
    bareLoadAverage: bare.loadAverage,
    bareAfter: bareAfter.result,
    bareAfterLoadAverage: bareAfter.loadAverage,
    bareMean,
    targets,
    profile,
    dataDir,
  };
}
