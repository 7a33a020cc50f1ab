/**
 * Issue 4's batch figure: the burst against a batch-capable CRM. crmsync runs in-process with
 * CRMSYNC_CRM=hubspot against the fake HubSpot (documented shapes, rolling 100 requests / 10 s
 * window, 100 ms latency). 10,000 signed webhook events for 1,000 contacts arrive as HubSpot
 * delivers them: JSON arrays of up to 100 events. Reported: CRM calls per contact (goal ≤ 0.05
 * with batches of 100), drain time, 429s, and whether every user's tags equal the CRM's lists.
 *
 *   npx tsx bench/hubspot-burst.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';
import { countJobs } from '../src/store/jobs.js';
import { listUsers } from '../src/store/users.js';
import { startFakeHubSpot } from '../test/fakes/hubspot.js';

export interface HubSpotBurstReport {
  contacts: number;
  webhookEvents: number;
  deliveries: number;
  sendMs: number;
  drainMs: number;
  crmCalls: number;
  callsPerContact: number;
  rateLimited: number;
  byRoute: Record<string, number>;
  equal: number;
}

export async function runHubSpotBurst(options = { contacts: 1000, perContact: 10 }, say: (line: string) => void = () => undefined): Promise<HubSpotBurstReport> {
  const secret = 'bench-hubspot-client-secret';
  const fake = await startFakeHubSpot({ token: 'pat-bench', rateLimit: { requests: 100, perMs: 10_000 }, latencyMs: 100 });
  const lists = ['customer', 'newsletter', 'vip', 'course-101'];
  const ids = fake.seedContacts(options.contacts, (i) => ({ email: `hs${i}@example.com`, properties: { firstname: `U${i}` }, lists: lists.filter((_, j) => (i + j) % 3 === 0) }));
  const dir = mkdtempSync(join(tmpdir(), 'crmsync-bench-hubspot-'));
  const config = loadConfig({
    PORT: '0',
    CRMSYNC_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
    CRMSYNC_ACCESS_KEY: 'bench-access-key-0123456789abcdef',
    CRMSYNC_API_TOKEN: 'bench-api-token-0123456789abcdef',
    CRMSYNC_CRM: 'hubspot',
    CRMSYNC_CRM_URL: fake.url,
    CRMSYNC_CRM_API_KEY: 'pat-bench',
    CRMSYNC_CRM_WEBHOOK_SECRET: secret,
    CRMSYNC_LOG_LEVEL: 'silent',
  });
  const service = await startService(config, { logger: pino({ level: 'silent' }) });
  try {
    const webhookUrl = service.webhookUrl('add');
    const bodies = fake.webhookBodies(ids, { perContact: options.perContact });
    fake.resetCounters();
    say(`hubspot: ${bodies.length} deliveries of up to 100 events (${ids.length * options.perContact} events for ${ids.length} contacts), signed v3`);
    const started = Date.now();
    let next = 0;
    const sendOne = async () => {
      for (let i = next++; i < bodies.length; i = next++) {
        const body = bodies[i]!;
        const res = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...fake.signWebhook({ secret, url: webhookUrl, body }) }, body });
        if (res.status !== 200) throw new Error(`delivery ${i} answered ${res.status}: ${await res.text()}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, sendOne));
    const sendMs = Date.now() - started;
    const deadline = Date.now() + 180_000;
    for (;;) {
      const q = await countJobs(service.engine.db);
      if (q.pending + q.running + q.retrying === 0) break;
      if (Date.now() > deadline) throw new Error(`HubSpot burst did not drain in 3 minutes: ${JSON.stringify(q)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const drainMs = Date.now() - started;
    const stats = fake.stats();
    const users = await listUsers(service.engine.db, { limit: 100_000 });
    let equal = 0;
    for (const u of users) {
      const crm = fake.contactState(u.contactId!);
      if (crm && [...crm.lists].sort().join() === u.tags.join()) equal++;
    }
    return {
      contacts: ids.length,
      webhookEvents: ids.length * options.perContact,
      deliveries: bodies.length,
      sendMs,
      drainMs,
      crmCalls: stats.calls,
      callsPerContact: Math.round((stats.calls / ids.length) * 1000) / 1000,
      rateLimited: stats.rateLimited,
      byRoute: stats.byRoute,
      equal,
    };
  } finally {
    await service.stop();
    await fake.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runHubSpotBurst(undefined, (l) => process.stderr.write(`${l}\n`));
  console.log(JSON.stringify(r, null, 2));
  if (r.equal !== r.contacts) process.exit(1);
}
