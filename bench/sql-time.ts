/**
 * Diagnostic (not part of `npm run bench`): where the webhook endpoint's time goes in SQLite.
 * Runs the service in this process (as `crmsync serve` wires it: workers on, embedded sandbox
 * CRM at 5/s), drives it with autocannon from a child process, and times every better-sqlite3
 * statement (prepare, run/all/get) by its SQL text.
 *
 *   npx tsx bench/sql-time.ts [seconds=10] [workers=on|off]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';
import { runLoad } from './children.js';

const seconds = Number(process.argv[2] ?? 10);
const workers = (process.argv[3] ?? 'on') !== 'off';
const timing = new Map<string, { n: number; ms: number }>();
const add = (sql: string, ms: number) => {
  const key = sql.replace(/\s+/g, ' ').slice(0, 110);
  const t = timing.get(key) ?? { n: 0, ms: 0 };
  t.n++;
  t.ms += ms;
  timing.set(key, t);
};
let prepareMs = 0;
let prepares = 0;
const probe = new SQLite(':memory:');
const stmtProto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown> & { source: string };
for (const method of ['run', 'all', 'get'] as const) {
  const original = stmtProto[method]!;
  stmtProto[method] = function (this: { source: string }, ...args: unknown[]) {
    const t = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      add(this.source, performance.now() - t);
    }
  };
}
const dbProto = Object.getPrototypeOf(probe) as { prepare: (sql: string) => unknown };
const originalPrepare = dbProto.prepare;
dbProto.prepare = function (this: unknown, sql: string) {
  const t = performance.now();
  try {
    return originalPrepare.call(this, sql);
  } finally {
    prepareMs += performance.now() - t;
    prepares++;
  }
};
probe.close();

const dir = mkdtempSync(join(tmpdir(), 'crmsync-sqltime-'));
const accessKey = 'bench-access-key-0123456789abcdef';
const config = loadConfig({ PORT: '0', CRMSYNC_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, CRMSYNC_ACCESS_KEY: accessKey, CRMSYNC_API_TOKEN: 'bench-api-token-0123456789abcdef' });
const service = await startService(config, { logger: pino({ level: 'silent' }), workers, sandboxPort: 0 });
timing.clear();
prepareMs = 0;
prepares = 0;
const started = performance.now();
const cpu0 = process.cpuUsage();
const result = await runLoad({ url: service.url, accessKey, connections: 50, durationSec: seconds, contacts: 10_000, seed: 2 });
const wallMs = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
await service.stop();

const rows = [...timing].sort((a, b) => b[1].ms - a[1].ms);
const sqlMs = rows.reduce((s, [, t]) => s + t.ms, 0);
console.log(`workers ${workers ? 'on' : 'off'}: ${Math.round(result.requestsPerSec)} webhooks/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`);
console.log(`wall ${Math.round(wallMs)} ms, process CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms (user ${Math.round(cpu.user / 1000)}, system ${Math.round(cpu.system / 1000)})`);
console.log(`statement execution ${Math.round(sqlMs)} ms (${((100 * sqlMs) / wallMs).toFixed(1)}% of wall); prepare ${Math.round(prepareMs)} ms for ${prepares} prepares (${((100 * prepareMs) / wallMs).toFixed(1)}% of wall)`);
console.log('| ms | % wall | count | µs each | statement |\n| ---: | ---: | ---: | ---: | --- |');
for (const [sql, t] of rows.slice(0, 20)) console.log(`| ${Math.round(t.ms)} | ${((100 * t.ms) / wallMs).toFixed(1)} | ${t.n} | ${Math.round((1000 * t.ms) / t.n)} | \`${sql}\` |`);
process.exit(0);
