import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { countInbox } from '../src/store/inbox.js';
import { contactKey, countJobs, listJobs } from '../src/store/jobs.js';
import { ACCESS_KEY, API_TOKEN, startHarness, type Harness } from './support/harness.js';

/**
 * Issue 2, section 3: the WP Fusion-compatible webhook URL, over real HTTP, against the real
 * service and its embedded sandbox CRM. Happy path, errors and security cases apart.
 */
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** The sandbox adapter's documented webhook (ActiveCampaign's form shape), for one contact, without contact_id in the URL. */
function fixtureBody(contactId: string): string {
  const fixture = JSON.parse(readFileSync(new URL('../src/crm/sandbox/fixtures/user-tag-change.json', import.meta.url), 'utf8')) as { body: string };
  const body = new URLSearchParams(fixture.body);
  expect(body.get('contact[id]')).toBe('1');
  body.set('contact[id]', contactId);
  return body.toString();
}

type Entry = { level: string; message: string; contactId: string | null; context: Record<string, unknown> | null };

let h: Harness;
afterEach(() => h?.stop());

const send = (path: string, init?: RequestInit) => fetch(h.service.url + path, init);
const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as any });
const logEntries = async (query = '') => (await h.api<{ entries: Entry[] }>('GET', `/api/log?limit=1000${query}`)).body.entries;
const userOf = async (contactId: string) => (await h.api('GET', `/api/users?contact_id=${contactId}`)).body.users[0] as { id: number; role: string; tags: string[]; email: string; fields: Record<string, string | null> } | undefined;
/** A contact made quietly (no webhook of its own), so the test decides which webhooks arrive. */
const contact = (email: string, extra: { fields?: Record<string, string | null>; tags?: string[] } = {}) => h.sandbox.state.createContact({ email, ...extra }, 'seed');

describe('webhook ingress — happy path', () => {
  it('answers a queued webhook with its action and contacts, after the job is stored and visible in the queue', async () => {
    h = await startHarness({ workers: false });
    const c = contact('queued@example.com');
    const res = await h.webhook({ wpf_action: 'update', contact_id: c.id });
    expect(res).toEqual({ status: 200, body: { status: 'queued', action: 'update', contacts: [c.id] } });
    const { body } = await h.api('GET', '/api/queue');
    expect(body.counts).toMatchObject({ pending: 1, running: 0, dead: 0 });
    expect(body.jobs).toEqual([expect.objectContaining({ key: contactKey(c.id), action: 'update', contactId: c.id, state: 'pending', webhooks: 1 })]);
    expect(await countInbox(h.service.engine.db)).toBe(1);
  });

  it('answers wpf_action=test with {"success":true} and stores nothing', async () => {
    h = await startHarness({ workers: false });
    expect(await h.webhook({ wpf_action: 'test' })).toEqual({ status: 200, body: { success: true } });
    const post = await json(await send('/', { method: 'POST', headers: FORM, body: `wpf_action=test&access_key=${ACCESS_KEY}` }));
    expect(post).toEqual({ status: 200, body: { success: true } });
    expect(await countJobs(h.service.engine.db)).toEqual({ pending: 0, running: 0, retrying: 0, dead: 0 });
    expect(await countInbox(h.service.engine.db)).toBe(0);
  });

  it('reads the parameters from a form-encoded POST body', async () => {
    h = await startHarness({ workers: false });
    const c = contact('form@example.com');
    const body = new URLSearchParams({ wpf_action: 'update_tags', access_key: ACCESS_KEY, contact_id: c.id }).toString();
    expect(await json(await send('/', { method: 'POST', headers: FORM, body }))).toEqual({ status: 200, body: { status: 'queued', action: 'update_tags', contacts: [c.id] } });
    const jobs = await listJobs(h.service.engine.db, { limit: 10 });
    expect(jobs.map((j) => [j.key, j.action])).toEqual([[contactKey(c.id), 'update_tags']]);
  });

  it('finds the contact in the CRM payload (form-encoded contact[id]) when the URL has no contact_id', async () => {
    h = await startHarness();
    const c = contact('payload@example.com', { fields: { first_name: 'Pay' }, tags: ['from-crm'] });
    const res = await json(await send(`/?wpf_action=add&access_key=${ACCESS_KEY}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, body: fixtureBody(c.id) }));
    expect(res).toEqual({ status: 200, body: { status: 'queued', action: 'add', contacts: [c.id] } });
    // The ids in the payload only name the contact: what is stored comes from the CRM's API.
    await expect.poll(() => userOf(c.id), { timeout: 5000 }).toMatchObject({ email: 'payload@example.com', tags: ['from-crm'], fields: { first_name: 'Pay' } });
  });

  it('coalesces webhooks for one contact into one job: webhooks counted, the stronger action wins, a notice logged', async () => {
    h = await startHarness({ workers: false });
    const c = contact('dup@example.com');
    const other = contact('other@example.com');
    for (const action of ['update_tags', 'update', 'update_tags']) expect((await h.webhook({ wpf_action: action, contact_id: c.id })).status).toBe(200);
    await h.webhook({ wpf_action: 'update_tags', contact_id: other.id });
    const jobs = await listJobs(h.service.engine.db, { limit: 10 });
    expect(jobs.map((j) => ({ key: j.key, action: j.action, webhooks: j.webhooks }))).toEqual([
      { key: contactKey(c.id), action: 'update', webhooks: 3 },
      { key: contactKey(other.id), action: 'update_tags', webhooks: 1 },
    ]);
    // add beats update; a send_notification on any of them is kept.
    await h.webhook({ wpf_action: 'add', contact_id: c.id, send_notification: 'true' });
    await h.webhook({ wpf_action: 'update_tags', contact_id: c.id });
    const [job] = await listJobs(h.service.engine.db, { limit: 1 });
    expect(job).toMatchObject({ action: 'add', webhooks: 5, sendNotification: true });
    expect(await countInbox(h.service.engine.db)).toBe(6);
    const notices = (await logEntries(`&level=notice&contact_id=${c.id}`)).filter((e) => e.message.startsWith(`duplicate webhook for contact #${c.id} coalesced`));
    expect(notices).toHaveLength(4);
    expect(await logEntries(`&level=notice&contact_id=${other.id}`)).toEqual([]);
    // One pass serves all five webhooks: one user, one CRM read.
    const before = h.sandbox.stats().calls;
    await h.drain();
    expect(h.sandbox.stats().calls - before).toBe(1);
    expect((await h.api('GET', `/api/users?contact_id=${c.id}`)).body.users).toHaveLength(1);
  });

  it('an add for a contact whose user already exists updates that user instead of duplicating it', async () => {
    h = await startHarness({ workers: false });
    const c = contact('again@example.com', { tags: ['a'] });
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    await h.drain();
    h.sandbox.state.editAsUser(c.id, { applyTags: ['b'] });
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    await h.drain();
    const { body } = await h.api('GET', '/api/users?email=again@example.com');
    expect(body.users).toHaveLength(1);
    expect(body.users[0].tags).toEqual(['a', 'b']);
  });

  it('an add for a new contact whose e-mail belongs to a user links that user (never a duplicate)', async () => {
    h = await startHarness({ workers: false });
    const reg = await h.api('POST', '/api/users', { email: 'known@example.com', fields: { first_name: 'Known' } });
    expect(reg.status).toBe(201);
    const c = contact('Known@Example.com', { tags: ['crm-tag'] });
    await h.webhook({ wpf_action: 'add', contact_id: c.id });
    // Only this contact's pass (the registration's push would link the contact by e-mail too).
    await h.service.reconciler.runOnce({ key: contactKey(c.id) });
    const { body } = await h.api('GET', '/api/users');
    expect(body.users).toHaveLength(1);
    expect(body.users[0]).toMatchObject({ id: reg.body.id, email: 'known@example.com', contactId: c.id, tags: ['crm-tag'] });
    const notices = await logEntries(`&level=notice&contact_id=${c.id}`);
    expect(notices.some((e) => e.message.includes(`re-linked to contact #${c.id} by e-mail`))).toBe(true);
  });

  it('an update for an unknown contact re-links the user with its e-mail; with no such user it logs "no matching user" and creates nothing', async () => {
    h = await startHarness({ workers: false });
    const reg = await h.api('POST', '/api/users', { email: 'relink@example.com' });
    const c = contact('relink@example.com', { tags: ['x'] });
    await h.webhook({ wpf_action: 'update', contact_id: c.id });
    await h.service.reconciler.runOnce({ key: contactKey(c.id) });
    expect(await userOf(c.id)).toMatchObject({ id: reg.body.id, tags: ['x'] });

    const stranger = contact('stranger@example.com', { tags: ['y'] });
    await h.webhook({ wpf_action: 'update', contact_id: stranger.id });
    await h.webhook({ wpf_action: 'update_tags', contact_id: '999999' });
    await h.drain();
    expect((await h.api('GET', '/api/users')).body.users).toHaveLength(1);
    const notices = await logEntries(`&level=notice&contact_id=${stranger.id}`);
    expect(notices.some((e) => e.message.startsWith(`no matching user for contact #${stranger.id}`))).toBe(true);
    // A contact the CRM does not know is a permanent failure, logged as an error with the reason.
    const errors = await logEntries('&level=error&contact_id=999999');
    expect(errors.some((e) => e.message.includes('not found in the CRM'))).toBe(true);
  });
});

describe('webhook ingress — roles', () => {
  it('applies an allowed role on add and on update; update_tags leaves the role alone', async () => {
    h = await startHarness({ workers: false });
    const c = contact('roles@example.com');
    await h.webhook({ wpf_action: 'add', contact_id: c.id, role: 'customer' });
    await h.drain();
    expect((await userOf(c.id))?.role).toBe('customer');
    await h.webhook({ wpf_action: 'update', contact_id: c.id, role: 'member' });
    await h.drain();
    expect((await userOf(c.id))?.role).toBe('member');
    await h.webhook({ wpf_action: 'update_tags', contact_id: c.id, role: 'editor' });
    await h.drain();
    expect((await userOf(c.id))?.role).toBe('member');
  });

  it('never grants administrator, and maps an unknown role to the default, each with a notice', async () => {
    h = await startHarness({ workers: false });
    const admin = contact('wants-admin@example.com');
    const odd = contact('odd-role@example.com');
    await h.webhook({ wpf_action: 'add', contact_id: admin.id, role: 'administrator' });
    await h.webhook({ wpf_action: 'add', contact_id: odd.id, role: 'superuser' });
    await h.drain();
    expect((await userOf(admin.id))?.role).toBe('subscriber');
    expect((await userOf(odd.id))?.role).toBe('subscriber');
    const adminNotices = await logEntries(`&level=notice&contact_id=${admin.id}`);
    expect(adminNotices.some((e) => e.message.includes('"administrator" is never granted by a webhook'))).toBe(true);
    const oddNotices = await logEntries(`&level=notice&contact_id=${odd.id}`);
    expect(oddNotices.some((e) => e.message.includes('unknown role "superuser"'))).toBe(true);

    // An existing user asked for administrator by an update: the default role, not administrator.
    await h.webhook({ wpf_action: 'update', contact_id: odd.id, role: 'member' });
    await h.drain();
    await h.webhook({ wpf_action: 'update', contact_id: odd.id, role: 'administrator' });
    await h.drain();
    expect((await userOf(odd.id))?.role).toBe('subscriber');
  });

  it("never changes a privileged user's role", async () => {
    h = await startHarness({ workers: false });
    const reg = await h.api('POST', '/api/users', { email: 'boss@example.com', role: 'administrator' });
    expect(reg.body.role).toBe('administrator');
    await h.drain(); // registration: the contact is created in the CRM and linked
    const contactId = (await h.api('GET', `/api/users/${reg.body.id}`)).body.contactId as string;
    expect(contactId).toBeTruthy();
    await h.webhook({ wpf_action: 'update', contact_id: contactId, role: 'subscriber' });
    await h.drain();
    expect((await h.api('GET', `/api/users/${reg.body.id}`)).body.role).toBe('administrator');
    const notices = await logEntries(`&level=notice&contact_id=${contactId}`);
    expect(notices.some((e) => e.message.includes('role of privileged user ("administrator") is never changed by a webhook'))).toBe(true);
  });
});

describe('webhook ingress — errors', () => {
  it('refuses a missing or wrong access key with 403 invalid_access_key, logs it as an error without the key, stores nothing', async () => {
    h = await startHarness({ workers: false });
    const wrongKey = 'wrong-key-5f1e2d3c4b5a69788';
    const missing = await json(await send('/?wpf_action=update&contact_id=1'));
    const wrong = await json(await send(`/?wpf_action=update&contact_id=1&access_key=${wrongKey}`));
    const wrongInBody = await json(await send('/?wpf_action=update&contact_id=1', { method: 'POST', headers: FORM, body: `access_key=${wrongKey}` }));
    for (const res of [missing, wrong, wrongInBody]) {
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: { code: 'invalid_access_key', message: expect.any(String) } });
      expect(JSON.stringify(res.body)).not.toContain(wrongKey);
    }
    // The right key in the wrong case or with a suffix is still wrong.
    expect((await send(`/?wpf_action=update&contact_id=1&access_key=${ACCESS_KEY.toUpperCase()}`)).status).toBe(403);
    expect((await send(`/?wpf_action=update&contact_id=1&access_key=${ACCESS_KEY}x`)).status).toBe(403);
    expect(await countInbox(h.service.engine.db)).toBe(0);
    expect((await countJobs(h.service.engine.db)).pending).toBe(0);

    const errors = await logEntries('&level=error');
    expect(errors.filter((e) => e.message.includes('missing or wrong access key'))).toHaveLength(5);
    expect(errors[0]!.context).toMatchObject({ code: 'invalid_access_key', request: { method: 'GET', query: { wpf_action: 'update', contact_id: '1' } } });
    // A valid webhook too, then: neither the real key nor the wrong one appears anywhere in the log.
    await h.webhook({ wpf_action: 'update', contact_id: '1' });
    const all = JSON.stringify(await logEntries());
    expect(all).not.toContain(wrongKey);
    expect(all).not.toContain(ACCESS_KEY);
    expect(all).not.toContain(API_TOKEN);
    const metrics = await (await send('/metrics')).text();
    expect(metrics).toMatch(/crmsync_webhooks_rejected_total\{code="invalid_access_key"\} 5/);
  });

  it('answers 400 missing_action and unknown_action', async () => {
    h = await startHarness({ workers: false });
    expect(await h.webhook({ contact_id: '1' })).toEqual({ status: 400, body: { error: { code: 'missing_action', message: expect.any(String) } } });
    expect(await h.webhook({ wpf_action: '', contact_id: '1' })).toMatchObject({ status: 400, body: { error: { code: 'missing_action' } } });
    for (const action of ['delete', 'UPDATE', 'update ', 'push', '<script>']) {
      expect(await h.webhook({ wpf_action: action, contact_id: '1' })).toEqual({ status: 400, body: { error: { code: 'unknown_action', message: expect.any(String) } } });
    }
    expect(await countInbox(h.service.engine.db)).toBe(0);
  });

  it('answers 422 contact_not_identified when neither the URL nor the payload names a contact, logging the request shape without secrets', async () => {
    h = await startHarness({ workers: false });
    const body = new URLSearchParams({ type: 'update', 'contact[email]': 'nobody@example.com', api_key: 'some-crm-api-key-123' }).toString();
    const res = await json(await send(`/?wpf_action=update&access_key=${ACCESS_KEY}`, { method: 'POST', headers: { ...FORM, 'user-agent': 'CRM-Webhooks/1.0' }, body }));
    expect(res).toEqual({ status: 422, body: { error: { code: 'contact_not_identified', message: expect.any(String) } } });
    expect((await h.webhook({ wpf_action: 'update_tags' })).status).toBe(422);
    expect(await countInbox(h.service.engine.db)).toBe(0);

    const [, entry] = (await logEntries('&level=error')).filter((e) => e.message.includes('no contact_id'));
    expect(entry!.context).toMatchObject({
      code: 'contact_not_identified',
      request: {
        method: 'POST',
        contentType: 'application/x-www-form-urlencoded',
        bytes: body.length,
        query: { wpf_action: 'update', access_key: '[redacted]' },
        body: { type: 'update', 'contact[email]': 'nobody@example.com', api_key: '[redacted]' },
        userAgent: 'CRM-Webhooks/1.0',
      },
    });
    const all = JSON.stringify(await logEntries());
    expect(all).not.toContain(ACCESS_KEY);
    expect(all).not.toContain('some-crm-api-key-123');
  });
});

describe('webhook ingress — debug page (GET with Accept: text/html)', () => {
  it('reconciles at once and renders the CRM data escaped, with no key or token on the page', async () => {
    h = await startHarness({ workers: false });
    const c = contact('xss@example.com', { fields: { first_name: '<script>alert(1)</script>', last_name: '"quoted" & \'single\'' }, tags: ['<img src=x onerror=alert(1)>', 'plain'] });
    const res = await send(`/?wpf_action=add&access_key=${encodeURIComponent(ACCESS_KEY)}&contact_id=${c.id}&role=customer`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await res.text();

    // The CRM's data, escaped.
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).toContain('&quot;quoted&quot; &amp; &#39;single&#39;');
    expect(page).not.toContain('<script>alert(1)');
    expect(page).not.toContain('<img src=x');
    expect(page).not.toMatch(/<script/i);
    // The request, what changed, and the log of the pass.
    expect(page).toContain('xss@example.com');
    expect(page).toMatch(/User #\d+ \(created\)/);
    expect(page).toContain('Tags added:');
    expect(page).toMatch(/created user #\d+ \(xss@example.com\) with role customer/);
    // No secret: neither the access key (also not URL-encoded), the API token nor the CRM's key.
    for (const secret of [ACCESS_KEY, encodeURIComponent(ACCESS_KEY), API_TOKEN, h.sandbox.apiKey]) expect(page).not.toContain(secret);
    expect(page).toContain('[redacted]');

    // It ran right away: the user exists, the queue is empty, no worker was needed.
    expect(await userOf(c.id)).toMatchObject({ role: 'customer', tags: ['<img src=x onerror=alert(1)>', 'plain'], fields: { first_name: '<script>alert(1)</script>' } });
    expect(await countJobs(h.service.engine.db)).toEqual({ pending: 0, running: 0, retrying: 0, dead: 0 });
  });

  it('a browser GET with a wrong key gets the JSON 403, not a page', async () => {
    h = await startHarness({ workers: false });
    const res = await send('/?wpf_action=update&contact_id=1&access_key=nope-nope-nope-nope', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_access_key' } });
  });
});
