/**
 * `npm run bench`: ingest and burst (issue 2 §9) on SQLite and PostgreSQL side by side, and
 * ingest with 1, 2 and 3 instances on one PostgreSQL (issue 3), in one run (~4–5 min on 2 cores).
 *
 *   npm run bench                          # everything
 *   npm run bench -- --only=ingest         # parts, comma-separated: ingest, burst, sqlite, postgres, instances
 *   npm run bench -- --only=postgres       #   (ingest = both stores; postgres = ingest + burst on PostgreSQL)
 *   npm run bench -- --profile             # always profile crmsync serve under the ingest load
 *   npm run bench -- --no-profile          # never (by default: only when the first ratio is below 0.25)
 *
 * PostgreSQL: CRMSYNC_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test; each
 * measurement runs in a fresh database (see bench/postgres.ts), dropped afterwards. Without PostgreSQL its parts are
 * skipped (and the run fails only if they were asked for with --only).
 *
 * Prints progress to stderr, a markdown report to stdout, and writes the figures to
 * bench/results/latest.json. Exits non-zero when a check fails (lost acknowledged webhooks,
 * a user not equal to the CRM, the CRM's rate limit exceeded, non-2xx answers).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { runBurst, type BurstReport } from './burst.js';
import { runIngest, type IngestReport, type Store } from './ingest.js';
import { runInstances, type InstancesReport } from './instances.js';
import { dropLiveDatabases, dropStaleDatabases, postgresInfo, postgresUnavailable, shownPostgresUrl } from './postgres.js';
import { renderMarkdown, type BenchReport } from './report.js';

const PARTS = ['ingest-sqlite', 'ingest-postgres', 'burst-sqlite', 'burst-postgres', 'instances'] as const;
type Part = (typeof PARTS)[number];
const ALIASES: Record<string, Part[]> = {
  all: [...PARTS],
  ingest: ['ingest-sqlite', 'ingest-postgres'],
  burst: ['burst-sqlite', 'burst-postgres'],
  sqlite: ['ingest-sqlite', 'burst-sqlite'],
  postgres: ['ingest-postgres', 'burst-postgres'],
  instances: ['instances'],
  ...Object.fromEntries(PARTS.map((p) => [p, [p]])),
};

const say = (line: string) => process.stderr.write(`${line}\n`);
const argv = process.argv.slice(2);
const args = new Set(argv);
const onlyArg = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? null;
const profile = args.has('--profile') ? 'always' : args.has('--no-profile') ? 'never' : 'auto';
const unknownArgs = argv.filter((a) => !a.startsWith('--only=') && a !== '--profile' && a !== '--no-profile');
const unknownParts = onlyArg === null ? [] : onlyArg.split(',').filter((p) => !(p in ALIASES));
if (unknownArgs.length || unknownParts.length || onlyArg === '') {
  say(`bench: unknown ${unknownArgs.length ? `option(s) ${unknownArgs.join(' ')}` : `part(s) ${unknownParts.join(',') || '(empty)'}`}`);
  say(`usage: npm run bench -- [--only=${Object.keys(ALIASES).join('|')}[,…]] [--profile|--no-profile]`);
  process.exit(2);
}
const wanted = new Set<Part>(onlyArg === null ? PARTS : onlyArg.split(',').flatMap((p) => ALIASES[p]!));

// On an early end (Ctrl-C, kill, the overall bound): drop this run's PostgreSQL databases (bounded),
// then exit; the 'exit' hook of children.ts kills every child still running, by pid.
let ending = false;
async function endNow(code: number, why: string): Promise<never> {
  if (!ending) {
    ending = true;
    say(`bench: ${why}`);
    await Promise.race([dropLiveDatabases().catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void endNow(130, `stopped by ${signal}`));
// Hard bound for the whole run: a wedged part must not hang the shell.
const overall = setTimeout(() => void endNow(3, 'FAILED — the run took more than 8 minutes'), 8 * 60_000);
overall.unref();

const loadavg = () => os.loadavg().map((v) => Math.round(v * 100) / 100);
const cpus = os.cpus();
const machine: BenchReport['machine'] = {
  cpu: cpus[0]?.model.trim() ?? 'unknown',
  cores: cpus.length,
  memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  date: new Date().toISOString(),
  loadAverage: { start: loadavg(), end: [] },
};
say(`bench: ${machine.cpu} × ${machine.cores}, ${machine.memoryGiB} GiB, Node ${machine.node}, load average ${machine.loadAverage.start.join(' / ')}`);
say(`bench: parts ${[...wanted].join(', ')}`);

const failures: string[] = [];
const skipped: string[] = [];
let postgres: BenchReport['postgres'] = null;
const pgParts = [...wanted].filter((p) => p.endsWith('postgres') || p === 'instances');
if (pgParts.length) {
  const why = await postgresUnavailable();
  if (why) {
    for (const p of pgParts) wanted.delete(p);
    skipped.push(`${pgParts.join(', ')}: ${why}`);
    say(`bench: SKIPPED ${pgParts.join(', ')}: ${why}`);
    if (onlyArg !== null) failures.push(`${pgParts.join(', ')} asked for, but ${why}`);
  } else {
    postgres = { url: shownPostgresUrl, ...(await postgresInfo()) };
    const stale = await dropStaleDatabases();
    say(`bench: PostgreSQL ${postgres.version} at ${shownPostgresUrl} (synchronous_commit=${postgres.synchronousCommit}, fsync=${postgres.fsync})${stale.length ? `; dropped ${stale.length} database(s) left by dead bench runs` : ''}`);
  }
}

let ingest: IngestReport | null = null;
const burst: BurstReport[] = [];
let instances: InstancesReport | null = null;
const started = Date.now();
const shape = { connections: 50, durationSec: 10, warmupSec: 3, contacts: 10_000 };
const part = async (name: string, fn: () => Promise<void>) => {
  try {
    await fn();
  } catch (error) {
    failures.push(`${name}: ${(error as Error)?.stack ?? String(error)}`);
    say(`bench: ${name} FAILED: ${(error as Error)?.message ?? String(error)}`);
  }
};

const ingestStores = (['sqlite', 'postgres'] as Store[]).filter((s) => wanted.has(`ingest-${s}`));
if (ingestStores.length) {
  await part('ingest', async () => {
    ingest = await runIngest({ ...shape, stores: ingestStores, profile, autoProfileBelow: 0.25 }, say);
    for (const t of ingest.targets) {
      if (!t.durability.ok) failures.push(`ingest ${t.store}: ${t.durability.inboxRows} inbox rows after kill -9, but ${t.durability.acknowledged} webhooks were acknowledged`);
      if (t.result.non2xx > 0) failures.push(`ingest ${t.store}: crmsync answered ${t.result.non2xx} non-2xx (${JSON.stringify(t.result.statusCodes)})`);
    }
  });
}
for (const store of ['sqlite', 'postgres'] as Store[]) {
  if (!wanted.has(`burst-${store}`)) continue;
  await part(`burst ${store}`, async () => {
    const b = await runBurst({ store, contacts: 1000, webhooksPerContact: 10, concurrency: 32, userEdits: 300, crmRateLimit: 5, timeoutMs: 120_000 }, say);
    burst.push(b);
    if (!b.goals.allEqual) failures.push(`burst ${store}: only ${b.finalState.equal} of ${b.finalState.of} users equal the CRM; first mismatches: ${JSON.stringify(b.finalState.mismatches.slice(0, 5))}`);
    if (!b.goals.maxPerSecondOk) failures.push(`burst ${store}: ${b.crm.maxPerSecond} CRM calls accepted in one second (limit ${b.settings.crmRateLimit})`);
    if (b.webhooks.non2xx > 0) failures.push(`burst ${store}: ${b.webhooks.non2xx} webhooks answered non-2xx`);
    if (b.queueAfter.dead > 0) failures.push(`burst ${store}: ${b.queueAfter.dead} jobs in dead letters`);
  });
}
if (wanted.has('instances')) {
  await part('instances', async () => {
    instances = await runInstances({ ...shape, counts: [1, 2, 3], crmRateLimit: 5 }, say);
    for (const run of instances.runs) {
      if (!run.durability.ok) failures.push(`instances ${run.instances}: ${run.durability.inboxRows} inbox rows after kill -9, but ${run.durability.acknowledged} webhooks were acknowledged`);
      if (run.result.non2xx > 0) failures.push(`instances ${run.instances}: ${run.result.non2xx} non-2xx (${JSON.stringify(run.result.statusCodes)})`);
      if (run.crm.maxPerSecond > instances.settings.crmRateLimit) failures.push(`instances ${run.instances}: ${run.crm.maxPerSecond} CRM calls accepted in one second (limit ${instances.settings.crmRateLimit})`);
    }
  });
}

machine.loadAverage.end = loadavg();
const report: BenchReport = {
  machine,
  postgres,
  parts: [...wanted],
  skipped,
  ingest,
  burst,
  instances,
  failures,
  totalSec: Math.round((Date.now() - started) / 1000),
};
const resultsDir = fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(`${resultsDir}latest.json`, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(renderMarkdown(report));
say(`bench: figures written to bench/results/latest.json (${report.totalSec} s, load average now ${machine.loadAverage.end.join(' / ')})`);
if (failures.length) {
  say(`bench: FAILED\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  process.exit(1);
}
process.exit(0);
