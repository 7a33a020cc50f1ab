import type { BurstReport } from './burst.js';
import { storeName, type IngestReport } from './ingest.js';
import type { InstancesReport } from './instances.js';
import type { LoadResult } from './load.js';
import type { PostgresInfo } from './postgres.js';

export interface BenchReport {
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    os: string;
    node: string;
    date: string;
    /** os.loadavg() (1, 5, 15 min) when the run started and when it ended. */
    loadAverage: { start: number[]; end: number[] };
  };
  postgres: (PostgresInfo & { url: string }) | null;
  /** The parts run (see --only), and those skipped with why. */
  parts: string[];
  skipped: string[];
  ingest: IngestReport | null;
  /** One per store, same settings. */
  burst: BurstReport[];
  instances: InstancesReport | null;
  failures: string[];
  totalSec: number;
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const yes = (ok: boolean) => (ok ? 'yes' : '**NO**');
const la = (x: number[]) => x.map((v) => v.toFixed(2)).join(' / ');
const ratio = (x: number) => `**${x.toFixed(2)}**`;
/** A value, flagged when its goal is missed. */
const flag = (value: string, ok: boolean) => (ok ? value : `${value} **✗**`);
/** A table row: the load figures, then any further cells. */
const loadRow = (label: string, r: LoadResult, ratioCell: string, loadAverage: number, ...more: string[]) =>
  `| ${[label, n(r.requestsPerSec), ratioCell, `${r.latencyMs.p50} ms`, `${r.latencyMs.p99} ms`, n(r.non2xx), n(r.errors), loadAverage.toFixed(2), ...more].join(' | ')} |`;

/** The report as markdown, ready to paste into the README. */
export function renderMarkdown(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`## Benchmark (${m.date.slice(0, 10)})`, '');
  out.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}. ` +
      `Load average (1 / 5 / 15 min) ${la(m.loadAverage.start)} at the start, ${la(m.loadAverage.end)} at the end of the run (${r.totalSec} s).` +
      (r.postgres
        ? ` PostgreSQL ${r.postgres.version} on the same machine (synchronous_commit=${r.postgres.synchronousCommit}, fsync=${r.postgres.fsync}), a fresh database for every measurement.`
        : ''),
    '',
    'This is a shared machine: absolute figures move from run to run with what else runs on it. The ratios are the figures to compare — each is taken side by side in the same run, with the same load generator and settings. The "load avg" column is the 1-minute load average when that measurement started.',
    '',
  );
  if (r.skipped.length) out.push(...r.skipped.map((x) => `- skipped: ${x}`), '');

  const i = r.ingest;
  if (i) {
    const st = i.settings;
    const ingestGoal = (x: number) => `${ratio(x)} (goal ≥ 0.5: ${yes(x >= 0.5)})`;
    out.push(
      `### Ingest — autocannon (own process), ${st.connections} connections, ${st.durationSec} s after a ${st.warmupSec} s warm-up, \`${i.target}\` over ${n(st.contacts)} contact ids`,
      '',
      '| target | accepted webhooks/s | ratio to bare (mean of before and after) | p50 latency | p99 latency | non-2xx | errors | load avg |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      loadRow('bare `node:http`, 200 `{}` (own process), before', i.bare, (i.bare.requestsPerSec / i.bareMean).toFixed(2), i.bareLoadAverage),
      ...i.targets.map((t) => loadRow(`crmsync webhook, durable, ${storeName[t.store]} (\`crmsync serve\`, own process)`, t.result, ingestGoal(t.ratio), t.loadAverage)),
      loadRow('bare `node:http`, after', i.bareAfter, (i.bareAfter.requestsPerSec / i.bareMean).toFixed(2), i.bareAfterLoadAverage),
      '',
      `The bare baseline runs before and after crmsync; each ratio divides by the mean of the two (${n(i.bareMean)} requests/s). The two bare figures show how far the machine's speed drifted meanwhile.`,
      '',
    );
    const sqlite = i.targets.find((t) => t.store === 'sqlite');
    const postgres = i.targets.find((t) => t.store === 'postgres');
    if (sqlite && postgres) out.push(`PostgreSQL / SQLite, same run: **${(postgres.result.requestsPerSec / sqlite.result.requestsPerSec).toFixed(2)}**.`, '');
    out.push(
      `| durability after \`kill -9\` | ${i.targets.map((t) => storeName[t.store]).join(' | ')} |`,
      `| --- | ${i.targets.map(() => '---:').join(' | ')} |`,
      `| webhooks acknowledged (2xx, warm-up + run) | ${i.targets.map((t) => n(t.durability.acknowledged)).join(' | ')} |`,
      `| inbox rows in the database | ${i.targets.map((t) => n(t.durability.inboxRows)).join(' | ')} |`,
      `| contacts with a pending reconcile | ${i.targets.map((t) => n(t.durability.pendingJobs)).join(' | ')} |`,
      `| every acknowledged webhook stored | ${i.targets.map((t) => yes(t.durability.ok)).join(' | ')} |`,
      `| database commits per stored webhook | ${i.targets.map((t) => (t.durability.commitsPerWebhook === null ? '—' : String(t.durability.commitsPerWebhook))).join(' | ')} |`,
      '',
      'Inbox rows may exceed the 2xx count: requests still in flight when autocannon stops are committed but not counted. Workers run during the test (CRM: the embedded sandbox at 5 requests/s), as in production. SQLite runs in WAL mode and crmsync fdatasyncs the WAL (off the event loop) before each answer; PostgreSQL commits with its own settings above. "Database commits per stored webhook" (PostgreSQL’s own count for the database, whole life: migrations, ingest and workers, over the inbox rows) shows how well group commit batched the webhooks.',
      '',
    );
    if (i.profile) {
      const p = i.profile;
      out.push(`#### Profile of crmsync serve on ${storeName[p.store]} under the same load (\`--cpu-prof\`, ${s(p.totalMs)}, busy ${p.busyPct}% of samples; shares of busy time)`, '');
      out.push('| self time by package / file | % |', '| --- | ---: |', ...p.selfByArea.map((a) => `| ${a.area} | ${a.pct} |`), '');
      out.push('| inclusive time by package / file | % |', '| --- | ---: |', ...p.inclusiveByArea.map((a) => `| ${a.area} | ${a.pct} |`), '');
      out.push('| hottest functions (self) | % |', '| --- | ---: |', ...p.topSelf.map((f) => `| \`${f.fn}\` | ${f.pct} |`), '');
      out.push('| hottest functions (inclusive) | % |', '| --- | ---: |', ...p.topInclusive.map((f) => `| \`${f.fn}\` | ${f.pct} |`), '');
    }
  }

  const bs = r.burst;
  if (bs.length) {
    const b0 = bs[0]!;
    const st = b0.settings;
    const row = (label: string, cell: (b: BurstReport) => string, goal = '') => `| ${label} | ${bs.map(cell).join(' | ')} | ${goal} |`;
    out.push(
      `### Burst — ${n(b0.webhooks.sent)} webhooks for ${n(st.contacts)} contacts, sandbox CRM limited to ${st.crmRateLimit} requests/s`,
      '',
      `${b0.mode}. ${st.webhooksPerContact} webhooks per contact, shuffled, ${st.concurrency} in flight; a CRM user edits the tags of ${b0.userEdits} contacts during the burst (each edit also sends the sandbox's own webhook). The same burst (same seed) on each store, one after the other.`,
      '',
      `| measure | ${bs.map((b) => storeName[b.store]).join(' | ')} | goal |`,
      `| --- | ${bs.map(() => '---:').join(' | ')} | --- |`,
      row('webhooks sent by the bench (2xx / non-2xx)', (b) => flag(`${n(b.webhooks.sent)} (${n(b.webhooks.ok2xx)} / ${n(b.webhooks.non2xx)})`, b.webhooks.non2xx === 0), 'all 2xx'),
      row('webhooks sent by the sandbox CRM (user edits)', (b) => `${n(b.webhooks.fromSandbox)}${b.webhooks.sandboxFailed ? ` (${b.webhooks.sandboxFailed} failed)` : ''}`),
      row('time to send the burst', (b) => `${s(b.webhooks.sendMs)} (${n(b.webhooks.perSec)}/s)`),
      row('webhooks coalesced into a pending reconcile', (b) => n(b.webhooks.coalesced)),
      row('reconcile passes', (b) => n(b.reconcilePasses)),
      row('**CRM calls during the burst**', (b) => flag(`**${n(b.crm.calls)}**`, b.goals.callsOk), `≤ ${n(b0.goals.callsAtMost)} (1.1 × contacts)`),
      row('CRM calls per contact', (b) => String(b.crm.callsPerContact), '≤ 1.1'),
      row('429s received', (b) => n(b.crm.rateLimited)),
      row('most calls accepted in one second', (b) => flag(String(b.crm.maxPerSecond), b.goals.maxPerSecondOk), `≤ ${st.crmRateLimit}`),
      row('first webhook → queue drained', (b) => s(b.drainMs)),
      row('dead letters', (b) => flag(n(b.queueAfter.dead), b.queueAfter.dead === 0), '0'),
      row('**users equal to the CRM**', (b) => flag(`**${b.finalState.equal} of ${b.finalState.of}**`, b.goals.allEqual), 'all'),
      row('load avg at the start', (b) => b.loadAverage.toFixed(2)),
      '',
      `The sandbox counts the calls it accepts per epoch second and answers 429 beyond ${st.crmRateLimit}, so "most calls accepted in one second" cannot exceed ${st.crmRateLimit}; the 429 count shows whether crmsync's limiter kept to the limit (on PostgreSQL the limiter's slots live in the database). "Reconcile passes" counts finished passes; each CRM call loads up to 100 contacts. **✗** marks a missed goal.`,
      '',
    );
  }

  const x = r.instances;
  if (x) {
    const st = x.settings;
    out.push(
      `### Ingest with ${st.counts.join(', ')} instances on PostgreSQL — autocannon (one process), ${st.connections} connections spread round-robin over the instances, ${st.durationSec} s after a ${st.warmupSec} s warm-up`,
      '',
      `N \`crmsync serve\` processes on N ports, one fresh PostgreSQL database shared by the N, workers on, one sandbox CRM (in the bench process, ${st.crmRateLimit} requests/s) shared by all; \`${x.target}\` over ${n(st.contacts)} contact ids. Requests/s is the total accepted by all instances; the bare baseline is measured just before with the same load generator and settings.`,
      '',
      '| target | accepted webhooks/s (total) | ratio to bare | p50 latency | p99 latency | non-2xx | errors | load avg | vs 1 instance | connections | stored per instance during the run |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      loadRow('bare `node:http` (one process)', x.bare, '1.00', x.bareLoadAverage, '', String(st.connections), ''),
      ...x.runs.map((run) =>
        loadRow(
          `crmsync, ${run.instances} instance${run.instances > 1 ? 's' : ''}, PostgreSQL`,
          run.result,
          ratio(run.ratio),
          run.loadAverage,
          run.vsOne === null ? '' : run.vsOne.toFixed(2),
          run.connectionsPerInstance.join(' + '),
          run.perInstance.map((c) => (c === null ? '?' : n(c))).join(' / '),
        ),
      ),
      '',
      '| after `kill -9` of every instance | acknowledged (2xx, warm-up + run) | inbox rows | every acknowledged webhook stored | database commits per stored webhook | CRM calls (all instances) | 429s | most CRM calls accepted in one second |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...x.runs.map(
        (run) =>
          `| ${run.instances} instance${run.instances > 1 ? 's' : ''} | ${n(run.durability.acknowledged)} | ${n(run.durability.inboxRows)} | ${yes(run.durability.ok)} | ${run.durability.commitsPerWebhook ?? '—'} | ${n(run.crm.calls)} | ${n(run.crm.rateLimited)} | ${flag(String(run.crm.maxPerSecond), run.crm.maxPerSecond <= st.crmRateLimit)} (limit ${st.crmRateLimit}) |`,
      ),
      '',
      `Everything — load generator, N instances, PostgreSQL — shares the machine's ${m.cores} cores, so more instances cannot add CPU here: the table shows what the shared database and the split cost, not the gain of instances on separate machines.`,
      '',
    );
  }
  if (r.failures.length) out.push('### FAILED', '', ...r.failures.map((f) => `- ${f}`), '');
  return `${out.join('\n')}\n`;
}
