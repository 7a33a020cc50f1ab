import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeDrip, startFakeDrip } from '../../../test/fakes/drip.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { CrmError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { basicAuth, dripApiBase } from './client.js';
import { capabilities, defaultFieldMap, drip } from './index.js';
import { resolveFieldMap, toDripWrite, toSnapshot } from './mappers.js';
import type { DripSubscriberList } from './types.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const URL_PATH = '/?wpf_action=update&access_key=KEY';

function jsonRequest(value: unknown, raw?: Buffer): WebhookRequest {
  const body = raw ?? Buffer.from(JSON.stringify(value));
  return { method: 'POST', url: URL_PATH, publicUrl: `https://sync.example.com${URL_PATH}`, headers: { 'content-type': 'application/json' }, body, fields: value as Record<string, unknown> };
}

function formRequest(body: string): WebhookRequest {
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const prev = fields[key];
    fields[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { method: 'POST', url: URL_PATH, publicUrl: `https://sync.example.com${URL_PATH}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(body), fields };
}

const FIELD_MAP: FieldMap = { ...defaultFieldMap, company: 'company', plan: 'custom_fields.plan' };

interface Built {
  fake: FakeDrip;
  crm: Crm;
}

async function build(opts: { perHour?: number; limiterRate?: number; clock?: Clock } = {}): Promise<Built> {
  const fake = await startFakeDrip({ rateLimitPerHour: opts.perHour ?? 1_000_000 });
  fake.seedCustomField('company');
  fake.seedCustomField('plan');
  const crm = drip({
    baseUrl: fake.accountUrl,
    apiKey: fake.apiToken,
    webhookSecret: null,
    fieldMap: FIELD_MAP,
    limiter: new TokenBucket({ requests: opts.limiterRate ?? 100, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm };
}

// ---- the shared suite, against the fake (limits raised so the suite runs in seconds) ----

describeCrmConformance('drip', async () => {
  const { fake, crm } = await build();
  const standard = ['first_name', 'last_name', 'phone'] as const;
  const custom: Record<string, string> = { company: 'company', plan: 'plan' };
  return {
    crm,
    fields: ['first_name', 'company', 'last_name', 'plan'],
    unknownContactId: 'zunknown0000000000',
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const seed: Parameters<FakeDrip['seedSubscriber']>[0] = { email: c.email, tags: c.tags, custom_fields: {} };
      for (const [local, value] of Object.entries(c.fields ?? {})) {
        if ((standard as readonly string[]).includes(local)) seed[local as (typeof standard)[number]] = value;
        else if (custom[local]) seed.custom_fields![custom[local]] = value ?? '';
        else throw new Error(`unmapped field ${local}`);
      }
      return fake.seedSubscriber(seed);
    },
    async readContact(id) {
      const s = fake.subscriber(id);
      if (!s) return null;
      const out: Record<string, string | null> = {};
      for (const key of standard) out[key] = s[key] || null;
      for (const [local, identifier] of Object.entries(custom)) out[local] = s.custom_fields[identifier] || null;
      return { email: s.email, fields: out, tags: s.tags };
    },
    webhookFor: (contactId) => {
      const payload = JSON.parse(fixture('webhook-subscriber.applied_tag.json').toString('utf8'));
      payload.data.subscriber.id = contactId;
      return jsonRequest(payload);
    },
    // Drip's documented 429 has no Retry-After: CrmHttp pauses its default second.
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000;
    },
    close: () => fake.close(),
  };
});

// ---- documented payloads ----

describe('drip webhooks (documented payloads)', () => {
  const crm = drip({
    baseUrl: 'https://api.getdrip.com/v2/9999999',
    apiKey: 'unused',
    webhookSecret: null,
    fieldMap: defaultFieldMap,
    limiter: new TokenBucket({ requests: 1, perMs: 1000 }),
    clock: systemClock,
    timeoutMs: 1000,
  });
  const parsed = (name: string) => JSON.parse(fixture(name).toString('utf8'));

  it('subscriber.created → the subscriber id; no signature to check', () => {
    const request = jsonRequest(parsed('webhook-subscriber.created.json'), fixture('webhook-subscriber.created.json'));
    expect(() => crm.verifyWebhook(request)).not.toThrow();
    expect(crm.parseWebhook(request)).toEqual({ contactIds: ['z1togz2hcjrkpp5treip'] });
  });

  it('subscriber.applied_tag → the subscriber id', () => {
    expect(crm.parseWebhook(jsonRequest(parsed('webhook-subscriber.applied_tag.json')))).toEqual({ contactIds: ['z1togz2hcjrkpp5treip'] });
  });

  it('removed_tag, updated_custom_field and updated_email_address (documented envelopes) → the subscriber id', () => {
    const base = parsed('webhook-subscriber.created.json');
    const cases: [string, Record<string, unknown>][] = [
      ['subscriber.removed_tag', { tag: 'Customer' }],
      ['subscriber.updated_custom_field', { identifier: 'first_name', value: 'John', previous_value: '', source: 'drip' }],
      ['subscriber.updated_email_address', { value: 'jdoe@gmail.com', previous_value: 'johndoe@gmail.com', source: 'drip' }],
    ];
    for (const [event, properties] of cases) {
      const payload = { ...base, event, data: { ...base.data, properties } };
      expect(crm.parseWebhook(jsonRequest(payload)).contactIds).toEqual(['z1togz2hcjrkpp5treip']);
    }
  });

  it('events that are not contact changes are ignored, with the event named', () => {
    const base = parsed('webhook-subscriber.created.json');
    for (const event of ['subscriber.opened_email', 'subscriber.clicked_email', 'subscriber.subscribed_to_campaign', 'subscriber.updated_lead_score']) {
      expect(crm.parseWebhook(jsonRequest({ ...base, event }))).toEqual({ contactIds: [], ignored: `${event} is not a contact change` });
    }
    expect(crm.parseWebhook(jsonRequest({ ...base, event: 'subscriber.deleted' }))).toEqual({ contactIds: [], ignored: 'subscriber.deleted: the subscriber no longer exists in Drip' });
    // An account event about something else than a subscriber.
    expect(crm.parseWebhook(jsonRequest({ event: 'account.updated', data: { account_id: '9999999' } })).ignored).toBe('account.updated is not a contact change');
    expect(crm.parseWebhook(jsonRequest({ hello: 'world' }))).toEqual({ contactIds: [], ignored: 'the payload names no Drip subscriber' });
  });

  it('automation "Send an HTTP Post" body (top-level subscriber), JSON or form-encoded', () => {
    expect(crm.parseWebhook(jsonRequest(parsed('http-post-action.reconstructed.json')))).toEqual({ contactIds: ['z1togz2hcjrkpp5treip'] });
    expect(crm.parseWebhook(formRequest('subscriber%5Bid%5D=z1togz2hcjrkpp5treip&subscriber%5Bemail%5D=john%40acme.com')).contactIds).toEqual(['z1togz2hcjrkpp5treip']);
  });

  it('reads the raw body when ingress did not parse it; refuses bad JSON; never takes an e-mail or a path as an id', () => {
    const raw = fixture('webhook-subscriber.created.json');
    const request: WebhookRequest = { method: 'POST', url: '/', publicUrl: 'https://sync.example.com/', headers: {}, body: raw, fields: {} };
    expect(crm.parseWebhook(request).contactIds).toEqual(['z1togz2hcjrkpp5treip']);
    expect(() => crm.parseWebhook({ ...request, body: Buffer.from('{"event": ') })).toThrow(/not valid JSON/);
    expect(crm.parseWebhook(jsonRequest({ subscriber: { id: 'john@acme.com' } })).contactIds).toEqual([]);
    expect(crm.parseWebhook(jsonRequest({ subscriber: { id: '../etc' } })).contactIds).toEqual([]);
    expect(crm.parseWebhook(jsonRequest({ events: [{ subscriber: { id: 'a1' } }, { subscriber: { id: 'a1' } }, { subscriber: { id: 'b2' } }] })).contactIds).toEqual(['a1', 'b2']);
  });
});

describe('drip mappers and config (documented payloads)', () => {
  it('contact-get.json parses into a snapshot: standard properties, custom fields, tag names', () => {
    const body = JSON.parse(fixture('contact-get.json').toString('utf8')) as DripSubscriberList;
    const map = resolveFieldMap({ ...defaultFieldMap, shirt: 'shirt_size', score: 'custom_fields.lead' });
    expect(toSnapshot(body.subscribers[0]!, map, 42)).toEqual({
      contactId: 'z1togz2hcjrkpp5treip',
      email: 'john@acme.com',
      tags: ['Customer', 'SEO'],
      fields: { first_name: 'John', last_name: 'Doe', phone: '555-555-5555', shirt: 'Medium', score: null },
      readAt: 42,
    });
  });

  it('writes standard properties and custom_fields; null writes ""; an unmapped field is refused', () => {
    const map = resolveFieldMap(FIELD_MAP);
    expect(toDripWrite({ first_name: 'Ada', company: 'Acme', plan: null }, map)).toEqual({ first_name: 'Ada', custom_fields: { company: 'Acme', plan: '' } });
    expect(() => toDripWrite({ shoe: '44' }, map)).toThrow(/no Drip field is mapped for: shoe/);
  });

  it('CRMSYNC_CRM_URL must name the account; Basic auth is the token and an empty password', () => {
    for (const base of ['https://api.getdrip.com/v2/9999999', 'https://api.getdrip.com/v2/9999999/']) expect(dripApiBase(base)).toBe('https://api.getdrip.com/v2/9999999/');
    for (const bad of ['https://api.getdrip.com', 'https://api.getdrip.com/v2', 'not a url', 'https://api.getdrip.com/v2/acct']) expect(() => dripApiBase(bad)).toThrow(CrmError);
    expect(basicAuth('abc123')).toBe(`Basic ${Buffer.from('abc123:').toString('base64')}`);
  });
});

// ---- against the fake: calls, errors, limits ----

describe('drip adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 1, signsWebhooks: false, tagsById: false, rateLimit: { requests: 3600, perMs: 3_600_000 }, listing: { contacts: true, byTag: true, changedSince: false, pageSize: 1000 } });
    expect(capabilities).toBe(b.crm.capabilities);
  });

  it('one GET per contact loaded; readAt from the clock before the call', async () => {
    const clock = new ManualClock(5_000);
    const other = await build({ clock });
    try {
      const id = other.fake.seedSubscriber({ email: 'clock@example.com', first_name: 'C', custom_fields: { company: 'Acme' }, tags: ['T'] });
      other.fake.resetCounters();
      const snapshot = (await other.crm.loadContacts([id, id])).get(id)!;
      expect(other.fake.calls).toBe(1);
      expect(snapshot).toMatchObject({ readAt: 5_000, tags: ['T'], fields: { first_name: 'C', company: 'Acme', plan: null } });
    } finally {
      await other.fake.close();
    }
  });

  it('an e-mail given as an id is never looked up', async () => {
    const id = b.fake.seedSubscriber({ email: 'not-an-id@example.com' });
    b.fake.resetCounters();
    expect((await b.crm.loadContacts(['not-an-id@example.com'])).size).toBe(0);
    expect(b.fake.calls).toBe(0);
    expect((await b.crm.loadContacts([id])).size).toBe(1);
  });

  it('upsert is one POST /subscribers keyed by e-mail, with standard and custom fields', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'sync@example.com', fields: { first_name: 'Syn', company: 'Acme' } });
    expect(b.fake.calls).toBe(1);
    expect(b.fake.subscriberWrites[0]).toEqual({ subscribers: [{ email: 'sync@example.com', first_name: 'Syn', custom_fields: { company: 'Acme' } }] });
    expect(b.fake.subscriber(id)).toMatchObject({ first_name: 'Syn', custom_fields: { company: 'Acme' } });
  });

  it('update is one POST /subscribers keyed by id; nothing to write → no call', async () => {
    const id = b.fake.seedSubscriber({ email: 'upd@example.com' });
    b.fake.resetCounters();
    await b.crm.updateContact(id, { last_name: 'L' });
    expect(b.fake.subscriberWrites).toEqual([{ subscribers: [{ id, last_name: 'L' }] }]);
    await b.crm.updateContact(id, {});
    expect(b.fake.calls).toBe(1);
  });

  it('applyTags: one read for the e-mail, then one POST /tags per tag not already applied', async () => {
    const id = b.fake.seedSubscriber({ email: 'tags@example.com', tags: ['Old'] });
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Old', 'New one', 'new ONE']);
    expect(b.fake.routeCalls('GET /v2/:accountId/subscribers/:idOrEmail')).toBe(1);
    expect(b.fake.routeCalls('POST /v2/:accountId/tags')).toBe(1);
    expect(b.fake.subscriber(id)!.tags).toEqual(['Old', 'New one']);
  });

  it('removeTags: one DELETE per tag, by id, the tag name URL-encoded', async () => {
    const id = b.fake.seedSubscriber({ email: 'rm@example.com', tags: ['A/B test', 'Keep'] });
    b.fake.resetCounters();
    await b.crm.removeTags(id, ['A/B test']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.subscriber(id)!.tags).toEqual(['Keep']);
  });

  it('unknown subscriber: update and applyTags are permanent 404s; removeTags is a no-op', async () => {
    await expect(b.crm.updateContact('zmissing', { first_name: 'x' })).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.applyTags('zmissing', ['X'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.removeTags('zmissing', ['X'])).resolves.toBeUndefined();
  });

  it('refuses an unmapped field before any call', async () => {
    b.fake.resetCounters();
    await expect(b.crm.upsertContact({ email: 'bad@example.com', fields: { shoe_size: '44' } })).rejects.toMatchObject({ kind: 'permanent' });
    expect(b.fake.calls).toBe(0);
  });

  it('listFields: standard properties and custom field identifiers', async () => {
    const fields = await b.crm.listFields();
    expect(fields).toEqual(expect.arrayContaining([{ id: 'first_name', name: 'First name' }, { id: 'custom_fields.company', name: 'company' }]));
  });

  it('a wrong token is a permanent 401; a 422 (bad e-mail) is permanent', async () => {
    const wrong = drip({ baseUrl: b.fake.accountUrl, apiKey: 'wrong', webhookSecret: null, fieldMap: defaultFieldMap, limiter: new TokenBucket({ requests: 100, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
    await expect(wrong.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
    await expect(b.crm.upsertContact({ email: 'not-an-email', fields: {} })).rejects.toMatchObject({ kind: 'permanent', status: 422 });
  });
});

describe('drip rate limit', () => {
  it('the fake answers the documented 429 body with X-RateLimit headers and no Retry-After', async () => {
    const fake = await startFakeDrip({ rateLimitPerHour: 2 });
    try {
      const auth = { authorization: basicAuth(fake.apiToken) };
      const responses = await Promise.all(Array.from({ length: 3 }, () => fetch(`${fake.accountUrl}/tags`, { headers: auth })));
      const limited = responses.find((r) => r.status === 429)!;
      expect(limited).toBeDefined();
      expect(limited.headers.get('retry-after')).toBeNull();
      expect(limited.headers.get('x-ratelimit-limit')).toBe('2');
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(await limited.json()).toEqual(JSON.parse(fixture('api-429.http').toString('utf8').split('\n\n')[1]!));
      await Promise.all(responses.filter((r) => r !== limited).map((r) => r.body?.cancel()));
    } finally {
      await fake.close();
    }
  });
});

describe('drip listing (import; no sweep)', () => {
  it('lists whole subscribers of every status page by page, and those with a tag (tags=)', async () => {
    const b = await build();
    try {
      const ids = [1, 2, 3].map((i) => b.fake.seedSubscriber({ email: `dl${i}@example.com`, first_name: `D${i}`, tags: i === 3 ? ['Gold'] : ['Silver'] }));
      b.fake.resetCounters();
      const first = await b.crm.listContacts!({ cursor: null, limit: 2 });
      expect(b.fake.calls).toBe(1);
      expect(first).toMatchObject({ ids: [], nextCursor: '2', total: 3 });
      expect(first.contacts.map((c) => [c.contactId, c.email, c.tags, c.fields.first_name])).toEqual([
        [ids[0], 'dl1@example.com', ['Silver'], 'D1'],
        [ids[1], 'dl2@example.com', ['Silver'], 'D2'],
      ]);
      const last = await b.crm.listContacts!({ cursor: first.nextCursor, limit: 2 });
      expect(last.contacts.map((c) => c.contactId)).toEqual([ids[2]]);
      expect(last.nextCursor).toBeNull();
      const gold = await b.crm.listContacts!({ tag: 'Gold', cursor: null, limit: 100 });
      expect(gold.contacts.map((c) => c.contactId)).toEqual([ids[2]]);
      expect(b.crm.listChangedContacts).toBeUndefined();
    } finally {
      await b.fake.close();
    }
  });
});
