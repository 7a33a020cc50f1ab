import type { BurstReport } from './burst.js';
import type { IngestReport } from './ingest.js';

export interface BenchReport {
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string; date: string };
  ingest: IngestReport | null;
  burst: BurstReport | null;
  failures: string[];
  totalSec: number;
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const yes = (ok: boolean) => (ok ? 'yes' : '**NO**');

/** The report as markdown, ready to paste into the README. */
export function renderMarkdown(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`## Benchmark (${m.date.slice(0, 10)})`, '');
  out.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}.`, '');

  const i = r.ingest;
  if (i) {
    const st = i.settings;
    out.push(
      `### Ingest — autocannon (own process), ${st.connections} connections, ${st.durationSec} s after a ${st.warmupSec} s warm-up, \`${i.target}\` over ${n(st.contacts)} contact ids`,
      '',
      '| target | requests/s | p50 latency | p99 latency | non-2xx | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      `| bare \`node:http\`, 200 \`{}\` (own process) | ${n(i.bare.requestsPerSec)} | ${i.bare.latencyMs.p50} ms | ${i.bare.latencyMs.p99} ms | ${n(i.bare.non2xx)} | ${n(i.bare.errors)} |`,
      `| crmsync webhook, durable (\`crmsync serve\`, own process) | ${n(i.crmsync.requestsPerSec)} | ${i.crmsync.latencyMs.p50} ms | ${i.crmsync.latencyMs.p99} ms | ${n(i.crmsync.non2xx)} | ${n(i.crmsync.errors)} |`,
      `| **ratio crmsync / bare** | **${i.ratio.toFixed(2)}** (goal ≥ 0.5: ${yes(i.ratio >= 0.5)}) | | | | |`,
      '',
      '| durability after `kill -9` | |',
      '| --- | ---: |',
      `| webhooks acknowledged (2xx, warm-up + run) | ${n(i.durability.acknowledged)} |`,
      `| inbox rows in the SQLite file | ${n(i.durability.inboxRows)} |`,
      `| contacts with a pending reconcile | ${n(i.durability.pendingJobs)} |`,
      `| every acknowledged webhook stored | ${yes(i.durability.ok)} |`,
      '',
      'Inbox rows may exceed the 2xx count: requests still in flight when autocannon stops are committed but not counted. Workers run during the test (CRM: the embedded sandbox at 5 requests/s), as in production.',
      '',
    );
    if (i.profile) {
      const p = i.profile;
      out.push(`#### Profile of crmsync serve under the same load (\`--cpu-prof\`, ${s(p.totalMs)}, busy ${p.busyPct}% of samples; shares of busy time)`, '');
      out.push('| self time by package / file | % |', '| --- | ---: |', ...p.selfByArea.map((a) => `| ${a.area} | ${a.pct} |`), '');
      out.push('| inclusive time by package / file | % |', '| --- | ---: |', ...p.inclusiveByArea.map((a) => `| ${a.area} | ${a.pct} |`), '');
      out.push('| hottest functions (self) | % |', '| --- | ---: |', ...p.topSelf.map((f) => `| \`${f.fn}\` | ${f.pct} |`), '');
      out.push('| hottest functions (inclusive) | % |', '| --- | ---: |', ...p.topInclusive.map((f) => `| \`${f.fn}\` | ${f.pct} |`), '');
    }
  }

  const b = r.burst;
  if (b) {
    const st = b.settings;
    out.push(
      `### Burst — ${n(b.webhooks.sent)} webhooks for ${n(st.contacts)} contacts, sandbox CRM limited to ${st.crmRateLimit} requests/s`,
      '',
      `${b.mode}. ${st.webhooksPerContact} webhooks per contact, shuffled, ${st.concurrency} in flight; a CRM user edits the tags of ${b.userEdits} contacts during the burst (each edit also sends the sandbox's own webhook).`,
      '',
      '| measure | value | goal |',
      '| --- | ---: | --- |',
      `| webhooks sent by the bench (2xx / non-2xx) | ${n(b.webhooks.sent)} (${n(b.webhooks.ok2xx)} / ${n(b.webhooks.non2xx)}) | all 2xx |`,
      `| webhooks sent by the sandbox CRM (user edits) | ${n(b.webhooks.fromSandbox)}${b.webhooks.sandboxFailed ? ` (${b.webhooks.sandboxFailed} failed)` : ''} | |`,
      `| time to send the burst | ${s(b.webhooks.sendMs)} (${n(b.webhooks.perSec)}/s) | |`,
      `| webhooks coalesced into a pending reconcile | ${n(b.webhooks.coalesced)} | |`,
      `| reconcile passes | ${n(b.reconcilePasses)} | |`,
      `| **CRM calls during the burst** | **${n(b.crm.calls)}** | ≤ ${n(b.goals.callsAtMost)} (1.1 × contacts): ${yes(b.goals.callsOk)} |`,
      `| CRM calls per contact | ${b.crm.callsPerContact} | ≤ 1.1 |`,
      `| 429s received | ${n(b.crm.rateLimited)} | |`,
      `| most calls accepted in one second | ${b.crm.maxPerSecond} | ≤ ${st.crmRateLimit}: ${yes(b.goals.maxPerSecondOk)} |`,
      `| first webhook → queue drained | ${s(b.drainMs)} | |`,
      `| dead letters | ${n(b.queueAfter.dead)} | 0 |`,
      `| **users equal to the CRM** | **${b.finalState.equal} of ${b.finalState.of}** | all |`,
      '',
      `The sandbox counts the calls it accepts per epoch second and answers 429 beyond ${st.crmRateLimit}, so "most calls accepted in one second" cannot exceed ${st.crmRateLimit}; the 429 count shows whether crmsync's limiter kept to the limit. "Reconcile passes" counts finished passes; each CRM call loads up to 100 contacts.`,
      '',
    );
  }
  if (r.failures.length) out.push('### FAILED', '', ...r.failures.map((f) => `- ${f}`), '');
  return `${out.join('\n')}\n`;
}
