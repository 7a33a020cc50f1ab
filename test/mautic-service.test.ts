import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { Service } from '../src/service.js';
import { startFakeMautic, type FakeMautic } from './fakes/mautic.js';
import { startCrmService } from './support/crm-service.js';
import { eventually } from './support/harness.js';

const KEY = 'mautic-access-key-0123456789';
const TOKEN = 'mautic-api-token-0123456789';
const SECRET = 'mautic-webhook-secret';

/** The whole service configured for Mautic, against the fake that speaks its API. */
describe('crmsync with CRMSYNC_CRM=mautic', () => {
  let fake: FakeMautic;
  let service: Service;
  let stopService: () => Promise<void>;
  afterEach(async () => {
    await stopService?.();
    await fake?.close();
  });

  async function start() {
    fake = await startFakeMautic({ rateLimitPerSecond: 50 });
    ({ service, stop: stopService } = await startCrmService({ crm: 'mautic', url: fake.url, apiKey: fake.apiKey, webhookSecret: SECRET, accessKey: KEY, apiToken: TOKEN }));
    return service;
  }

  const api = (path: string, init: RequestInit = {}) =>
    fetch(service.url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } }).then((r) => r.json() as Promise<any>);

  /** POSTs a body as Mautic does: raw JSON bytes, `Webhook-Signature` over exactly those bytes. */
  const deliver = (body: string, secret = SECRET) =>
    fetch(`${service.url}/?wpf_action=add&access_key=${KEY}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-signature': createHmac('sha256', secret).update(body).digest('base64'), 'x-origin-base-url': fake.url },
      body,
    });

  it('CRMSYNC_CRM_URL is required (self-hosted: there is no default host)', () => {
    expect(() => loadConfig({ CRMSYNC_CRM: 'mautic', CRMSYNC_CRM_API_KEY: 'u:p' })).toThrow(/CRMSYNC_CRM_URL: required for mautic/);
  });

  it('a signed queue-mode delivery naming two contacts creates both users from the API', async () => {
    await start();
    const ann = fake.seedContact({ email: 'ann@example.com', fields: { firstname: 'Ann', lastname: 'Lee' }, tags: ['customer', 'vip'] });
    const bob = fake.seedContact({ email: 'bob@example.com', fields: { firstname: 'Bob' }, tags: ['lead'] });
    // Mautic's own sample payload (contact 52), re-pointed at the seeded contacts, plus a points event.
    const sample = readFileSync(new URL('../src/crm/mautic/fixtures/webhook-lead_post_save_update.json', import.meta.url), 'utf8');
    const events = JSON.parse(sample)['mautic.lead_post_save_update'] as { contact: { id: number } }[];
    const body = JSON.stringify({
      'mautic.lead_post_save_update': [{ ...events[0], contact: { ...events[0]!.contact, id: Number(ann) } }, { ...events[0], contact: { ...events[0]!.contact, id: Number(bob) } }],
      'mautic.lead_points_change': [{ contact: { id: Number(ann) }, points: { old_points: 0, new_points: 5 } }],
    });
    const res = await deliver(body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'queued', action: 'add', contacts: [ann, bob] });
    const first = await eventually(async () => (await api(`/api/users?contact_id=${ann}`)).users[0], 5000, 'user ann');
    expect(first).toMatchObject({ email: 'ann@example.com', tags: ['customer', 'vip'], fields: { first_name: 'Ann', last_name: 'Lee' } });
    const second = await eventually(async () => (await api(`/api/users?contact_id=${bob}`)).users[0], 5000, 'user bob');
    expect(second).toMatchObject({ email: 'bob@example.com', tags: ['lead'] });
  });

  it('a wrong signature is 401 invalid_signature and nothing is stored; an activity-only delivery is ignored', async () => {
    await start();
    const id = fake.seedContact({ email: 'eve@example.com' });
    const body = JSON.stringify({ 'mautic.lead_post_save_update': [{ contact: { id: Number(id) } }] });
    const refused = await deliver(body, 'someone-else');
    expect(refused.status).toBe(401);
    expect((await refused.json()).error.code).toBe('invalid_signature');
    const unsigned = await fetch(`${service.url}/?wpf_action=add&access_key=${KEY}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(401);
    const ignored = await deliver(JSON.stringify({ 'mautic.email_on_open': [{ stat: { id: 1, lead: { id: Number(id) } } }] }));
    expect(ignored.status).toBe(200);
    expect(await ignored.json()).toMatchObject({ status: 'ignored' });
    // A contact_id in the URL does not bypass the signature either.
    const byUrl = await fetch(`${service.url}/?wpf_action=add&access_key=${KEY}&contact_id=${id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(byUrl.status).toBe(401);
    expect(fake.routeCalls('GET /api/contacts/:id') + fake.routeCalls('GET /api/contacts')).toBe(0);
    expect((await api(`/api/users?contact_id=${id}`)).users).toEqual([]);
  });

  it('local tag changes reach Mautic as PATCH tags deltas ("-" removes); a new user is created there', async () => {
    await start();
    const id = fake.seedContact({ email: 'cara@example.com', tags: ['keep', 'old'] });
    await deliver(JSON.stringify({ 'mautic.lead_post_save_new': [{ contact: { id: Number(id) } }] }));
    const user = await eventually(async () => (await api(`/api/users?contact_id=${id}`)).users[0], 5000, 'user');
    await api(`/api/users/${user.id}/tags`, { method: 'POST', body: JSON.stringify({ apply: ['course-101'], remove: ['old'] }) });
    await eventually(() => fake.contactState(id)?.tags.join() === 'keep,course-101', 5000, 'tags in Mautic');
    const registered = await api('/api/users', { method: 'POST', body: JSON.stringify({ email: 'new@example.com', fields: { first_name: 'New' }, tags: ['lead'] }) });
    await eventually(() => fake.contactIdsByEmail('new@example.com').length === 1, 5000, 'contact synced');
    const newId = fake.contactIdsByEmail('new@example.com')[0]!;
    await eventually(() => fake.contactState(newId)?.tags.join() === 'lead', 5000, 'tag on the new contact');
    expect(fake.contactState(newId)?.fields.firstname).toBe('New');
    expect((await api(`/api/users/${registered.id}`)).contactId).toBe(newId);
  });
});
