import { afterEach, describe, expect, it } from 'vitest';
import { listOperations } from '../src/store/operations.js';
import { ManualClock, startHarness, type Harness } from './support/harness.js';
import { accessEvents, countTagWrites, rulesConfigFile } from './support/rules.js';

/** Tag rules and grants through the real service, the sandbox CRM and a manual clock. */
// PostgreSQL on a loaded shared machine is slow here (as test/checkout-race.test.ts is): a roomier timeout.
describe('access grants', { timeout: 120_000 }, () => {
  let h: Harness;
  afterEach(() => h?.stop());

  async function start() {
    const clock = new ManualClock();
    h = await startHarness({ clock, workers: false, env: { CRMSYNC_CONFIG: rulesConfigFile(), CRMSYNC_SETTLE_MS: '60000' } });
    // An endpoint, so access events are queued in the outbox (the deliverer is not running).
    expect((await h.api('POST', '/api/endpoints', { url: 'http://127.0.0.1:9/hooks' })).status).toBe(201);
    return clock;
  }
  const settle = async () => {
    await h.sandbox.webhooks.idle();
    await h.drain();
  };
  const access = async (userId: number, resource: string) => (await h.api('GET', `/api/users/${userId}/access/${resource}`)).body as { granted: boolean; reasons: string[] };
  const tags = async (userId: number) => (await h.api('GET', `/api/users/${userId}`)).body.tags as string[];
  const userOf = async (contactId: string) => (await h.api('GET', `/api/users?contact_id=${contactId}`)).body.users[0] as { id: number };

  it('checkout: a purchase grant applies its tag once; the echo changes nothing; the student keeps the course when the tag is removed in the CRM', async () => {
    const clock = await start();
    const writes = countTagWrites(h);
    const { body: user } = await h.api('POST', '/api/users', { email: 'student@example.com' });
    await settle();
    const contactId = (await h.api('GET', `/api/users/${user.id}`)).body.contactId as string;

    clock.advance(1000);
    const granted = await h.api('POST', `/api/users/${user.id}/grants`, { resource: 'course-101', source: 'purchase', note: 'order 42' });
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ resource: 'course-101', source: 'purchase', reason: 'purchase', note: 'order 42', created: true, appliedTags: ['bought-101'] });
    expect(await tags(user.id)).toEqual(['bought-101']);
    // The applied tag is itself a rule's tag: it adds a tag grant next to the purchase.
    expect(await access(user.id, 'course-101')).toMatchObject({ granted: true, reasons: ['purchase', 'tag:bought-101'] });

    await settle(); // push, then the CRM's echo of our own apply
    expect(h.sandbox.state.get(contactId)?.tags).toEqual(['bought-101']);
    expect(writes.applies).toEqual([['bought-101']]);
    expect(await listOperations(h.service.engine.db, user.id)).toEqual([]);
    expect((await h.api('GET', `/api/users/${user.id}/access`)).body.resources).toEqual([
      { resource: 'course-101', grants: [expect.objectContaining({ reason: 'purchase' }), expect.objectContaining({ reason: 'tag:bought-101' })] },
    ]);
    // The same purchase again: already granted, nothing applied or pushed.
    const again = await h.api('POST', `/api/users/${user.id}/grants`, { resource: 'course-101', source: 'purchase' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: false, appliedTags: [] });
    await settle();
    expect(writes.applies).toHaveLength(1);

    // A CRM user removes the tag (well after the settle window): the tag grant goes, the course stays.
    clock.advance(120_000);
    h.sandbox.state.editAsUser(contactId, { removeTags: ['bought-101'] });
    await settle();
    expect(await tags(user.id)).toEqual([]);
    expect(await access(user.id, 'course-101')).toEqual({ userId: user.id, resource: 'course-101', granted: true, reasons: ['purchase'] });
    expect(writes.applies).toHaveLength(1);
    expect(writes.removes).toHaveLength(0);
    expect(await accessEvents(h, user.id)).toEqual([{ type: 'access.granted', resource: 'course-101', reason: 'purchase' }]);

    // A refund: the app revokes the purchase; now nothing covers the course.
    const refund = await h.api('DELETE', `/api/users/${user.id}/grants`, { resource: 'course-101', source: 'purchase' });
    expect(refund.status).toBe(200);
    expect(refund.body).toMatchObject({ granted: false, revoked: [expect.objectContaining({ reason: 'purchase' })] });
    expect((await access(user.id, 'course-101')).granted).toBe(false);
    expect((await accessEvents(h, user.id)).map((e) => e.type)).toEqual(['access.granted', 'access.revoked']);
    const log = (await h.api('GET', `/api/log?user_id=${user.id}`)).body.entries as { source: string; message: string }[];
    expect(log.filter((e) => e.source === 'access').map((e) => e.message).reverse()).toEqual([
      `granted course-101 to user #${user.id} (purchase)`,
      'granting course-101 applies tags bought-101 (pushed to the CRM)',
      `granted course-101 to user #${user.id} (tag:bought-101)`,
      `revoked course-101 (tag:bought-101) from user #${user.id}: tag "bought-101" removed in the CRM`,
      `revoked course-101 (purchase) from user #${user.id}: revoked by the app (purchase)`,
    ]);
  });

  it('two rules grant one resource: removing one tag keeps access, removing both revokes it; a revoke tag denies', async () => {
    const clock = await start();
    const contact = h.sandbox.state.createContact({ email: 'two@example.com', tags: ['bought-101', 'bundle', 'member'] }, 'seed');
    await h.webhook({ wpf_action: 'add', contact_id: contact.id });
    await settle();
    const user = await userOf(contact.id);
    expect(await access(user.id, 'course-101')).toMatchObject({ granted: true, reasons: ['tag:bought-101', 'tag:bundle'] });
    expect((await access(user.id, 'members-area')).granted).toBe(true);

    clock.advance(1000);
    h.sandbox.state.editAsUser(contact.id, { removeTags: ['bundle'] });
    await settle();
    expect(await access(user.id, 'course-101')).toMatchObject({ granted: true, reasons: ['tag:bought-101'] });
    h.sandbox.state.editAsUser(contact.id, { removeTags: ['bought-101'], applyTags: ['payment-failed'] });
    await settle();
    expect(await access(user.id, 'course-101')).toMatchObject({ granted: false, reasons: [] });
    expect((await access(user.id, 'members-area')).granted).toBe(false);
    h.sandbox.state.editAsUser(contact.id, { removeTags: ['payment-failed'] });
    await settle();
    expect((await access(user.id, 'members-area')).granted).toBe(true);
    expect(await accessEvents(h, user.id)).toEqual([
      { type: 'access.granted', resource: 'course-101', reason: 'tag:bought-101' },
      { type: 'access.granted', resource: 'members-area', reason: 'tag:member' },
      { type: 'access.revoked', resource: 'course-101', reason: 'tag:bought-101' },
      { type: 'access.revoked', resource: 'members-area', reason: 'tag:member' },
      { type: 'access.granted', resource: 'members-area', reason: 'tag:member' },
    ]);
  });

  it('a stale or echoed snapshot never revokes a grant from a fresh local tag', async () => {
    const clock = await start();
    h.sandbox.webhooks.hold(true);
    const { body: user } = await h.api('POST', '/api/users', { email: 'stale@example.com' });
    await h.drain();
    const contactId = (await h.api('GET', `/api/users/${user.id}`)).body.contactId as string;
    clock.advance(1000);
    expect((await h.api('POST', `/api/users/${user.id}/tags`, { apply: ['bundle'] })).status).toBe(200);
    expect((await access(user.id, 'course-101')).reasons).toEqual(['tag:bundle']);

    // The held "no tags" webhook twice, then a pass whose read is stale (the version before our apply).
    h.sandbox.webhooks.setDuplicate(2);
    await h.sandbox.webhooks.release();
    h.sandbox.webhooks.setDuplicate(1);
    h.sandbox.state.serveStale(contactId, { reads: 1, version: 1 });
    clock.advance(1000);
    await h.drain();
    expect(h.sandbox.state.get(contactId)?.tags).toEqual(['bundle']);
    expect((await access(user.id, 'course-101')).granted).toBe(true);
    // The echo, read stale again, inside the settle window: held, still granted.
    await h.sandbox.webhooks.release();
    h.sandbox.state.serveStale(contactId, { reads: 1, version: 1 });
    clock.advance(5000);
    await h.drain();
    expect((await access(user.id, 'course-101')).granted).toBe(true);
    // The re-check after the window reads the truth: confirmed, still granted, never revoked.
    clock.advance(61_000);
    await h.drain();
    expect(await tags(user.id)).toEqual(['bundle']);
    expect(await accessEvents(h, user.id)).toEqual([{ type: 'access.granted', resource: 'course-101', reason: 'tag:bundle' }]);
  });

  it('an administrator is never un-enrolled by rules; the app can still revoke explicitly', async () => {
    const clock = await start();
    const { body: admin } = await h.api('POST', '/api/users', { email: 'admin@example.com', role: 'administrator', tags: ['bundle'] });
    await settle();
    const contactId = (await h.api('GET', `/api/users/${admin.id}`)).body.contactId as string;
    expect(h.sandbox.state.get(contactId)?.tags).toEqual(['bundle']);
    clock.advance(120_000);
    h.sandbox.state.editAsUser(contactId, { removeTags: ['bundle'] });
    await settle();
    expect(await tags(admin.id)).toEqual([]);
    expect(await access(admin.id, 'course-101')).toMatchObject({ granted: true, reasons: ['tag:bundle'] });
    const notices = (await h.api('GET', `/api/log?user_id=${admin.id}&level=notice`)).body.entries as { message: string }[];
    expect(notices.some((e) => e.message.includes('never un-enrol a privileged user'))).toBe(true);
  });

  it('local tag removal through the API revokes that tag grant only', async () => {
    await start();
    const { body: user } = await h.api('POST', '/api/users', { email: 'local@example.com', tags: ['bundle', 'bought-101'] });
    expect((await access(user.id, 'course-101')).reasons).toEqual(['tag:bought-101', 'tag:bundle']);
    await h.api('POST', `/api/users/${user.id}/tags`, { remove: ['bundle'] });
    expect((await access(user.id, 'course-101')).reasons).toEqual(['tag:bought-101']);
  });

  it('bad input gets a clear error and changes nothing', async () => {
    await start();
    const { body: user } = await h.api('POST', '/api/users', { email: 'bad@example.com' });
    const cases: [string, string, unknown, number, string][] = [
      ['POST', `/api/users/${user.id}/grants`, { resource: 'course-101', source: 'tag' }, 400, 'reserved for tag rules'],
      ['POST', `/api/users/${user.id}/grants`, { resource: 'bad name!', source: 'purchase' }, 400, 'resource'],
      ['POST', `/api/users/${user.id}/grants`, { resource: 'course-101' }, 400, 'source'],
      ['POST', `/api/users/${user.id}/grants`, { resource: 'course-101', source: 'purchase', extra: 1 }, 400, 'extra'],
      ['POST', '/api/users/99999/grants', { resource: 'course-101', source: 'purchase' }, 404, 'user #99999 not found'],
      ['DELETE', `/api/users/${user.id}/grants`, { resource: 'course-101', source: 'purchase' }, 404, 'no active purchase grant'],
      ['DELETE', `/api/users/${user.id}/grants`, { resource: 'course-101', source: 'tag' }, 400, 'reserved for tag rules'],
      ['GET', '/api/users/99999/access/course-101', undefined, 404, 'not found'],
      ['GET', '/api/users/99999/access', undefined, 404, 'not found'],
      ['GET', `/api/users/${user.id}/access/${encodeURIComponent('no spaces')}`, undefined, 400, 'resource'],
    ];
    for (const [method, path, body, status, text] of cases) {
      const res = await h.api(method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.body.error.message).toContain(text);
    }
    expect((await h.api('GET', `/api/users/${user.id}/access`)).body).toEqual({ userId: user.id, resources: [] });
    expect(await h.service.engine.db.selectFrom('grants').selectAll().execute()).toEqual([]);
    // By query string works too.
    await h.api('POST', `/api/users/${user.id}/grants`, { resource: 'members-area', source: 'admin' });
    const byQuery = await h.api('DELETE', `/api/users/${user.id}/grants?resource=members-area&source=admin`);
    expect(byQuery.body).toMatchObject({ granted: false, revoked: [expect.objectContaining({ source: 'admin' })] });
  });
});
