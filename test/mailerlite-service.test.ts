import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../src/service.js';
import { startFakeMailerLite, type FakeMailerLite } from './fakes/mailerlite.js';
import { startCrmService } from './support/crm-service.js';
import { eventually } from './support/harness.js';

const KEY = 'ml-access-key-0123456789';
const TOKEN = 'ml-api-token-0123456789';
const SECRET = 'ml-webhook-secret-HigkdhMVbp';

/** The whole service configured for MailerLite, against the fake that speaks its API. */
describe('crmsync with CRMSYNC_CRM=mailerlite', () => {
  let ml: FakeMailerLite;
  let service: Service;
  let stopService: () => Promise<void>;
  afterEach(async () => {
    await stopService?.();
    await ml?.close();
  });

  async function start() {
    ml = await startFakeMailerLite({ rateLimitPerMinute: 6000 });
    ({ service, stop: stopService } = await startCrmService({ crm: 'mailerlite', url: ml.url, apiKey: ml.apiToken, webhookSecret: SECRET, accessKey: KEY, apiToken: TOKEN }));
  }

  const api = (path: string, init: RequestInit = {}) =>
    fetch(service.url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } }).then((r) => r.json() as Promise<any>);

  /** POSTs the raw bytes as MailerLite does, signed with `secret`. */
  const deliver = (raw: string, secret = SECRET) =>
    fetch(`${service.url}/?wpf_action=add&access_key=${KEY}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', signature: createHmac('sha256', secret).update(raw).digest('hex') },
      body: raw,
    });

  /** The constructed batch fixture, naming two seeded subscribers. */
  function batchFor(first: string, second: string, email1: string, email2: string): string {
    return readFileSync(new URL('../src/crm/mailerlite/fixtures/webhook-batched.constructed.json', import.meta.url), 'utf8')
      .replaceAll('123456789012345678', first)
      .replaceAll('123456789012345679', second)
      .replaceAll('email@test.com', email1)
      .replaceAll('grace@test.com', email2);
  }

  it('a signed batched webhook creates both users with their groups as tags and mapped fields', async () => {
    await start();
    const ada = ml.seedSubscriber({ email: 'ada@example.com', fields: { name: 'Ada', last_name: 'Lovelace' }, groups: ['Customers', 'VIP'] });
    const grace = ml.seedSubscriber({ email: 'grace@example.com', fields: { name: 'Grace' }, groups: ['Customers'] });
    const res = await deliver(batchFor(ada, grace, 'ada@example.com', 'grace@example.com'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'queued', action: 'add', contacts: [ada, grace] });
    const user = await eventually(async () => (await api(`/api/users?contact_id=${ada}`)).users[0], 5000, 'user');
    expect(user).toMatchObject({ email: 'ada@example.com', fields: { first_name: 'Ada', last_name: 'Lovelace' } });
    expect([...user.tags].sort()).toEqual(['Customers', 'VIP']);
    const second = await eventually(async () => (await api(`/api/users?contact_id=${grace}`)).users[0], 5000, 'second user');
    expect(second).toMatchObject({ email: 'grace@example.com', tags: ['Customers'] });
  });

  it('a wrong signature is refused 401 and stores nothing; a campaign event is answered ignored', async () => {
    await start();
    const id = ml.seedSubscriber({ email: 'eve@example.com' });
    const raw = JSON.stringify({ id, email: 'eve@example.com', event: 'subscriber.updated', account_id: 1 });
    const refused = await deliver(raw, 'not-the-secret');
    expect(refused.status).toBe(401);
    expect((await refused.json()).error.code).toBe('invalid_signature');
    const campaign = await deliver(JSON.stringify({ id: '100000000000000000', name: 'Campaign', event: 'campaign.sent', account_id: 1 }));
    expect(campaign.status).toBe(200);
    expect(await campaign.json()).toMatchObject({ status: 'ignored' });
    expect((await api('/api/users')).users).toEqual([]);
    expect(ml.calls).toBe(0);
  });

  it('local tag changes reach MailerLite as group assign / unassign', async () => {
    await start();
    const id = ml.seedSubscriber({ email: 'ann@example.com', groups: ['keep'] });
    await deliver(JSON.stringify({ id, email: 'ann@example.com', event: 'subscriber.created', account_id: 1 }));
    const user = await eventually(async () => (await api(`/api/users?contact_id=${id}`)).users[0], 5000, 'user');
    await api(`/api/users/${user.id}/tags`, { method: 'POST', body: JSON.stringify({ apply: ['course-101'], remove: ['keep'] }) });
    await eventually(() => ml.subscriberState(id)?.groups.join() === 'course-101', 5000, 'groups in MailerLite');
  });
});
