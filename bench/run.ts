/**
 * `npm run bench`: the ingest and burst benchmarks of issue 2 §9, in one run.
 *
 *   npm run bench                 # both parts (~1–2 min on 2 cores)
 *   npm run bench -- --profile    # always profile crmsync serve under the ingest load
 *   npm run bench -- --no-profile # never (by default: only when the ratio is below 0.25)
 *   npm run bench -- --only=ingest|burst
 *
 * Prints progress to stderr, a markdown report to stdout, and writes the figures to
 * bench/results/latest.json. Exits non-zero when a check fails (lost acknowledged webhooks,
 * a user not equal to the CRM, the CRM's rate limit exceeded).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { runBurst, type BurstReport } from './burst.js';
import { runIngest, type IngestReport } from './ingest.js';
import { renderMarkdown, type BenchReport } from './report.js';

const args = new Set(process.argv.slice(2));
const only = [...args].find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? null;
const profile = args.has('--profile') ? 'always' : args.has('--no-profile') ? 'never' : 'auto';
const say = (line: string) => process.stderr.write(`${line}\n`);

// Hard bound for the whole run: a wedged part must not hang the shell.
const overall = setTimeout(() => {
  say('bench: FAILED — the run took more than 8 minutes');
  process.exit(3);
}, 8 * 60_000);
overall.unref();

const cpus = os.cpus();
const machine = {
  cpu: cpus[0]?.model.trim() ?? 'unknown',
  cores: cpus.length,
  memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  date: new Date().toISOString(),
};
say(`bench: ${machine.cpu} × ${machine.cores}, ${machine.memoryGiB} GiB, Node ${machine.node}`);

const failures: string[] = [];
let ingest: IngestReport | null = null;
let burst: BurstReport | null = null;
const started = Date.now();

try {
  if (only === null || only === 'ingest') {
    ingest = await runIngest({ connections: 50, durationSec: 10, warmupSec: 3, contacts: 10_000, profile, autoProfileBelow: 0.25 }, say);
    if (!ingest.durability.ok) {
      failures.push(`durability: ${ingest.durability.inboxRows} inbox rows after kill -9, but ${ingest.durability.acknowledged} webhooks were acknowledged`);
    }
    if (ingest.crmsync.non2xx > 0) failures.push(`ingest: crmsync answered ${ingest.crmsync.non2xx} non-2xx (${JSON.stringify(ingest.crmsync.statusCodes)})`);
  }
  if (only === null || only === 'burst') {
    burst = await runBurst({ contacts: 1000, webhooksPerContact: 10, concurrency: 32, userEdits: 300, crmRateLimit: 5, timeoutMs: 180_000 }, say);
    if (!burst.goals.allEqual) failures.push(`burst: only ${burst.finalState.equal} of ${burst.finalState.of} users equal the CRM; first mismatches: ${JSON.stringify(burst.finalState.mismatches.slice(0, 5))}`);
    if (!burst.goals.maxPerSecondOk) failures.push(`burst: ${burst.crm.maxPerSecond} CRM calls accepted in one second (limit ${burst.settings.crmRateLimit})`);
    if (burst.webhooks.non2xx > 0) failures.push(`burst: ${burst.webhooks.non2xx} webhooks answered non-2xx`);
    if (burst.queueAfter.dead > 0) failures.push(`burst: ${burst.queueAfter.dead} jobs in dead letters`);
  }
} catch (error) {
  failures.push(`bench error: ${(error as Error)?.stack ?? String(error)}`);
}

const report: BenchReport = { machine, ingest, burst, failures, totalSec: Math.round((Date.now() - started) / 1000) };
const resultsDir = fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(`${resultsDir}latest.json`, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(renderMarkdown(report));
say(`bench: figures written to bench/results/latest.json (${report.totalSec} s)`);
if (failures.length) {
  say(`bench: FAILED\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  process.exit(1);
}
process.exit(0);
