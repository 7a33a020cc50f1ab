import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Sweeper } from '../src/sweep/sweeper.js';
import { releaseSweepLease, takeSweepLease } from '../src/store/sweeps.js';
import { findUser } from '../src/store/users.js';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';
import { startFakeActiveCampaign } from './fakes/activecampaign.js';
import { testDatabase } from './support/database.js';
import { ManualClock, startHarness, type Harness } from './support/harness.js';

/** The periodic sweep: repairs webhooks a CRM never sent, with a controlled clock. */
let h: Harness;
afterEach(async () => {
  // Stopped once: a later test in this file may not start a harness at all.
  const started = h as Harness | undefined;
  h = undefined as unknown as Harness;
  await started?.stop();
});

const MINUTE = 60_000;
const metrics = async () => (await fetch(`${h.service.url}/metrics`)).text();
const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);

async function withUsers(env: Record<string, string> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 12));
  h = await startHarness({ clock, workers: false, env: { CRMSYNC_SWEEP_INTERVAL: '300', CRMSYNC_SWEEP_OVERLAP: '120', ...env } });
  for (const id of ['1', '2', '3']) await h.webhook({ wpf_action: 'add', contact_id: id });
  await h.drain();
  // From here on the CRM sends no webhooks at all (the ones a CRM never retries).
  h.sandbox.webhooks.setUrl(null);
  // The seeded contacts were stamped at start; sweeps begin well after.
  clock.advance(30 * MINUTE);
  return clock;
}

describe('periodic sweep', () => {
  it('catches a CRM change whose webhook was never sent, and shows it in the log and metrics', async () => {
    const clock = await withUsers();
    const t1 = clock.now();
    const first = await h.service.sweeper.runOnce();
    expect(first).toMatchObject({ ran: true });

    clock.advance(MINUTE);
    h.sandbox.state.editAsUser('2', { applyTags: ['vip'], fields: { first_name: 'Amazing Grace' } });
    h.sandbox.state.createContact({ email: 'nobody-local@example.com' }); // changed, but no local user
    clock.advance(4 * MINUTE);
    const second = await h.service.sweeper.runOnce();
    expect(second).toEqual({ ran: true, since: t1 - 2 * MINUTE, listed: 2, queued: 1 });
    await h.drain();
    expect(await findUser(h.service.engine.db, { contactId: '2' })).toMatchObject({ tags: ['member', 'vip'], fields: { first_name: 'Amazing Grace' } });
    expect(await findUser(h.service.engine.db, { email: 'nobody-local@example.com' })).toBeNull();

    const log = (await h.api('GET', '/api/log?limit=100')).body.entries as { source: string; message: string }[];
    expect(log.filter((e) => e.source === 'sweep').map((e) => e.message)[0]).toBe(
      'sweep: 2 contact(s) changed in the CRM since 2026-11-28T12:28:00.000Z (overlap 120 s); 1 with a local user queued for update',
    );
    const text = await metrics();
    expect(metric(text, /crmsync_sweep_runs_total\{outcome="ok"\} (\d+)/)).toBe(2);
    expect(metric(text, /crmsync_sweep_contacts_total\{outcome="queued"\} (\d+)/)).toBe(1);
    expect(metric(text, /crmsync_sweep_contacts_total\{outcome="no_local_user"\} (\d+)/)).toBe(1);
    expect(metric(text, /crmsync_sweep_last_run_timestamp_seconds (\d+)/)).toBe((t1 + 5 * MINUTE) / 1000);
  });

  it('coalesces with a pending webhook for the same contact: one load, not two', async () => {
    const clock = await withUsers();
    await h.service.sweeper.runOnce();
    clock.advance(5 * MINUTE);
    h.sandbox.state.editAsUser('1', { applyTags: ['late'] });
    await h.webhook({ wpf_action: 'update_tags', contact_id: '1' });
    expect(await h.service.sweeper.runOnce()).toMatchObject({ queued: 1 });
    const queue = (await h.api('GET', '/api/queue?state=pending')).body;
    expect(queue.jobs.filter((j: { contactId: string }) => j.contactId === '1')).toHaveLength(1);
    expect(queue.jobs.find((j: { contactId: string }) => j.contactId === '1').action).toBe('update');
  });

  it('the overlap window re-reads a contact changed just before the last sweep began (CRM clock behind ours)', async () => {
    const clock = await withUsers();
    const t1 = clock.now();
    await h.service.sweeper.runOnce();
    // The CRM stamps the change 30 s before our sweep started: it reached its listing late.
    clock.set(t1 - 30_000);
    h.sandbox.state.editAsUser('3', { applyTags: ['boundary'] });
    clock.set(t1 + 5 * MINUTE);
    expect(await h.service.sweeper.runOnce()).toMatchObject({ ran: true, since: t1 - 2 * MINUTE, listed: 1, queued: 1 });
    await h.drain();
    expect((await findUser(h.service.engine.db, { contactId: '3' }))!.tags).toEqual(['boundary']);
  });

  it('without an overlap the same boundary contact is missed (what the window is for)', async () => {
    const clock = await withUsers({ CRMSYNC_SWEEP_OVERLAP: '0' });
    const t1 = clock.now();
    await h.service.sweeper.runOnce();
    clock.set(t1 - 30_000);
    h.sandbox.state.editAsUser('3', { applyTags: ['boundary'] });
    clock.set(t1 + 5 * MINUTE);
    expect(await h.service.sweeper.runOnce()).toMatchObject({ ran: true, since: t1, listed: 0, queued: 0 });
  });

  it('is off when CRMSYNC_SWEEP_INTERVAL is 0: no CRM call, nothing queued', async () => {
    const clock = await withUsers({ CRMSYNC_SWEEP_INTERVAL: '0' });
    h.sandbox.state.editAsUser('2', { applyTags: ['vip'] });
    clock.advance(60 * MINUTE);
    const calls = h.sandbox.stats().calls;
    expect(await h.service.sweeper.runOnce()).toEqual({ ran: false, reason: 'CRMSYNC_SWEEP_INTERVAL is 0' });
    expect(h.sandbox.stats().calls).toBe(calls);
    expect((await h.api('GET', '/api/queue?state=pending')).body.jobs).toEqual([]);
  });

  it('says in plain words when the CRM cannot list by modification time', async () => {
    await withUsers();
    const engine = h.service.engine;
    const crm = { ...engine.crm, capabilities: { ...engine.crm.capabilities, listing: { ...engine.crm.capabilities.listing!, changedSince: false } } };
    const sweeper = new Sweeper({ ...engine, crm }, { intervalMs: 300_000, overlapMs: 0 }, { wake: () => undefined, logger: pino({ level: 'silent' }) });
    expect(await sweeper.runOnce()).toEqual({ ran: false, reason: 'sandbox cannot list contacts by modification time, so the periodic sweep is off; missed webhooks are not repaired for it.' });
    await sweeper.start();
    const log = (await h.api('GET', '/api/log?limit=100')).body.entries as { source: string; level: string; message: string }[];
    expect(log.find((e) => e.source === 'sweep')).toMatchObject({ level: 'notice', message: expect.stringMatching(/^sandbox cannot list contacts by modification time/) });
    await sweeper.stop();
  });

  it('one instance sweeps at a time (a lease in the store), and a sweep right after another is skipped', async () => {
    const clock = await withUsers();
    const db = h.service.engine.db;
    const now = clock.now();
    expect(await takeSweepLease(db, 'other-instance', now, now + MINUTE)).toBe(true);
    expect(await h.service.sweeper.runOnce()).toEqual({ ran: false, reason: 'another instance is sweeping' });
    expect(await takeSweepLease(db, 'third', now, now + MINUTE)).toBe(false);
    await releaseSweepLease(db, 'other-instance');
    expect(await h.service.sweeper.runOnce()).toMatchObject({ ran: true });
    clock.advance(MINUTE);
    expect(await h.service.sweeper.runOnce()).toEqual({ ran: false, reason: 'swept recently (by this or another instance)' });
    // An expired lease (its instance died) is taken over.
    expect(await takeSweepLease(db, 'dead', clock.now(), clock.now() + MINUTE)).toBe(true);
    clock.advance(10 * MINUTE);
    expect(await h.service.sweeper.runOnce()).toMatchObject({ ran: true });
  });

  it('two sweeps racing for the lease: exactly one runs', async () => {
    const clock = await withUsers();
    const engine = h.service.engine;
    const other = new Sweeper({ ...engine, workerId: 'other-instance' }, { intervalMs: 300_000, overlapMs: 120_000 }, { wake: () => undefined, logger: pino({ level: 'silent' }) });
    clock.advance(10 * MINUTE);
    const results = await Promise.all([h.service.sweeper.runOnce(), other.runOnce()]);
    expect(results.filter((r) => r.ran)).toHaveLength(1);
  });
});

describe('periodic sweep against ActiveCampaign (its fake)', () => {
  it('repairs a tag added in AC whose webhook never came (filters[updated_after])', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 28, 12));
    const ac = await startFakeActiveCampaign({ apiToken: 'ac-secret-token', rateLimitPerSecond: 50, now: () => clock.now() });
    const database = await testDatabase();
    const service = await startService(
      loadConfig({ PORT: '0', CRMSYNC_DATABASE_URL: database.url, CRMSYNC_ACCESS_KEY: 'ac-access-key-0123456789', CRMSYNC_API_TOKEN: 'ac-api-token-0123456789', CRMSYNC_CRM: 'activecampaign', CRMSYNC_CRM_URL: ac.url, CRMSYNC_CRM_API_KEY: 'ac-secret-token', CRMSYNC_CRM_RATE_LIMIT: '50' }),
      { clock, logger: pino({ level: 'silent' }), workers: false },
    );
    try {
      const id = ac.seedContact({ email: 'swept@example.com', tags: ['Member'] });
      ac.seedContact({ email: 'other@example.com' });
      await fetch(`${service.url}/?wpf_action=add&access_key=ac-access-key-0123456789&contact_id=${id}`);
      while ((await service.reconciler.runOnce()).claimed > 0);
      clock.advance(30 * MINUTE);
      expect(await service.sweeper.runOnce()).toMatchObject({ ran: true, listed: 0 });
      clock.advance(MINUTE);
      ac.tagContact(id, 'VIP'); // in AC's UI; the automation that would call crmsync is missing
      clock.advance(4 * MINUTE);
      expect(await service.sweeper.runOnce()).toMatchObject({ ran: true, listed: 1, queued: 1 });
      while ((await service.reconciler.runOnce()).claimed > 0);
      expect((await findUser(service.engine.db, { contactId: id }))!.tags).toEqual(['Member', 'VIP']);
    } finally {
      await service.stop();
      await ac.close();
      await database.cleanup();
    }
  });
});
