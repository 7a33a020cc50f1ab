import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BenchError, exitOnSignalModule, runLoad, startBareServer, startCrmsync, stopChild, waitForExit } from './children.js';
import type { LoadRequest, LoadResult } from './load.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';

export interface IngestSettings {
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** Webhook URLs cycle over contact ids 1..contacts. */
  contacts: number;
  /** Also run a profiled crmsync (`--cpu-prof`) and summarise where its time goes: always, never, or when the ratio is below `autoProfileBelow`. */
  profile: 'always' | 'never' | 'auto';
  autoProfileBelow: number;
}

export interface IngestReport {
  settings: IngestSettings;
  target: string;
  bare: LoadResult;
  crmsync: LoadResult;
  ratio: number;
  durability: {
    /** 2xx answers autocannon counted, warm-up and measured run together. */
    acknowledged: number;
    /** Rows in the inbox table after `kill -9`. */
    inboxRows: number;
    /** Contacts with a pending reconcile after `kill -9` (coalescing at work). */
    pendingJobs: number;
    ok: boolean;
  };
  profile: ProfileSummary | null;
  dataDir: string;
}

const ACCESS_KEY = 'bench-access-key-0123456789abcdef';
const API_TOKEN = 'bench-api-token-0123456789abcdef';

export async function runIngest(settings: IngestSettings, say: (line: string) => void): Promise<IngestReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'crmsync-bench-ingest-'));
  const load = (url: string, durationSec: number, seed: number): LoadRequest => ({
    url,
    accessKey: ACCESS_KEY,
    connections: settings.connections,
    durationSec,
    contacts: settings.contacts,
    seed,
  });

  // (a) the bare node:http baseline
  say(`ingest: bare node:http server — warm-up ${settings.warmupSec} s, then ${settings.durationSec} s with ${settings.connections} connections`);
  const bareServer = await startBareServer();
  let bare: LoadResult;
  try {
    await runLoad(load(bareServer.url, settings.warmupSec, 1));
    bare = await runLoad(load(bareServer.url, settings.durationSec, 2));
  } finally {
    await stopChild(bareServer.child);
  }
  say(`  bare: ${Math.round(bare.requestsPerSec)} req/s, p50 ${bare.latencyMs.p50} ms, p99 ${bare.latencyMs.p99} ms`);

  // (b) crmsync serve, durable webhook endpoint; workers run against the embedded sandbox CRM
  say('ingest: crmsync serve (child process, SQLite in WAL with synchronous=FULL, workers on, embedded sandbox CRM)');
  const dbFile = join(dataDir, 'crmsync.sqlite');
  const server = await startCrmsync({
    env: { CRMSYNC_DATABASE_URL: `sqlite:${dbFile}`, CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_API_TOKEN: API_TOKEN },
    logFile: join(dataDir, 'crmsync.log'),
  });
  let crmsync: LoadResult;
  let warm: LoadResult;
  try {
    warm = await runLoad(load(server.url, settings.warmupSec, 1));
    crmsync = await runLoad(load(server.url, settings.durationSec, 2));
  } finally {
    // Durability: no graceful stop, no flush — the process dies where it stands.
    server.child.kill('SIGKILL');
    await waitForExit(server.child, 10_000);
  }
  say(`  crmsync: ${Math.round(crmsync.requestsPerSec)} req/s, p50 ${crmsync.latencyMs.p50} ms, p99 ${crmsync.latencyMs.p99} ms; killed with SIGKILL`);

  const db = new Database(dbFile);
  let inboxRows: number;
  let pendingJobs: number;
  try {
    inboxRows = Number((db.prepare('select count(*) as n from inbox').get() as { n: number }).n);
    pendingJobs = Number((db.prepare("select count(*) as n from jobs where state in ('pending', 'running')").get() as { n: number }).n);
  } finally {
    db.close();
  }
  const acknowledged = warm.ok2xx + crmsync.ok2xx;
  const durability = { acknowledged, inboxRows, pendingJobs, ok: acknowledged > 0 && inboxRows >= acknowledged };
  say(`  after kill -9: ${inboxRows} inbox rows for ${durability.acknowledged} acknowledged webhooks (${durability.ok ? 'ok' : 'LOST WEBHOOKS'})`);

  let profile: ProfileSummary | null = null;
  const ratio = crmsync.requestsPerSec / bare.requestsPerSec;
  if (settings.profile === 'always' || (settings.profile === 'auto' && ratio < settings.autoProfileBelow)) {
    say(`ingest: ratio ${ratio.toFixed(2)}; profiling crmsync serve (--cpu-prof) under the same load for ${settings.durationSec} s`);
    const profDir = join(dataDir, 'profile');
    const profiled = await startCrmsync({
      env: { CRMSYNC_DATABASE_URL: `sqlite:${join(dataDir, 'profiled.sqlite')}`, CRMSYNC_ACCESS_KEY: ACCESS_KEY, CRMSYNC_API_TOKEN: API_TOKEN },
      logFile: join(dataDir, 'profiled.log'),
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', exitOnSignalModule],
    });
    try {
      await runLoad(load(profiled.url, settings.durationSec, 2));
    } finally {
      // process.exit (not SIGKILL), so Node writes the profile.
      await stopChild(profiled.child, 'SIGUSR2', 20_000).catch(() => profiled.child.kill('SIGKILL'));
    }
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's loader has its own).
    const file = readdirSync(profDir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    if (!file) throw new BenchError(`no main-thread .cpuprofile written in ${profDir}`);
    profile = summarizeProfile(join(profDir, file), { windowMs: settings.durationSec * 1000 + 500 });
  }

  return { settings, target: 'GET /?wpf_action=update&access_key=…&contact_id=N', bare, crmsync, ratio, durability, profile, dataDir };
}
