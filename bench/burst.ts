import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { startService, type Service } from '../src/service.js';
import { insertUser } from '../src/store/users.js';
import { BenchError, sleep } from './children.js';
import { freshDatabase, load1, storeName, type Store } from './ingest.js';

export interface BurstSettings {
  contacts: number;
  webhooksPerContact: number;
  /** Webhooks in flight at once (10–50). */
  concurrency: number;
  /** Contacts a CRM user edits (tags) while the burst runs. */
  userEdits: number;
  /** The sandbox CRM's real limit (429 beyond it). */
  crmRateLimit: number;
  /** Upper bound for sending + draining, ms. */
  timeoutMs: number;
}

export interface BurstStoreSettings extends BurstSettings {
  store: Store;
}

export interface BurstReport {
  settings: BurstSettings;
  store: Store;
  mode: string;
  /** 1-minute load average when the burst started. */
  loadAverage: number;
  webhooks: { sent: number; ok2xx: number; non2xx: number; sendMs: number; perSec: number; coalesced: number; fromSandbox: number; sandboxFailed: number };
  userEdits: number;
  crm: { calls: number; rateLimited: number; accepted: number; maxPerSecond: number; callsPerContact: number; perSecond: Record<string, number> };
  reconcilePasses: number;
  drainMs: number;
  queueAfter: { pending: number; retrying: number; running: number; dead: number };
  finalState: { equal: number; of: number; mismatches: { contactId: string; local: string[] | null; crm: string[] }[] };
  goals: { callsAtMost: number; callsOk: boolean; maxPerSecondOk: boolean; allEqual: boolean };
}

const TAGS = ['customer', 'newsletter', 'member', 'vip', 'course-101', 'course-202', 'trial', 'webinar', 'churn-risk', 'partner', 'beta', 'lead'];
const ACCESS_KEY = 'bench-access-key-0123456789abcdef';
const API_TOKEN = 'bench-api-token-0123456789abcdef';

/** Mulberry32: a small seeded PRNG, so every run sends the same burst. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const sorted = (tags: readonly string[]) => [...tags].sort();
const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && sorted(a).every((t, i) => t === sorted(b)[i]);

/** The same burst (same seed, same settings) on a fresh database of `settings.store`'s kind. */
export async function runBurst(storeSettings: BurstStoreSettings, say: (line: string) => void): Promise<BurstReport> {
  const { store, ...settings } = storeSettings;
  const random = rng(20261128);
  const dir = mkdtempSync(join(tmpdir(), 'crmsync-bench-burst-'));
  const database = await freshDatabase(store, dir, 'crmsync');
  try {
    // Only what is written here: CRMSYNC_CRM_RATE_LIMIT stays unset, so the adapter's documented 5/s is used.
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      CRMSYNC_DATABASE_URL: database.url,
      CRMSYNC_ACCESS_KEY: ACCESS_KEY,
      CRMSYNC_API_TOKEN: API_TOKEN,
    });
    const service = await startService(config, {
      logger: pino({ level: 'silent' }),
      workers: true,
      listen: true,
      sandboxPort: 0,
      sandboxRateLimit: settings.crmRateLimit,
    });
    try {
      return await burst(service, settings, store, random, say);
    } finally {
      // Bounded: a stop that hangs (waiting for a CRM call, say) must not hold the run.
      await Promise.race([
        service.stop(),
        sleep(20_000).then(() => {
          throw new BenchError('burst: the service did not stop within 20 s');
        }),
      ]);
    }
  } finally {
    await database.drop();
  }
}

async function burst(service: Service, settings: BurstSettings, store: Store, random: () => number, say: (line: string) => void): Promise<BurstReport> {
  const sandbox = service.sandbox;
  if (!sandbox) throw new BenchError('the service did not start its embedded sandbox CRM');
  const { db, clock, metrics } = service.engine;

  // Set-up: contacts in the CRM (source "seed": no webhooks) and their users, equal to them.
  say(`burst on ${storeName[store]}: set-up — ${settings.contacts} contacts in the sandbox CRM, ${settings.contacts} users inserted through the store`);
  const contacts = Array.from({ length: settings.contacts }, (_, i) => {
    const tags = shuffle([...TAGS], random).slice(0, 1 + Math.floor(random() * 3));
    return sandbox.state.createContact(
      { email: `bench-${i + 1}@example.com`, fields: { first_name: `Bench${i + 1}`, last_name: 'User', phone: null }, tags },
      'seed',
    );
  });
  await db.transaction().execute(async (trx) => {
    for (const c of contacts) {
      await insertUser(trx, { email: c.email, contactId: c.id, role: 'subscriber', fields: c.fields, tags: c.tags, crmState: { tags: c.tags, fields: c.fields } }, clock.now());
    }
  });

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(service.url + path, { headers: { authorization: `Bearer ${API_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new BenchError(`GET ${path} answered ${res.status}`);
    return (await res.json()) as T;
  };
  const queue = () => api<{ counts: BurstReport['queueAfter'] }>('/api/queue?limit=1').then((q) => q.counts);

  const before = await queue();
  if (before.pending + before.running + before.retrying !== 0) throw new BenchError(`queue not empty before the burst: ${JSON.stringify(before)}`);
  const reset = await fetch(`${sandbox.url}/_sandbox/stats/reset`, { method: 'POST', headers: { authorization: `Bearer ${sandbox.apiKey}` } });
  if (!reset.ok) throw new BenchError(`sandbox stats reset answered ${reset.status}`);
  const coalescedBefore = (await metrics.webhooksCoalesced.get()).values.reduce((s, v) => s + v.value, 0);
  const passesBefore = (await metrics.reconciles.get()).values.reduce((s, v) => s + v.value, 0);

  // The burst: every contact webhooksPerContact times, shuffled; user edits interleaved.
  const sends = shuffle(
    contacts.flatMap((c) => Array.from({ length: settings.webhooksPerContact }, (_, k) => ({ contactId: c.id, action: k % 3 === 0 ? 'update_tags' : 'update' }))),
    random,
  );
  const edited = shuffle([...contacts], random).slice(0, settings.userEdits);
  const editAt = edited.map(() => Math.floor(random() * sends.length)).sort((a, b) => a - b);
  let nextEdit = 0;
  const editsDone = (upTo: number) => {
    while (nextEdit < edited.length && editAt[nextEdit]! <= upTo) {
      const c = sandbox.state.get(edited[nextEdit]!.id)!;
      const absent = TAGS.filter((t) => !c.tags.includes(t));
      const remove = c.tags.length && random() < 0.5 ? [c.tags[Math.floor(random() * c.tags.length)]!] : [];
      sandbox.state.editAsUser(c.id, { applyTags: [absent[Math.floor(random() * absent.length)]!], removeTags: remove });
      nextEdit++;
    }
  };

  const loadAverage = load1();
  say(`  ${sends.length} webhooks for ${settings.contacts} contacts, ${settings.concurrency} in flight, shuffled; a CRM user edits ${edited.length} contacts meanwhile (the sandbox's own webhooks are on)`);
  const base = `${service.url}/?access_key=${encodeURIComponent(ACCESS_KEY)}`;
  let index = 0;
  let ok2xx = 0;
  let non2xx = 0;
  const deadline = Date.now() + settings.timeoutMs;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: settings.concurrency }, async () => {
      while (index < sends.length) {
        if (Date.now() > deadline) throw new BenchError('burst: sending timed out');
        const i = index++;
        editsDone(i);
        const s = sends[i]!;
        const res = await fetch(`${base}&wpf_action=${s.action}&contact_id=${s.contactId}`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
        await res.body?.cancel();
        if (res.status >= 200 && res.status < 300) ok2xx++;
        else non2xx++;
      }
    }),
  );
  editsDone(Number.POSITIVE_INFINITY);
  const sendMs = Date.now() - t0;
  say(`  sent in ${(sendMs / 1000).toFixed(1)} s (${Math.round(sends.length / (sendMs / 1000))}/s), ${non2xx} non-2xx; waiting for the queue to drain`);

  // Drained = the sandbox has delivered its own webhooks and nothing is pending, retrying or running.
  let after: BurstReport['queueAfter'];
  let lastSay = Date.now();
  for (;;) {
    if (Date.now() > deadline) throw new BenchError(`burst: queue not drained within ${settings.timeoutMs / 1000} s: ${JSON.stringify(await queue())}`);
    const idle = sandbox.stats().webhooksHeld === 0 && (await Promise.race([sandbox.webhooks.idle().then(() => true), sleep(0).then(() => false)]));
    after = await queue();
    if (idle && after.pending + after.running + after.retrying === 0) break;
    if (Date.now() - lastSay > 5000) {
      lastSay = Date.now();
      say(`  … ${Math.round((Date.now() - t0) / 1000)} s: queue ${JSON.stringify(after)}, CRM calls so far ${sandbox.stats().calls}`);
    }
    await sleep(100);
  }
  const drainMs = Date.now() - t0;
  const stats = sandbox.stats();
  const coalesced = (await metrics.webhooksCoalesced.get()).values.reduce((s, v) => s + v.value, 0) - coalescedBefore;
  const passes = (await metrics.reconciles.get()).values.reduce((s, v) => s + v.value, 0) - passesBefore;
  say(`  drained ${(drainMs / 1000).toFixed(1)} s after the first webhook; ${stats.calls} CRM calls, ${stats.rateLimited} answered 429`);

  // Final check: every user's tags (read through the API) equal the CRM's.
  const local = new Map<string, string[]>();
  for (let afterId = 0, pages = 0; pages < 100; pages++) {
    const { users } = await api<{ users: { id: number; contactId: string | null; tags: string[] }[] }>(`/api/users?limit=500&after=${afterId}`);
    if (users.length === 0) break;
    for (const u of users) if (u.contactId) local.set(u.contactId, u.tags);
    afterId = users.at(-1)!.id;
  }
  const mismatches: BurstReport['finalState']['mismatches'] = [];
  for (const c of contacts) {
    const crmTags = sandbox.state.get(c.id)!.tags;
    const mine = local.get(c.id) ?? null;
    if (!mine || !same(mine, crmTags)) mismatches.push({ contactId: c.id, local: mine && sorted(mine), crm: sorted(crmTags) });
  }
  const equal = contacts.length - mismatches.length;
  const callsAtMost = Math.floor(1.1 * settings.contacts);
  return {
    settings,
    store,
    mode: 'crmsync in-process (startService, 4 workers, embedded sandbox CRM on its own HTTP port); webhooks sent over HTTP by this process',
    loadAverage,
    webhooks: {
      sent: sends.length,
      ok2xx,
      non2xx,
      sendMs,
      perSec: Math.round(sends.length / (sendMs / 1000)),
      coalesced,
      fromSandbox: stats.webhooksSent,
      sandboxFailed: stats.webhooksFailed,
    },
    userEdits: edited.length,
    crm: {
      calls: stats.calls,
      rateLimited: stats.rateLimited,
      accepted: stats.calls - stats.rateLimited,
      maxPerSecond: stats.maxPerSecond,
      callsPerContact: Math.round((100 * stats.calls) / settings.contacts) / 100,
      perSecond: stats.perSecond,
    },
    reconcilePasses: passes,
    drainMs,
    queueAfter: after,
    finalState: { equal, of: contacts.length, mismatches: mismatches.slice(0, 20) },
    goals: { callsAtMost, callsOk: stats.calls <= callsAtMost, maxPerSecondOk: stats.maxPerSecond <= settings.crmRateLimit, allEqual: mismatches.length === 0 },
  };
}
