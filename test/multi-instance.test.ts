import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { testDatabase, testDialect } from './support/database.js';

/**
 * Issue 3's multi-instance test: three `crmsync serve` processes on one PostgreSQL schema, the
 * sandbox CRM (in this process) at 5 requests/second, 20,000 webhooks for 2,000 contacts spread
 * over the three, one instance killed with SIGKILL halfway and restarted on its port. Afterwards:
 * every acknowledged webhook was stored and reconciled, every user equals the CRM, the CRM never
 * accepted more than its limit in a second, and no contact was reconciled by two passes at once.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ACCESS_KEY = 'multi-instance-access-key-0123456789';
const API_TOKEN = 'multi-instance-api-token-0123456789';
const CRM_LIMIT = 5;
const CONTACTS = 2_000;
const PER_CONTACT = 10;
const TOTAL = CONTACTS * PER_CONTACT;
const IN_FLIGHT = 30;
const KILL_AT = TOTAL / 2;
/** Sending pauses here until the killed instance is back, so the rest also goes to all three. */
const RESUME_AT = Math.round(TOTAL * 0.65);
const EDITS = 200;
const LEASE_MS = 3_000;
const TEST_TIMEOUT_MS = 290_000;
const TAG_POOL = Array.from({ length: 24 }, (_, i) => `tag-${String(i).padStart(2, '0')}`);

interface Instance {
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
  /** hostname:pid, as the service names its worker. */
  pid: number;
  exited: Promise<void>;
  output: () => string;
}

const children = new Set<ChildProcess>();
const outputs: { name: string; output: () => string }[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
let passed = false;

afterAll(async () => {
  const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  const exits = alive.map((c) => new Promise((resolve) => c.once('exit', resolve)));
  for (const child of alive) child.kill('SIGKILL');
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 10_000))]);
  if (!passed) for (const { name, output } of outputs) if (output()) console.error(`--- ${name} output ---\n${output()}`);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((error) => console.error('cleanup failed:', error));
}, 30_000);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `crmsync serve` as a child process on `port`, resolved once /healthz answers. */
async function serve(name: string, port: number, databaseUrl: string, sandbox: Sandbox): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      HOST: '127.0.0.1',
      CRMSYNC_DATABASE_URL: databaseUrl,
      CRMSYNC_ACCESS_KEY: ACCESS_KEY,
      CRMSYNC_API_TOKEN: API_TOKEN,
      CRMSYNC_CRM: 'sandbox',
      CRMSYNC_CRM_URL: sandbox.url,
      CRMSYNC_CRM_API_KEY: sandbox.apiKey,
      CRMSYNC_CRM_RATE_LIMIT: String(CRM_LIMIT),
      CRMSYNC_LEASE_MS: String(LEASE_MS),
      CRMSYNC_WORKERS: '2',
      CRMSYNC_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  outputs.push({ name: `${name} (pid ${child.pid})`, output: () => output });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${output}`);
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) throw new Error(`${name} did not answer /healthz within 30 s:\n${output}`);
    await sleep(100);
  }
  return { name, port, url, child, pid: child.pid!, exited, output: () => output };
}

/** A deterministic PRNG (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], rnd: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

interface Pass {
  contactId: string;
  worker: string;
  claimedAt: number;
  /** The last log entry of the pass (written in its commit). */
  at: number;
}

describe.skipIf(testDialect !== 'postgres')('multi-instance (PostgreSQL only: runs in the PostgreSQL pass of npm test)', () => {
  it(
    'three instances, one database, 20,000 webhooks, one SIGKILL: nothing lost, users equal the CRM, the rate limit and one pass per contact hold',
    async () => {
      const started = Date.now();
      const deadline = started + TEST_TIMEOUT_MS - 25_000;
      const seed = Number(process.env.CRMSYNC_TEST_SEED ?? started % 100_000);
      const rnd = random(seed);

      const store = await testDatabase();
      cleanups.push(() => store.cleanup());
      const sandbox = await startSandbox({ port: 0, rateLimit: CRM_LIMIT, webhookUrl: null, seed: false });
      cleanups.push(() => sandbox.close());
      const contactIds: string[] = [];
      for (let i = 0; i < CONTACTS; i++) {
        const tags = shuffle([...TAG_POOL], rnd).slice(0, 1 + Math.floor(rnd() * 4));
        contactIds.push(sandbox.state.createContact({ email: `mi-${i}@example.test`, fields: { first_name: `C${i}` }, tags }).id);
      }

      // Three instances on one schema; they migrate it concurrently.
      const ports = [await freePort(), await freePort(), await freePort()];
      const instances = await Promise.all(ports.map((port, i) => serve(`instance ${i + 1}`, port, store.url, sandbox)));
      const workerOf = (instance: Instance) => `:${instance.pid}`;

      // For each contact one `add` and nine `update_tags`/`update`, all shuffled.
      const sends: { contactId: string; action: string }[] = [];
      for (const contactId of contactIds) {
        sends.push({ contactId, action: 'add' });
        for (let k = 1; k < PER_CONTACT; k++) sends.push({ contactId, action: rnd() < 0.5 ? 'update_tags' : 'update' });
      }
      shuffle(sends, rnd);

      const acked = new Map<string, number>();
      let ackedTotal = 0;
      let refused = 0;
      let next = 0;
      let target = 0;
      const retries: { contactId: string; action: string; attempts: number }[] = [];
      const victimIndex = 1;
      let victim: Instance | null = null;
      let runningAtKill = 0;
      let restarted: Promise<void> | null = null;
      const edited: string[] = [];
      const editAt = new Map<string, number>();
      const lastAckAt = new Map<string, number>();

      const post = async (instance: Instance, w: { contactId: string; action: string }): Promise<boolean> => {
        try {
          const res = await fetch(`${instance.url}/?wpf_action=${w.action}&access_key=${ACCESS_KEY}&contact_id=${w.contactId}`, {
            method: 'POST',
            signal: AbortSignal.timeout(15_000),
          });
          const text = await res.text();
          if (res.status !== 200) throw new Error(`${instance.name} answered ${res.status}: ${text}`);
          const body = JSON.parse(text) as { status?: string; contacts?: string[] };
          if (body.status !== 'queued' || body.contacts?.[0] !== w.contactId) throw new Error(`${instance.name} answered ${text}`);
          return true;
        } catch (error) {
          // Only the killed instance may fail (connection refused or reset).
          if (instance !== victim) throw new Error(`webhook for contact ${w.contactId} to ${instance.name} after ${ackedTotal} acks: ${(error as Error).message}`);
          return false;
        }
      };

      const killVictim = async () => {
        const v = instances[victimIndex]!;
        victim = v;
        v.child.kill('SIGKILL');
        await v.exited;
        // What the dead instance had claimed: to be taken over once its lease expires.
        const c = new pg.Client({ connectionString: store.url });
        await c.connect();
        const { rows } = await c.query<{ n: string }>(`select count(*) as n from jobs where state = 'running' and locked_by like $1`, [`%:${v.pid}`]);
        await c.end();
        runningAtKill = Number(rows[0]!.n);
        // Meanwhile a CRM user edits ~200 contacts, each of which still has webhooks to come.
        const remaining = [...new Set(sends.slice(next).map((s) => s.contactId))];
        for (const id of shuffle(remaining, rnd).slice(0, EDITS)) {
          const absent = TAG_POOL.filter((t) => !sandbox.state.get(id)!.tags.includes(t));
          sandbox.state.editAsUser(id, { applyTags: [absent[Math.floor(rnd() * absent.length)]!] });
          edited.push(id);
          editAt.set(id, Date.now());
        }
        // Back on the same port.
        const again = await serve(`${v.name} (restarted)`, v.port, store.url, sandbox);
        instances[victimIndex] = again;
        victim = null;
      };

      const sender = async () => {
        for (;;) {
          let w: { contactId: string; action: string; attempts: number } | undefined = retries.shift();
          if (!w) {
            if (next >= TOTAL) return;
            if (next >= RESUME_AT && restarted && victim) await restarted;
            if (next >= TOTAL) return;
            w = { ...sends[next++]!, attempts: 0 };
          }
          // Round robin; after a failure, the next instance (as a CRM retries).
          const instance = instances[(target++ + w.attempts) % instances.length]!;
          if (await post(instance, w)) {
            acked.set(w.contactId, (acked.get(w.contactId) ?? 0) + 1);
            lastAckAt.set(w.contactId, Date.now());
            if (++ackedTotal === KILL_AT) restarted = killVictim();
            if (process.env.CRMSYNC_TEST_VERBOSE && ackedTotal % 1000 === 0) console.log(`${((Date.now() - sendStart) / 1000).toFixed(1)} s: ${ackedTotal} acked, CRM calls ${sandbox.stats().calls}`);
          } else {
            refused++;
            if (++w.attempts > 20) throw new Error(`webhook for contact ${w.contactId} refused 20 times`);
            retries.push(w);
            await sleep(20);
          }
        }
      };
      const sendStart = Date.now();
      await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
      if (restarted) await restarted;
      const sendMs = Date.now() - sendStart;

      expect(victim, 'the killed instance is back').toBeNull();
      expect(ackedTotal, 'every webhook acknowledged (refused ones resent)').toBe(TOTAL);
      expect(edited).toHaveLength(EDITS);
      const unnotified = edited.filter((id) => !(lastAckAt.get(id)! > editAt.get(id)!));
      expect(unnotified, 'edited contacts with a webhook acknowledged after the edit').toEqual([]);

      // Drain: nothing pending, retrying, running or dead.
      const api = async (instance: Instance, path: string) =>
        (await fetch(`${instance.url}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` }, signal: AbortSignal.timeout(10_000) })).json() as Promise<any>;
      const drainStart = Date.now();
      let counts: { pending: number; running: number; retrying: number; dead: number } | null = null;
      for (let i = 0; ; i++) {
        ({ counts } = await api(instances[i % 3]!, '/api/queue'));
        if (counts!.pending + counts!.running + counts!.retrying === 0) break;
        if (Date.now() > Math.min(deadline, drainStart + 240_000)) throw new Error(`the queue did not drain: ${JSON.stringify(counts)}`);
        await sleep(250);
      }
      const drainMs = Date.now() - drainStart;
      expect(counts!.dead, 'dead letters').toBe(0);

      const db = new pg.Client({ connectionString: store.url });
      await db.connect();
      cleanups.push(() => db.end());
      const one = async (text: string, values?: unknown[]) => Number(Object.values((await db.query(text, values)).rows[0]!)[0]);

      // (a) Every acknowledged webhook was stored, and every contact with one has its user.
      const inboxRows = await one('select count(*) from inbox');
      expect(inboxRows, 'inbox rows vs acknowledged webhooks').toBeGreaterThanOrEqual(ackedTotal);
      const users = new Map<string, number>((await db.query<{ id: number; contact_id: string }>('select id, contact_id from users')).rows.map((r) => [r.contact_id, Number(r.id)]));
      expect([...acked.keys()].filter((id) => !users.has(id)), 'contacts with an acknowledged webhook but no user').toEqual([]);

      // (b) Every user's tags equal the CRM's.
      const tagsOf = new Map<number, string[]>();
      for (const r of (await db.query<{ user_id: number; tag: string }>('select user_id, tag from user_tags')).rows) {
        const list = tagsOf.get(Number(r.user_id)) ?? [];
        list.push(r.tag);
        tagsOf.set(Number(r.user_id), list);
      }
      const differing = contactIds.filter((id) => {
        const local = [...(tagsOf.get(users.get(id) ?? -1) ?? [])].sort();
        return JSON.stringify(local) !== JSON.stringify([...sandbox.state.get(id)!.tags].sort());
      });
      const equal = CONTACTS - differing.length;
      expect(differing.slice(0, 20), `users equal to the CRM: ${equal} of ${CONTACTS}`).toEqual([]);

      // (c) The CRM never accepted more than its limit in one second, from its own counters.
      const stats = sandbox.stats();

      // (d) No contact was reconciled by two passes at once: a pass holds its contact from its
      // claim to its commit; passes of one contact must follow one another.
      const logRows = (await db.query<{ contact_id: string; at: number; context: string }>(`select contact_id, at, context from log where source = 'reconcile' and contact_id is not null and context is not null`)).rows;
      const passes = new Map<string, Pass>();
      for (const r of logRows) {
        const pass = (JSON.parse(r.context) as { pass?: { worker: string; claimedAt: number } }).pass;
        if (!pass) continue;
        const key = `${r.contact_id}|${pass.worker}|${pass.claimedAt}`;
        const p = passes.get(key);
        if (p) p.at = Math.max(p.at, Number(r.at));
        else passes.set(key, { contactId: r.contact_id, worker: pass.worker, claimedAt: Number(pass.claimedAt), at: Number(r.at) });
      }
      const byContact = new Map<string, Pass[]>();
      for (const p of passes.values()) byContact.set(p.contactId, [...(byContact.get(p.contactId) ?? []), p]);
      const overlaps: string[] = [];
      for (const list of byContact.values()) {
        list.sort((a, b) => a.claimedAt - b.claimedAt || a.at - b.at);
        for (let i = 1; i < list.length; i++) {
          const [a, b] = [list[i - 1]!, list[i]!];
          if (b.claimedAt < a.at) overlaps.push(`contact ${a.contactId}: ${a.worker} [${a.claimedAt}, ${a.at}] and ${b.worker} [${b.claimedAt}, ${b.at}]`);
        }
      }
      const workers = new Set([...passes.values()].map((p) => p.worker));

      // (e) The killed instance's claimed work was taken over (or put back when it restarted).
      const recoveries = (await db.query<{ message: string }>(`select message from log where source in ('service', 'queue')`)).rows
        .map((r) => /^(\d+) interrupted reconcile\(s\) put back in the queue$|^took over (\d+) job\(s\) whose worker stopped renewing its lease$/.exec(r.message))
        .reduce((n, m) => n + (m ? Number(m[1] ?? m[2]) : 0), 0);
      const stillRunning = await one(`select count(*) from jobs where state = 'running'`);
      // Passes fenced off because their job was taken over (their lease expired while they worked).
      const abandoned = await one(`select count(*) from log where source = 'reconcile' and message like '% abandoned: %'`);

      console.log(
        `multi-instance (seed ${seed}): ${ackedTotal} webhooks acked in ${(sendMs / 1000).toFixed(1)} s (${refused} refused by the killed instance and resent), ` +
          `${inboxRows} inbox rows, ${passes.size} passes by ${workers.size} workers, ${stats.calls} CRM calls, ${stats.rateLimited} × 429, max ${stats.maxPerSecond}/s, ` +
          `${runningAtKill} job(s) running at the kill, ${recoveries} taken over, ${abandoned} pass(es) abandoned, drained in ${(drainMs / 1000).toFixed(1)} s, users equal to the CRM: ${equal}/${CONTACTS}`,
      );

      expect(stats.maxPerSecond, 'CRM calls accepted in one second').toBeLessThanOrEqual(CRM_LIMIT);
      expect(overlaps.slice(0, 20), `${overlaps.length} overlapping passes`).toEqual([]);
      expect(workers.size, 'passes from the three instances and the restarted one').toBeGreaterThanOrEqual(3);
      expect([...workers].some((w) => w.endsWith(workerOf(instances[victimIndex]!))), 'the restarted instance worked').toBe(true);
      expect(stillRunning, 'jobs left running').toBe(0);
      // Mid-burst, the killed instance had passes under way; all of them were taken over (by lease
      // expiry, or put back when it restarted), and none was abandoned midway by a live worker.
      expect(runningAtKill, 'jobs running on the instance at its kill').toBeGreaterThan(0);
      expect(recoveries, 'jobs of the killed instance taken over').toBeGreaterThanOrEqual(runningAtKill);
      passed = true;
    },
    TEST_TIMEOUT_MS,
  );
});
