import { afterEach, describe, expect, it } from 'vitest';
import { contactKey, listJobs } from '../src/store/jobs.js';
import { listOperations } from '../src/store/operations.js';
import { eventually, ManualClock, startHarness, type Harness } from './support/harness.js';

/**
 * The races WP Fusion loses (DESIGN.md): a stale or echoed CRM snapshot must never erase a
 * fresh local change, and no legitimate CRM change may be blocked or lost.
 */
describe('checkout race (deterministic: manual clock, held webhooks, stale reads)', () => {
  let h: Harness;
  afterEach(() => h?.stop());

  it('keeps a locally applied tag through duplicated, stale and echoed webhooks; follows a later genuine CRM removal', async () => {
    const clock = new ManualClock();
    h = await startHarness({ clock, workers: false, env: { CRMSYNC_SETTLE_MS: '60000' } });
    const localTags = async (id: number) => (await h.api('GET', `/api/users/${id}`)).body.tags as string[];
    h.sandbox.webhooks.hold(true);

    // Registration: the contact is created in the CRM with no tags; its "updated" webhook is held.
    const reg = await h.api('POST', '/api/users', { email: 'student@example.com', fields: { first_name: 'Sam' } });
    expect(reg.status).toBe(201);
    const userId = reg.body.id as number;
    await h.drain();
    const contactId = (await h.api('GET', `/api/users/${userId}`)).body.contactId as string;
    expect(contactId).toBeTruthy();
    expect(h.sandbox.state.get(contactId)?.tags).toEqual([]);
    expect(h.sandbox.webhooks.held().length).toBeGreaterThan(0);

    // Checkout: the app applies course-101.
    clock.advance(1000);
    expect((await h.api('POST', `/api/users/${userId}/tags`, { apply: ['course-101'] })).status).toBe(200);
    expect(await localTags(userId)).toEqual(['course-101']);

    // The held "no tags" webhook is delivered twice.
    h.sandbox.webhooks.setDuplicate(2);
    await h.sandbox.webhooks.release();
    h.sandbox.webhooks.setDuplicate(1);
    expect(await localTags(userId)).toEqual(['course-101']);
    const pending = await listJobs(h.service.engine.db, { state: 'pending', limit: 10 });
    expect(pending.filter((j) => j.key === contactKey(contactId))).toHaveLength(1);

    // The reconcile pushes course-101, then its CRM read is stale (the version with no tags).
    h.sandbox.state.serveStale(contactId, { reads: 1, version: 1 });
    clock.advance(1000);
    await h.drain();
    expect(await localTags(userId)).toEqual(['course-101']);
    expect(h.sandbox.state.get(contactId)?.tags).toEqual(['course-101']);

    // The CRM's echo of our own apply arrives; its read is stale again: still kept.
    await h.sandbox.webhooks.release();
    h.sandbox.state.serveStale(contactId, { reads: 1, version: 1 });
    clock.advance(5000);
    await h.drain();
    expect(await localTags(userId)).toEqual(['course-101']);

    // After the settle window the held operation is re-checked against a fresh read: confirmed.
    clock.advance(61_000);
    await h.drain();
    expect(await localTags(userId)).toEqual(['course-101']);
    expect(await listOperations(h.service.engine.db, userId)).toEqual([]);

    // A genuine removal in the CRM later is followed locally.
    clock.advance(10_000);
    h.sandbox.state.editAsUser(contactId, { removeTags: ['course-101'] });
    await h.sandbox.webhooks.release();
    await h.drain();
    expect(await localTags(userId)).toEqual([]);
    expect(h.sandbox.state.get(contactId)?.tags).toEqual([]);
  });

  it('a CRM removal within the settle window is followed once the window has passed', async () => {
    const clock = new ManualClock();
    h = await startHarness({ clock, workers: false, env: { CRMSYNC_SETTLE_MS: '60000' } });
    h.sandbox.webhooks.hold(true);
    const { body: user } = await h.api('POST', '/api/users', { email: 'quick@example.com', tags: ['course-101'] });
    await h.drain();
    const contactId = (await h.api('GET', `/api/users/${user.id}`)).body.contactId as string;
    expect(h.sandbox.state.get(contactId)?.tags).toEqual(['course-101']);
    // A CRM user removes the tag right after our apply, before any read confirmed it.
    clock.advance(2000);
    h.sandbox.state.editAsUser(contactId, { removeTags: ['course-101'] });
    await h.sandbox.webhooks.release();
    await h.drain();
    expect((await h.api('GET', `/api/users/${user.id}`)).body.tags).toEqual(['course-101']);
    clock.advance(60_000);
    await h.drain();
    expect((await h.api('GET', `/api/users/${user.id}`)).body.tags).toEqual([]);
    const log = (await h.api('GET', `/api/log?contact_id=${contactId}&level=notice`)).body.entries as { message: string }[];
    expect(log.some((e) => e.message.includes('following the CRM'))).toBe(true);
  });

  it('a webhook that arrives while its contact is being reconciled causes exactly one more pass, which sees the newer state', async () => {
    h = await startHarness({ workers: false, sandboxLatencyMs: 300 });
    const contact = h.sandbox.state.createContact({ email: 'busy@example.com', tags: ['a'] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: contact.id });
    const first = h.service.reconciler.runOnce();
    await eventually(async () => (await listJobs(h.service.engine.db, { state: 'running', limit: 5 })).length === 1, 5000, 'the pass to start');
    h.sandbox.state.editAsUser(contact.id, { applyTags: ['vip'] });
    await h.webhook({ wpf_action: 'update_tags', contact_id: contact.id });
    await h.webhook({ wpf_action: 'update_tags', contact_id: contact.id });
    const queued = await listJobs(h.service.engine.db, { limit: 10 });
    expect(queued.map((j) => j.state).sort()).toEqual(['pending', 'running']);
    await first;
    const second = await h.service.reconciler.runOnce();
    expect(second.claimed).toBe(1);
    expect(second.reports[0]?.snapshot?.tags).toEqual(['a', 'vip']);
    expect((await h.service.reconciler.runOnce()).claimed).toBe(0);
    const { body } = await h.api('GET', `/api/users?contact_id=${contact.id}`);
    expect(body.users[0].tags).toEqual(['a', 'vip']);
  });

  it('a CRM user adding vip while the app applies course-101 ends with both, locally and in the CRM, every time', async () => {
    h = await startHarness({ workers: true, sandboxLatencyMs: 5 });
    for (let run = 0; run < 10; run++) {
      const contact = h.sandbox.state.createContact({ email: `race${run}@example.com` }, 'seed');
      await h.webhook({ wpf_action: 'add', contact_id: contact.id });
      const user = await eventually(async () => (await h.api('GET', `/api/users?contact_id=${contact.id}`)).body.users[0], 5000, 'user');
      // Both at once; alternate who goes first.
      const crmSide = async () => h.sandbox.state.editAsUser(contact.id, { applyTags: ['vip'] });
      const appSide = async () => h.api('POST', `/api/users/${user.id}/tags`, { apply: ['course-101'] });
      await Promise.all(run % 2 ? [crmSide(), appSide()] : [appSide(), crmSide()]);
      await eventually(async () => {
        const local = (await h.api('GET', `/api/users/${user.id}`)).body;
        return local.tags.join() === 'course-101,vip' && h.sandbox.state.get(contact.id)?.tags.join() === 'course-101,vip' && local.pendingOperations.length === 0;
      }, 10_000, `both tags on run ${run}`);
    }
  });
});
