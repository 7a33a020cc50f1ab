import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeKlaviyo, startFakeKlaviyo } from '../../../test/fakes/klaviyo.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { authorization, klaviyoApiBase, REVISION } from './client.js';
import { capabilities, defaultFieldMap, klaviyo } from './index.js';
import { toSnapshot, toWrite } from './mappers.js';
import type { KlaviyoProfileDocument } from './types.js';
import { klaviyoSignature } from './webhook.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const SECRET = 'crmsync-test-webhook-secret';
const FIELD_MAP: FieldMap = { ...defaultFieldMap, plan: 'plan' };

function request(body: Buffer | string, headers: Record<string, string> = {}): WebhookRequest {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
  let fields: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as unknown;
    fields = Array.isArray(parsed) ? { events: parsed } : (parsed as Record<string, unknown>);
  } catch {
    fields = {};
  }
  const url = '/?wpf_action=update&access_key=KEY';
  return { method: 'POST', url, publicUrl: `https://sync.example.com${url}`, headers: { 'content-type': 'application/json', ...headers }, body: raw, fields };
}

/** A system webhook signed for real: HMAC-SHA256(secret, body ‖ Klaviyo-Timestamp). */
function signed(body: Buffer | string, at: number, secret = SECRET, webhookId?: string): WebhookRequest {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const timestamp = new Date(at).toUTCString();
  const headers: Record<string, string> = { 'klaviyo-signature': klaviyoSignature(secret, raw, timestamp), 'klaviyo-timestamp': timestamp };
  if (webhookId) headers['klaviyo-webhook-id'] = webhookId;
  return request(raw, headers);
}

function systemWebhook(profileIds: string[], topic = 'event:klaviyo.subscribed_to_email_marketing'): string {
  return JSON.stringify({
    data: profileIds.map((id, i) => ({ external_id: `evt${i}`, topic, payload: { data: { type: 'event', id: `evt${i}`, relationships: { profile: { data: { type: 'profile', id } } } } } })),
    meta: { klaviyo_account_id: 'ABC123', klaviyo_webhook_id: 'hook-1', timestamp: new Date().toISOString() },
  });
}

interface Built {
  fake: FakeKlaviyo;
  crm: Crm;
  clock: Clock;
}

async function build(opts: { rate?: number; clock?: Clock; apiKey?: string; secret?: string | null; now?: () => number } = {}): Promise<Built> {
  const fake = await startFakeKlaviyo({ rateLimitPerSecond: opts.rate ?? 500, now: opts.now });
  const clock = opts.clock ?? systemClock;
  const crm = klaviyo({
    baseUrl: fake.url,
    apiKey: opts.apiKey ?? fake.apiKey,
    webhookSecret: opts.secret === undefined ? SECRET : opts.secret,
    fieldMap: FIELD_MAP,
    limiter: new TokenBucket({ requests: opts.rate ?? 500, perMs: 1000 }),
    clock,
    timeoutMs: 5000,
  });
  return { fake, crm, clock };
}

describeCrmConformance('klaviyo', async () => {
  const { fake, crm } = await build();
  return {
    crm,
    fields: ['first_name', 'plan', 'last_name'],
    unknownContactId: '01ZZZZZZZZZZZZZZZZZZZZZZZZ',
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const f = c.fields ?? {};
      return fake.seedProfile({ email: c.email, first_name: f.first_name, last_name: f.last_name, properties: { plan: f.plan ?? null }, lists: c.tags });
    },
    async readContact(id) {
      const s = fake.profileState(id);
      if (!s) return null;
      return { email: s.email, fields: { first_name: s.first_name, last_name: s.last_name, phone: s.phone_number, plan: s.properties.plan ?? null }, tags: s.lists };
    },
    webhookFor: (contactId) => signed(systemWebhook([contactId]), Date.now()),
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000;
    },
    close: () => fake.close(),
  };
});

describe('klaviyo webhook signatures (real HMAC, test secret)', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 5, 0, 0));
  const crm = klaviyo({ baseUrl: 'https://a.klaviyo.com/api', apiKey: 'pk_x', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 1, perMs: 1000 }), clock, timeoutMs: 1000 });
  const body = fixture('webhook-system.reconstructed.json');
  const hookId = 'a8b890458b4bbfaa26d961471b83c101d6de23bd826e7e5173a15310985ec3cb';

  it('capabilities: signs webhooks', () => {
    expect(crm.capabilities.signsWebhooks).toBe(true);
  });

  it('matches the third-party test vector (body ‖ timestamp, hex)', () => {
    const v = JSON.parse(fixture('signature-test-vector.third-party.json').toString('utf8')) as Record<string, string>;
    expect(klaviyoSignature(v.secret!, Buffer.from(v.body!), v.klaviyo_timestamp_header!)).toBe(v.expected_klaviyo_signature);
    expect(klaviyoSignature(v.secret!, Buffer.alloc(0), v.klaviyo_timestamp_header!)).toBe(v.empty_body_signature);
    const vectorCrm = klaviyo({ baseUrl: 'https://a.klaviyo.com', apiKey: 'pk_x', webhookSecret: v.secret!, fieldMap: {}, limiter: new TokenBucket({ requests: 1, perMs: 1000 }), clock: new ManualClock(Date.parse(v.klaviyo_timestamp_header!) + 30_000), timeoutMs: 1000 });
    const req = request(v.body!, { 'Klaviyo-Signature': v.expected_klaviyo_signature!, 'Klaviyo-Timestamp': v.klaviyo_timestamp_header!, 'Klaviyo-Webhook-Id': hookId });
    expect(() => vectorCrm.verifyWebhook(req)).not.toThrow();
    expect(vectorCrm.parseWebhook(req)).toEqual({ contactIds: [], ignored: 'event:klaviyo.sent_sms is not a profile change' });
  });

  it('a valid signature passes (fixture bytes, matching Klaviyo-Webhook-Id)', () => {
    expect(() => crm.verifyWebhook(signed(body, clock.now() - 60_000, SECRET, hookId))).not.toThrow();
  });

  it('tampered body → invalid_signature', () => {
    const req = signed(body, clock.now());
    const tampered = Buffer.from(body.toString('utf8').replace('01GDDKASAP8TKDDA2GRZDSVP4H', '01GDDKASAP8TKDDA2GRZDSVP4J'));
    expect(() => crm.verifyWebhook({ ...req, body: tampered })).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
  });

  it('wrong secret → invalid_signature', () => {
    expect(() => crm.verifyWebhook(signed(body, clock.now(), 'another-secret-16chars'))).toThrow(expect.objectContaining({ code: 'invalid_signature', message: 'Klaviyo-Signature does not match' }));
  });

  it('stale (or future) timestamp → invalid_signature', () => {
    expect(() => crm.verifyWebhook(signed(body, clock.now() - 6 * 60_000))).toThrow(expect.objectContaining({ code: 'invalid_signature', message: expect.stringMatching(/5-minute window/) }));
    expect(() => crm.verifyWebhook(signed(body, clock.now() + 6 * 60_000))).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
  });

  it('missing Klaviyo-Signature or Klaviyo-Timestamp → invalid_signature', () => {
    const req = signed(body, clock.now());
    const { 'klaviyo-signature': _s, ...noSignature } = req.headers;
    const { 'klaviyo-timestamp': _t, ...noTimestamp } = req.headers;
    expect(() => crm.verifyWebhook({ ...req, headers: noSignature })).toThrow(expect.objectContaining({ code: 'invalid_signature', message: 'Klaviyo-Signature header missing' }));
    expect(() => crm.verifyWebhook({ ...req, headers: noTimestamp })).toThrow(expect.objectContaining({ code: 'invalid_signature', message: 'Klaviyo-Timestamp header missing' }));
  });

  it('the documented example signature (no published body/secret) does not match our body', () => {
    const lines = fixture('webhook-system.docs-example-headers.http').toString('utf8').split('\n');
    const h = (name: string) => lines.find((l) => l.startsWith(`${name}:`))!.slice(name.length + 1).trim();
    const docsClock = new ManualClock(Date.parse(h('Klaviyo-Timestamp')));
    const docsCrm = klaviyo({ baseUrl: 'https://a.klaviyo.com', apiKey: 'pk_x', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 1, perMs: 1000 }), clock: docsClock, timeoutMs: 1000 });
    const req = request(body, { 'Klaviyo-Signature': h('Klaviyo-Signature'), 'Klaviyo-Timestamp': h('Klaviyo-Timestamp'), 'Klaviyo-Webhook-Id': h('Klaviyo-Webhook-Id') });
    expect(() => docsCrm.verifyWebhook(req)).toThrow(expect.objectContaining({ code: 'invalid_signature', message: 'Klaviyo-Signature does not match' }));
  });

  it('Klaviyo-Webhook-Id different from meta.klaviyo_webhook_id → invalid_signature', () => {
    expect(() => crm.verifyWebhook(signed(body, clock.now(), SECRET, 'someone-else'))).toThrow(expect.objectContaining({ code: 'invalid_signature', message: expect.stringMatching(/Webhook-Id/) }));
  });

  it('a system webhook without a configured secret is refused with a clear message', () => {
    const noSecret = klaviyo({ baseUrl: 'https://a.klaviyo.com', apiKey: 'pk_x', webhookSecret: null, fieldMap: {}, limiter: new TokenBucket({ requests: 1, perMs: 1000 }), clock, timeoutMs: 1000 });
    expect(() => noSecret.verifyWebhook(signed(body, clock.now()))).toThrow(expect.objectContaining({ code: 'invalid_signature', message: expect.stringMatching(/CRMSYNC_CRM_WEBHOOK_SECRET is required/) }));
    // Flow webhooks are not signed: they pass, with or without a secret.
    expect(() => noSecret.verifyWebhook(request(fixture('webhook-flow.custom.json')))).not.toThrow();
  });

  it('a system-webhook body stripped of its signature headers is still held to the signature', () => {
    expect(() => crm.verifyWebhook(request(body))).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
  });
});

describe('klaviyo webhook parsing (documented payloads)', () => {
  const crm = klaviyo({ baseUrl: 'https://a.klaviyo.com', apiKey: 'pk_x', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 1, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });

  it('system webhook (consent topic) → its profile id', () => {
    expect(crm.parseWebhook(request(fixture('webhook-system.reconstructed.json')))).toEqual({ contactIds: ['01GDDKASAP8TKDDA2GRZDSVP4H'] });
  });

  it('a batch keeps the profile-change topics, deduplicated; engagement topics are ignored', () => {
    const a = '01AAAAAAAAAAAAAAAAAAAAAAAA';
    const b = '01BBBBBBBBBBBBBBBBBBBBBBBB';
    const body = JSON.parse(systemWebhook([a, b, a])) as { data: { topic: string }[] };
    body.data[1]!.topic = 'event:klaviyo.opened_email';
    expect(crm.parseWebhook(request(JSON.stringify(body)))).toEqual({ contactIds: [a] });
    expect(crm.parseWebhook(request(systemWebhook([a], 'event:klaviyo.received_email')))).toEqual({ contactIds: [], ignored: 'event:klaviyo.received_email is not a profile change' });
    expect(crm.parseWebhook(request(systemWebhook([b], 'event:klaviyo.unsubscribed_from_sms_marketing'))).contactIds).toEqual([b]);
  });

  it('flow webhook: profile_id, id, profile.id, else the e-mail', () => {
    expect(crm.parseWebhook(request(fixture('webhook-flow.custom.json'))).contactIds).toEqual(['01GDDKASAP8TKDDA2GRZDSVP4H']);
    expect(crm.parseWebhook(request('{"id":"01GDDKASAP8TKDDA2GRZDSVP4H"}')).contactIds).toEqual(['01GDDKASAP8TKDDA2GRZDSVP4H']);
    expect(crm.parseWebhook(request('{"profile":{"id":"01GDDKASAP8TKDDA2GRZDSVP4H"}}')).contactIds).toEqual(['01GDDKASAP8TKDDA2GRZDSVP4H']);
    expect(crm.parseWebhook(request('{"email":"Sarah@Example.com"}')).contactIds).toEqual(['sarah@example.com']);
    expect(crm.parseWebhook(request('{"profile_id":"../etc"}')).contactIds).toEqual([]);
    // Older profiles keep a six-character id (what {{ person.KlaviyoID }} renders for them).
    expect(crm.parseWebhook(request('{"profile_id":"a8Km3V"}')).contactIds).toEqual(['a8Km3V']);
  });

  it('a body that is not JSON is malformed', () => {
    expect(() => crm.parseWebhook(request('{"data": ['))).toThrow(expect.objectContaining({ code: 'malformed_body' }));
  });
});

describe('klaviyo mappers and client helpers', () => {
  it('contact-get.reconstructed.json → snapshot (standard, location and custom fields)', () => {
    const doc = JSON.parse(fixture('contact-get.reconstructed.json').toString('utf8')) as KlaviyoProfileDocument;
    const snapshot = toSnapshot(doc.data, ['Y6nRLr'], new Map([['Y6nRLr', 'Newsletter']]), { ...defaultFieldMap, city: 'location.city', alias: 'properties.pseudonym', company: 'organization' }, 9);
    expect(snapshot).toEqual({
      contactId: '01GDDKASAP8TKDDA2GRZDSVP4H',
      email: 'sarah.mason@klaviyo-demo.com',
      tags: ['Newsletter'],
      fields: { first_name: 'Sarah', last_name: 'Mason', phone: '+15005550006', city: 'New York', alias: 'Dr. Octopus', company: 'Example Corporation' },
      readAt: 9,
    });
  });

  it('writes: standard nulls clear, custom nulls are unset, unmapped refused', () => {
    expect(toWrite({ first_name: null, plan: 'Gold', tier: null }, { first_name: 'first_name', plan: 'plan', tier: 'properties.tier' })).toEqual({ attributes: { first_name: null, properties: { plan: 'Gold' } }, unset: ['tier'] });
    expect(() => toWrite({ x: '1' }, {})).toThrow(/no Klaviyo profile field is mapped for: x/);
  });

  it('base URL, Authorization and revision', () => {
    for (const base of ['https://a.klaviyo.com', 'https://a.klaviyo.com/', 'https://a.klaviyo.com/api', 'https://a.klaviyo.com/api/']) expect(klaviyoApiBase(base)).toBe('https://a.klaviyo.com/api/');
    expect(authorization('pk_abc')).toBe('Klaviyo-API-Key pk_abc');
    expect(authorization('Bearer tok')).toBe('Bearer tok');
    expect(REVISION).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });
});

describe('klaviyo adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(capabilities).toEqual({ maxBatchLoad: 100, signsWebhooks: true, tagsById: true, rateLimit: { requests: 60, perMs: 60_000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 100 } });
  });

  it('loads 100 profiles in one Get Profiles call (+ one lists call each), sending the revision header', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => b.fake.seedProfile({ email: `many${i}@example.com`, first_name: `F${i}`, lists: ['Alpha'] }));
    await b.crm.loadContacts(ids.slice(0, 1));
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts(ids);
    expect(loaded.size).toBe(100);
    expect(b.fake.routeCalls('GET /api/profiles')).toBe(1);
    expect(b.fake.routeCalls('GET /api/profiles/:id/relationships/lists')).toBe(100);
    expect(loaded.get(ids[42]!)).toMatchObject({ tags: ['Alpha'], fields: { first_name: 'F42' } });
    expect([...b.fake.revisions]).toEqual([REVISION]);
  });

  it('loads a profile named by e-mail (flow webhook), keyed by that e-mail', async () => {
    const id = b.fake.seedProfile({ email: 'flow@example.com', lists: ['Beta'] });
    const loaded = await b.crm.loadContacts(['flow@example.com']);
    expect(loaded.get('flow@example.com')).toMatchObject({ contactId: id, tags: ['Beta'] });
  });

  it('upsert is one profile-import call; unsetting a custom property adds a PATCH', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'imp@example.com', fields: { first_name: 'Imp', plan: 'Gold' } });
    expect(b.fake.calls).toBe(1);
    b.fake.resetCounters();
    expect(await b.crm.upsertContact({ email: 'imp@example.com', fields: { plan: null } })).toBe(id);
    expect(b.fake.calls).toBe(2);
    expect(b.fake.profileState(id)).toMatchObject({ first_name: 'Imp', properties: {} });
  });

  it('lists page through links.next cursors (more than 10 lists)', async () => {
    for (let i = 0; i < 23; i++) b.fake.seedList(`Paged ${i}`);
    expect(await b.crm.listTags()).toEqual(expect.arrayContaining(['Paged 0', 'Paged 22']));
  });

  it('applyTags recovers when a cached list was deleted in Klaviyo', async () => {
    const id = b.fake.seedProfile({ email: 'relist@example.com' });
    await b.crm.applyTags(id, ['Short lived']);
    b.fake.deleteList(b.fake.seedList('Short lived'));
    await b.crm.applyTags(id, ['Short lived']);
    expect(b.fake.profileState(id)!.lists).toEqual(['Short lived']);
  });

  it('applyTags on an unknown profile is a permanent error', async () => {
    await expect(b.crm.applyTags('01ZZZZZZZZZZZZZZZZZZZZZZZZ', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
  });

  it('a wrong key is a permanent 401', async () => {
    const wrong = await build({ apiKey: 'pk_wrong' });
    try {
      await expect(wrong.crm.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
    } finally {
      await wrong.fake.close();
    }
  });

  it('the fake answers 429 with Retry-After and RateLimit headers otherwise', async () => {
    const fake = await startFakeKlaviyo({ rateLimitPerSecond: 2 });
    try {
      const headers = { authorization: `Klaviyo-API-Key ${fake.apiKey}`, revision: REVISION };
      const responses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${fake.url}/lists`, { headers })));
      const limited = responses.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]!.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(responses.find((r) => r.status === 200)!.headers.get('ratelimit-remaining')).toMatch(/^\d+$/);
      expect((await fetch(`${fake.url}/lists`, { headers: { authorization: headers.authorization } })).status).toBeOneOf([400, 429]);
      await Promise.all(responses.map((r) => r.body?.cancel()));
    } finally {
      await fake.close();
    }
  });
});

describe('klaviyo listing (import and sweep)', () => {
  it('lists profile IDs 100 a page (page[cursor] from links.next), and a tag\'s list profiles', async () => {
    const b = await build();
    try {
      const ids = Array.from({ length: 150 }, (_, i) => b.fake.seedProfile({ email: `kv${i}@example.com`, lists: i % 50 === 0 ? ['Gold'] : [] }));
      const first = await b.crm.listContacts!({ cursor: null, limit: 100 });
      expect(first.contacts).toEqual([]);
      expect(first.ids).toHaveLength(100);
      expect(first.nextCursor).not.toBeNull();
      const last = await b.crm.listContacts!({ cursor: first.nextCursor, limit: 100 });
      expect(last.nextCursor).toBeNull();
      expect([...first.ids, ...last.ids].sort()).toEqual([...ids].sort());
      const gold = await b.crm.listContacts!({ tag: 'gold', cursor: null, limit: 100 });
      expect(gold.ids.sort()).toEqual([ids[0], ids[50], ids[100]].sort());
      expect(await b.crm.listContacts!({ tag: 'no such list', cursor: null, limit: 100 })).toEqual({ contacts: [], ids: [], nextCursor: null, total: 0 });
    } finally {
      await b.fake.close();
    }
  });

  it('lists profiles updated since a time (filter greater-than(updated,…))', async () => {
    let now = Date.UTC(2026, 10, 28, 12);
    const b = await build({ now: () => now });
    try {
      const [a, c] = [1, 2].map((i) => b.fake.seedProfile({ email: `ku${i}@example.com` }));
      now += 60_000;
      const since = now;
      b.fake.editProfile(c!, { first_name: 'Later' });
      const changed = await b.crm.listChangedContacts!({ since: since + 300, cursor: null, limit: 100 });
      expect(changed).toEqual({ contacts: [], ids: [c], nextCursor: null });
      expect(changed.ids).not.toContain(a);
      now += 5000;
      expect((await b.crm.listChangedContacts!({ since: now, cursor: null, limit: 100 })).ids).toEqual([]);
    } finally {
      await b.fake.close();
    }
  });
});
