import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../src/service.js';
import { startFakeActiveCampaign, type FakeActiveCampaign } from './fakes/activecampaign.js';
import { startCrmService } from './support/crm-service.js';
import { eventually } from './support/harness.js';

const KEY = 'ac-access-key-0123456789';
const TOKEN = 'ac-api-token-0123456789';

/** The whole service configured for ActiveCampaign, against the fake that speaks its API. */
describe('crmsync with CRMSYNC_CRM=activecampaign', () => {
  let ac: FakeActiveCampaign;
  let service: Service;
  let stopService: () => Promise<void>;
  afterEach(async () => {
    await stopService?.();
    await ac?.close();
  });

  async function start() {
    ac = await startFakeActiveCampaign({ apiToken: 'ac-secret-token', rateLimitPerSecond: 50 });
    ({ service, stop: stopService } = await startCrmService({ crm: 'activecampaign', url: ac.url, apiKey: 'ac-secret-token', accessKey: KEY, apiToken: TOKEN }));
    return service;
  }

  const api = (path: string, init: RequestInit = {}) =>
    fetch(service.url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } }).then((r) => r.json() as Promise<any>);

  it('an automation webhook (form-encoded contact[id]) creates the user with tags and fields from the API', async () => {
    await start();
    const id = ac.seedContact({ email: 'gil@example.com', firstName: 'Gil', lastName: 'Payet', tags: ['Clicksend Test', 'vip'] });
    // The captured automation-action body, with the contact ID of the seeded contact.
    const body = readFileSync(new URL('../src/crm/activecampaign/fixtures/webhook-automation-action.form', import.meta.url), 'utf8').replace('contact%5Bid%5D=27760', `contact%5Bid%5D=${id}`);
    const res = await fetch(`${service.url}/?wpf_action=add&access_key=${KEY}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, body });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'queued', action: 'add', contacts: [id] });
    const user = await eventually(async () => (await api(`/api/users?contact_id=${id}`)).users[0], 5000, 'user');
    expect(user).toMatchObject({ email: 'gil@example.com', tags: ['Clicksend Test', 'vip'], fields: { first_name: 'Gil', last_name: 'Payet' } });
  });

  it('local tag changes reach ActiveCampaign as contactTag deltas', async () => {
    await start();
    const id = ac.seedContact({ email: 'ann@example.com', tags: ['keep'] });
    await fetch(`${service.url}/?wpf_action=add&access_key=${KEY}&contact_id=${id}`);
    const user = await eventually(async () => (await api(`/api/users?contact_id=${id}`)).users[0], 5000, 'user');
    await api(`/api/users/${user.id}/tags`, { method: 'POST', body: JSON.stringify({ apply: ['course-101'], remove: ['keep'] }) });
    await eventually(() => ac.contactState(id)?.tags.join() === 'course-101', 5000, 'tags in ActiveCampaign');
    const registered = await api('/api/users', { method: 'POST', body: JSON.stringify({ email: 'new@example.com', fields: { first_name: 'New' }, tags: ['lead'] }) });
    await eventually(() => ac.contactIdsByEmail('new@example.com').length === 1, 5000, 'contact synced');
    const newId = ac.contactIdsByEmail('new@example.com')[0]!;
    await eventually(() => ac.contactState(newId)?.tags.join() === 'lead', 5000, 'tag on the new contact');
    expect(ac.contactState(newId)?.contact.firstName).toBe('New');
    expect((await api(`/api/users/${registered.id}`)).contactId).toBe(newId);
  });
});
