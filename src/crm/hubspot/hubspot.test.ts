import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeHubSpot, signHubSpotWebhook, startFakeHubSpot } from '../../../test/fakes/hubspot.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { CrmWebhookError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { hsApiBase } from './client.js';
import { capabilities, defaultFieldMap, hubspot } from './index.js';
import { checkFieldMap, toProperties, toSnapshot } from './mappers.js';
import type { HsObject } from './types.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const vectors = JSON.parse(fixture('signature-test-vectors.json').toString('utf8'));
const SDK_SECRET: string = vectors.secret;
const SECRET = 'test-client-secret-4f0c';
const PUBLIC = 'https://sync.example.com/?wpf_action=update&access_key=KEY';
const FIELD_MAP: FieldMap = { ...defaultFieldMap, company: 'company' };

/** What ingress hands the adapter for a JSON body: the raw bytes, and `{events}` for an array. */
function request(body: string | Buffer, headers: Record<string, string> = {}, publicUrl = PUBLIC, method = 'POST'): WebhookRequest {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  let fields: Record<string, unknown> = {};
  try {
    const parsed = raw.length ? JSON.parse(raw.toString('utf8')) : {};
    fields = Array.isArray(parsed) ? { events: parsed } : parsed;
  } catch {
    fields = {};
  }
  const url = publicUrl.replace(/^https?:\/\/[^/]+/, '');
  return { method, url, publicUrl, headers: { 'content-type': 'application/json', ...headers }, body: raw, fields };
}

/** HubSpot's v3 header pair, computed here from the documented recipe (not by the adapter). */
function v3Headers(secret: string, method: string, uri: string, body: string, timestamp: number): Record<string, string> {
  const signature = createHmac('sha256', secret).update(`${method}${uri}${body}${timestamp}`).digest('base64');
  return { 'X-HubSpot-Signature-v3': signature, 'X-HubSpot-Request-Timestamp': String(timestamp) };
}

function offline(options: { secret?: string | null; clock?: Clock; fieldMap?: FieldMap } = {}): Crm {
  return hubspot({
    baseUrl: 'https://api.hubapi.com',
    apiKey: 'unused',
    webhookSecret: options.secret === undefined ? SECRET : options.secret,
    fieldMap: options.fieldMap ?? FIELD_MAP,
    limiter: new TokenBucket({ requests: 10, perMs: 1000 }),
    clock: options.clock ?? systemClock,
    timeoutMs: 1000,
  });
}

interface Built {
  fake: FakeHubSpot;
  crm: Crm;
}

async function build(opts: { rateLimit?: { requests: number; perMs: number }; limiter?: { requests: number; perMs: number }; clock?: Clock; baseSuffix?: string; token?: string; latencyMs?: number; now?: () => number } = {}): Promise<Built> {
  const fake = await startFakeHubSpot({ rateLimit: opts.rateLimit ?? { requests: 1000, perMs: 1000 }, latencyMs: opts.latencyMs, now: opts.now });
  const crm = hubspot({
    baseUrl: fake.url + (opts.baseSuffix ?? ''),
    apiKey: opts.token ?? fake.token,
    webhookSecret: SECRET,
    fieldMap: FIELD_MAP,
    limiter: new TokenBucket(opts.limiter ?? { requests: 200, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm };
}

// ---- the shared suite, against the fake (limits raised so the suite runs in seconds) ----

describeCrmConformance('hubspot', async () => {
  const { fake, crm } = await build();
  return {
    crm,
    fields: ['first_name', 'last_name', 'company'],
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const properties: Record<string, string | null> = {};
      for (const [local, value] of Object.entries(c.fields ?? {})) {
        if (!FIELD_MAP[local]) throw new Error(`unmapped field ${local}`);
        properties[FIELD_MAP[local]!] = value;
      }
      return fake.seedContact({ email: c.email, properties, lists: c.tags });
    },
    async readContact(id) {
      const state = fake.contactState(id);
      if (!state) return null;
      const fields: Record<string, string | null> = {};
      for (const [local, key] of Object.entries(FIELD_MAP)) fields[local] = state.properties[key] ?? null;
      return { email: state.properties.email ?? '', fields, tags: state.lists };
    },
    webhookFor(contactId) {
      const body = JSON.stringify(fake.webhookEvents([contactId]));
      return request(body, signHubSpotWebhook({ secret: SECRET, url: PUBLIC, body }));
    },
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000; // no Retry-After, as HubSpot: CrmHttp waits its default second (the secondly window)
    },
    close: () => fake.close(),
  };
});

// ---- documented payloads → contact refs ----

describe('hubspot webhooks (documented payloads)', () => {
  const crm = offline();

  it('the Webhooks API guide example (an array: propertyChange + creation) names both contacts', () => {
    expect(crm.parseWebhook(request(fixture('webhook-batch-propertychange-and-creation.json')))).toEqual({ contactIds: ['1246965', '1246978'] });
  });

  it('accepts the guide\'s `eventType` spelling too', () => {
    const events = JSON.parse(fixture('webhook-batch-propertychange-and-creation.json').toString('utf8')).map(({ subscriptionType, ...e }: Record<string, unknown>) => ({ ...e, eventType: subscriptionType }));
    expect(crm.parseWebhook(request(JSON.stringify(events))).contactIds).toEqual(['1246965', '1246978']);
  });

  it('the SDK test delivery (contact.creation) → contact 123', () => {
    expect(crm.parseWebhook(request(fixture('webhook-contact-creation.sdk-signature-v1.json'))).contactIds).toEqual(['123']);
  });

  it('deletions, privacy deletions, association changes and other objects are ignored', () => {
    const base = { portalId: 33, occurredAt: 1, attemptNumber: 0 };
    const only = (events: object[]) => crm.parseWebhook(request(JSON.stringify(events)));
    expect(only([{ ...base, objectId: 5, subscriptionType: 'contact.deletion' }])).toEqual({ contactIds: [], ignored: 'contact.deletion is not a contact change' });
    expect(only([{ ...base, objectId: 5, subscriptionType: 'contact.privacyDeletion' }, { ...base, objectId: 6, subscriptionType: 'company.creation' }]).ignored).toBe(
      'contact.privacyDeletion, company.creation are not a contact change',
    );
    expect(only([{ ...base, objectId: 7, subscriptionType: 'contact.associationChange' }]).contactIds).toEqual([]);
    // A mixed delivery: only the contacts to load; the deletion is dropped silently.
    expect(only([{ ...base, objectId: 5, subscriptionType: 'contact.deletion' }, { ...base, objectId: 8, subscriptionType: 'contact.propertyChange' }])).toEqual({ contactIds: ['8'] });
  });

  it('generic object.* events count for contacts (objectTypeId 0-1) only; a merge names the surviving record', () => {
    const events = [
      { objectId: 11, subscriptionType: 'object.creation', objectTypeId: '0-1' },
      { objectId: 12, subscriptionType: 'object.propertyChange', objectTypeId: '0-2' },
      { objectId: 13, subscriptionType: 'contact.merge', primaryObjectId: 14, mergedObjectIds: [13] },
      { objectId: 15, subscriptionType: 'contact.restore' },
    ];
    expect(crm.parseWebhook(request(JSON.stringify(events))).contactIds).toEqual(['11', '14', '15']);
  });

  it('a batch of 100 events for a few contacts names each contact once, in order', () => {
    const events = Array.from({ length: 100 }, (_, i) => ({ objectId: 500 + (i % 7), subscriptionType: 'contact.propertyChange', propertyName: 'firstname', propertyValue: `v${i}` }));
    expect(crm.parseWebhook(request(JSON.stringify(events))).contactIds).toEqual(['500', '501', '502', '503', '504', '505', '506']);
  });

  it('a workflow "Send a webhook" single object: vid, objectId or properties.hs_object_id', () => {
    expect(crm.parseWebhook(request(JSON.stringify({ vid: 3201, 'canonical-vid': 3201, 'portal-id': 62515, properties: { email: { value: 'a@example.com' } } }))).contactIds).toEqual(['3201']);
    expect(crm.parseWebhook(request(JSON.stringify({ objectId: 77 }))).contactIds).toEqual(['77']);
    expect(crm.parseWebhook(request(JSON.stringify({ properties: { hs_object_id: { value: '78' } } }))).contactIds).toEqual(['78']);
    expect(crm.parseWebhook(request(JSON.stringify({ properties: { hs_object_id: '79' } }))).contactIds).toEqual(['79']);
  });

  it('ids that are not HubSpot record ids are dropped', () => {
    expect(crm.parseWebhook(request(JSON.stringify([{ objectId: '../etc', subscriptionType: 'contact.creation' }, { objectId: 1.5, subscriptionType: 'contact.creation' }]))).contactIds).toEqual([]);
  });

  it('reads ingress fields ({events}) when the raw body is empty; refuses invalid JSON', () => {
    const events = JSON.parse(fixture('webhook-contact-creation.sdk-signature-v1.json').toString('utf8'));
    const req: WebhookRequest = { ...request(''), fields: { events } };
    expect(crm.parseWebhook(req).contactIds).toEqual(['123']);
    expect(() => crm.parseWebhook(request('[{"objectId": '))).toThrow(CrmWebhookError);
    expect(() => crm.parseWebhook(request('[{"objectId": '))).toThrow(/not valid JSON/);
  });
});

// ---- signatures: HubSpot's published vectors, then real signatures with a test secret ----

describe('hubspot signature verification', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 5, 0, 0));
  const sdk = offline({ secret: SDK_SECRET, clock });
  const crm = offline({ clock });
  const body = '[{"objectId":123,"subscriptionType":"contact.propertyChange","propertyName":"firstname","propertyValue":"Ada"}]';
  const signedV3 = (overrides: { secret?: string; uri?: string; ts?: number; body?: string } = {}) =>
    v3Headers(overrides.secret ?? SECRET, 'POST', overrides.uri ?? PUBLIC, overrides.body ?? body, overrides.ts ?? clock.now());
  const invalid = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(CrmWebhookError);
      expect((error as CrmWebhookError).code).toBe('invalid_signature');
      return (error as CrmWebhookError).message;
    }
    throw new Error('expected invalid_signature');
  };

  it('v1: the SDK vector passes over the exact fixture bytes', () => {
    const raw = fixture('webhook-contact-creation.sdk-signature-v1.json');
    expect(raw.toString('utf8')).toBe(vectors.v1.body);
    expect(() => sdk.verifyWebhook(request(raw, { 'X-HubSpot-Signature': vectors.v1.signature, 'X-HubSpot-Signature-Version': 'v1' }))).not.toThrow();
  });

  it('v2: the SDK vectors (GET without body, POST with body) pass over method + URI + body', () => {
    const get = vectors.v2_get;
    expect(() => sdk.verifyWebhook(request(get.body, { 'X-HubSpot-Signature': get.signature, 'X-HubSpot-Signature-Version': 'v2' }, get.uri, 'GET'))).not.toThrow();
    const post = vectors.v2_post;
    expect(() => sdk.verifyWebhook(request(post.body, { 'X-HubSpot-Signature': post.signature, 'X-HubSpot-Signature-Version': 'v2' }, post.uri, 'POST'))).not.toThrow();
  });

  it('v3: the SDK test input signed for real (HMAC-SHA256, base64) passes', () => {
    const post = vectors.v2_post;
    const headers = v3Headers(SDK_SECRET, 'POST', post.uri, post.body, clock.now());
    expect(() => sdk.verifyWebhook(request(post.body, headers, post.uri))).not.toThrow();
  });

  it('v3: valid at the edges of the 5-minute window, refused just past it (stale) and from the future', () => {
    expect(() => crm.verifyWebhook(request(body, signedV3({ ts: clock.now() - 300_000 })))).not.toThrow();
    expect(invalid(() => crm.verifyWebhook(request(body, signedV3({ ts: clock.now() - 300_001 }))))).toMatch(/5 minutes/);
    expect(invalid(() => crm.verifyWebhook(request(body, signedV3({ ts: clock.now() + 300_001 }))))).toMatch(/5 minutes/);
  });

  it('v3: tampered body, wrong secret, other URI → invalid_signature', () => {
    expect(() => crm.verifyWebhook(request(body, signedV3()))).not.toThrow();
    expect(invalid(() => crm.verifyWebhook(request(body.replace('Ada', 'Eve'), signedV3())))).toMatch(/v3 signature does not match/);
    expect(invalid(() => crm.verifyWebhook(request(body, signedV3({ secret: 'wrong-secret' }))))).toMatch(/does not match/);
    expect(invalid(() => crm.verifyWebhook(request(body, signedV3({ uri: 'https://evil.example.com/?wpf_action=update&access_key=KEY' }))))).toMatch(/does not match/);
  });

  it('v3: missing timestamp, non-numeric timestamp, missing signature headers → invalid_signature', () => {
    const { 'X-HubSpot-Signature-v3': sig } = signedV3();
    expect(invalid(() => crm.verifyWebhook(request(body, { 'X-HubSpot-Signature-v3': sig! })))).toMatch(/Timestamp/);
    expect(invalid(() => crm.verifyWebhook(request(body, { 'X-HubSpot-Signature-v3': sig!, 'X-HubSpot-Request-Timestamp': '2025-03-16T12:12:23' })))).toMatch(/epoch/);
    expect(invalid(() => crm.verifyWebhook(request(body)))).toMatch(/missing HubSpot signature/);
  });

  it('v3: HubSpot signs the URI with the listed characters decoded', () => {
    const encoded = 'https://sync.example.com/?wpf_action=update&access_key=K%40Y%2C1';
    const headers = signedV3({ uri: 'https://sync.example.com/?wpf_action=update&access_key=K@Y,1' });
    expect(() => crm.verifyWebhook(request(body, headers, encoded))).not.toThrow();
  });

  it('v3 decides when present: a valid v1 beside a bad v3 is refused', () => {
    const v1 = signHubSpotWebhook({ secret: SECRET, url: PUBLIC, body });
    const headers = { ...v1, 'x-hubspot-signature-v3': signedV3({ secret: 'wrong' })['X-HubSpot-Signature-v3']! };
    invalid(() => crm.verifyWebhook(request(body, headers)));
  });

  it('v1/v2: tampered body, wrong secret, wrong URI, unknown version → invalid_signature', () => {
    const raw = fixture('webhook-contact-creation.sdk-signature-v1.json');
    const v1 = { 'X-HubSpot-Signature': vectors.v1.signature, 'X-HubSpot-Signature-Version': 'v1' };
    invalid(() => sdk.verifyWebhook(request(raw.toString('utf8').replace('123', '124'), v1)));
    invalid(() => crm.verifyWebhook(request(raw, v1)));
    const post = vectors.v2_post;
    invalid(() => sdk.verifyWebhook(request(post.body, { 'X-HubSpot-Signature': post.signature, 'X-HubSpot-Signature-Version': 'v2' }, 'https://www.example.com/other_uri')));
    expect(invalid(() => sdk.verifyWebhook(request(raw, { ...v1, 'X-HubSpot-Signature-Version': 'v9' })))).toMatch(/unsupported/);
  });

  it('without a configured secret every webhook is refused, naming CRMSYNC_CRM_WEBHOOK_SECRET', () => {
    const none = offline({ secret: null, clock });
    expect(invalid(() => none.verifyWebhook(request(body, signedV3())))).toMatch(/CRMSYNC_CRM_WEBHOOK_SECRET/);
  });

  it('the fake\'s delivery headers (v1 + v3, as HubSpot sends them) pass', () => {
    const real = offline();
    const headers = signHubSpotWebhook({ secret: SECRET, url: PUBLIC, body });
    expect(() => real.verifyWebhook(request(body, headers))).not.toThrow();
    const { 'x-hubspot-signature-v3': _v3, 'x-hubspot-request-timestamp': _ts, ...v1Only } = headers;
    expect(() => real.verifyWebhook(request(body, v1Only))).not.toThrow();
  });
});

// ---- mappers ----

describe('hubspot mappers (documented payloads)', () => {
  it('contact-get.json (requested empty properties are null) → snapshot', () => {
    const contact = JSON.parse(fixture('contact-get.json').toString('utf8')) as HsObject;
    expect(toSnapshot(contact, ['Customer'], { first_name: 'firstname', last_name: 'lastname', other: 'text_field' }, 42)).toEqual({
      contactId: '286101',
      email: 'grouparoo@demo.com',
      tags: ['Customer'],
      fields: { first_name: 'John', last_name: null, other: null },
      readAt: 42,
    });
  });

  it('writes null as "" (HubSpot clears a value with an empty string); refuses unmapped fields and non-internal names', () => {
    expect(toProperties({ first_name: null, company: 'Acme' }, FIELD_MAP)).toEqual({ firstname: '', company: 'Acme' });
    expect(() => toProperties({ shoe_size: '44' }, FIELD_MAP)).toThrow(/no HubSpot property is mapped for: shoe_size/);
    expect(() => checkFieldMap({ first_name: 'First Name' })).toThrow(/internal names/);
  });

  it('normalises the base URL', () => {
    for (const base of ['https://api.hubapi.com', 'https://api.hubapi.com/', 'https://api.hubapi.com/crm/v3', 'https://api.hubapi.com/crm/v3/', '']) {
      expect(hsApiBase(base)).toBe('https://api.hubapi.com/');
    }
  });
});

// ---- calls, limits, errors against the fake ----

describe('hubspot adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 100, signsWebhooks: true, tagsById: true, rateLimit: { requests: 100, perMs: 10_000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 100 } });
    expect(capabilities).toBe(b.crm.capabilities);
  });

  it('loads 100 contacts in 2 calls (batch read + memberships batch read) once the list map is warm', async () => {
    const ids = b.fake.seedContacts(100, (i) => ({ email: `calls${i}@example.com`, properties: { firstname: `F${i}`, company: `C${i}` }, lists: ['Alpha', i % 2 ? 'Beta' : 'Alpha'] }));
    await b.crm.loadContacts(ids);
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts(ids);
    expect(b.fake.stats()).toEqual({
      calls: 2,
      rateLimited: 0,
      byRoute: { 'POST /crm/v3/objects/contacts/batch/read': 1, 'POST /crm/v3/lists/records/memberships/batch/read': 1 },
    });
    expect(loaded.get(ids[7]!)).toMatchObject({ email: 'calls7@example.com', tags: ['Alpha', 'Beta'], fields: { first_name: 'F7', company: 'C7', last_name: null } });
  });

  it('a list created in HubSpot costs one list refresh; an active list is not a tag and costs nothing after', async () => {
    const id = b.fake.seedContact({ email: 'refresh@example.com', lists: ['Known'] });
    await b.crm.loadContacts([id]);
    b.fake.addToList(id, 'New in HubSpot');
    b.fake.seedList('Everyone (active)', 'DYNAMIC');
    b.fake.addToList(id, 'Everyone (active)'); // HubSpot's own processing, as for an active list
    b.fake.resetCounters();
    expect((await b.crm.loadContacts([id])).get(id)!.tags.sort()).toEqual(['Known', 'New in HubSpot']);
    expect(b.fake.routeCalls('POST /crm/v3/lists/search')).toBe(1);
    b.fake.resetCounters();
    await b.crm.loadContacts([id]);
    expect(b.fake.calls).toBe(2);
  });

  it('finds by e-mail (any case) in 2 calls: read by idProperty=email + memberships', async () => {
    const id = b.fake.seedContact({ email: 'Find.Me@example.com', properties: { firstname: 'Grace' }, lists: ['Alpha'] });
    b.fake.resetCounters();
    const found = await b.crm.findContactByEmail('find.me@example.com');
    expect(found).toMatchObject({ contactId: id, email: 'find.me@example.com', tags: ['Alpha'], fields: { first_name: 'Grace' } });
    expect(b.fake.calls).toBe(2);
  });

  it('upsert is one batch/upsert call keyed by e-mail; null clears', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'upsert@example.com', fields: { first_name: 'Up', company: 'Acme' } });
    expect(b.fake.calls).toBe(1);
    expect(await b.crm.upsertContact({ email: 'upsert@example.com', fields: { company: null } })).toBe(id);
    expect(b.fake.contactState(id)!.properties).toMatchObject({ firstname: 'Up' });
    expect(b.fake.contactState(id)!.properties.company).toBeUndefined();
  });

  it('applyTags: a new tag costs list refresh + create + add, then one add; case-insensitive names', async () => {
    const id = b.fake.seedContact({ email: 'tags-calls@example.com' });
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new list', 'brand NEW list']);
    expect(b.fake.routeCalls('POST /crm/v3/lists')).toBe(1);
    expect(b.fake.routeCalls('PUT /crm/v3/lists/:listId/memberships/add')).toBe(1);
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new list']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactState(id)!.lists).toEqual(['Brand new list']);
  });

  it('applyTags recovers when a cached list was deleted in HubSpot', async () => {
    const id = b.fake.seedContact({ email: 'deleted-list@example.com' });
    await b.crm.applyTags(id, ['Short lived']);
    b.fake.deleteList(b.fake.seedList('Short lived'));
    await b.crm.applyTags(id, ['Short lived']);
    expect(b.fake.contactState(id)!.lists).toEqual(['Short lived']);
  });

  it('applyTags to an active list name, or to an unknown contact, is a permanent error', async () => {
    const id = b.fake.seedContact({ email: 'active@example.com' });
    b.fake.seedList('Active only', 'DYNAMIC');
    await expect(b.crm.applyTags(id, ['Active only'])).rejects.toMatchObject({ kind: 'permanent' });
    await expect(b.crm.applyTags('99999', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
  });

  it('refuses an unmapped field before any call', async () => {
    b.fake.resetCounters();
    await expect(b.crm.upsertContact({ email: 'bad@example.com', fields: { shoe_size: '44' } })).rejects.toMatchObject({ kind: 'permanent' });
    expect(b.fake.calls).toBe(0);
  });

  it('a 502 is transient; a bad token is permanent (401)', async () => {
    const id = b.fake.seedContact({ email: 'errors@example.com' });
    b.fake.failNext(502);
    await expect(b.crm.loadContacts([id])).rejects.toMatchObject({ kind: 'transient', status: 502 });
    const wrong = hubspot({ baseUrl: b.fake.url, apiKey: 'wrong', webhookSecret: SECRET, fieldMap: FIELD_MAP, limiter: new TokenBucket({ requests: 50, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
    await expect(wrong.loadContacts([id])).rejects.toMatchObject({ kind: 'permanent', status: 401 });
  });

  it('takes readAt from the clock before the first call; accepts a base URL ending in /crm/v3', async () => {
    const other = await build({ clock: new ManualClock(1_000), baseSuffix: '/crm/v3/' });
    try {
      const id = other.fake.seedContact({ email: 'clock@example.com', lists: ['S'] });
      expect((await other.crm.loadContacts([id])).get(id)).toMatchObject({ readAt: 1_000, tags: ['S'] });
    } finally {
      await other.fake.close();
    }
  });

  it('listFields returns property internal names and labels', async () => {
    expect(await b.crm.listFields()).toEqual(expect.arrayContaining([{ id: 'firstname', name: 'First Name' }, { id: 'company', name: 'Company Name' }]));
  });
});

describe('hubspot listing (import and sweep)', () => {
  it('lists every contact ID page by page (after cursor), and a tag\'s static-list members', async () => {
    const b = await build();
    try {
      const ids = b.fake.seedContacts(5, (i) => ({ email: `hl${i}@example.com`, lists: i % 2 ? ['Odd'] : ['Even'] }));
      const seen: string[] = [];
      let pages = 0;
      for (let cursor: string | null = null; ; ) {
        const page = await b.crm.listContacts!({ cursor, limit: 2 });
        expect(page.contacts).toEqual([]);
        seen.push(...page.ids);
        pages++;
        if ((cursor = page.nextCursor) === null) break;
      }
      expect(seen).toEqual(ids);
      expect(pages).toBe(3);
      const odd = await b.crm.listContacts!({ tag: 'odd', cursor: null, limit: 100 });
      expect(odd).toEqual({ contacts: [], ids: [ids[1], ids[3]], nextCursor: null });
      b.fake.resetCounters();
      expect(await b.crm.listContacts!({ tag: 'no such list', cursor: null, limit: 100 })).toEqual({ contacts: [], ids: [], nextCursor: null, total: 0 });
      expect(b.fake.routeCalls('GET /crm/v3/lists/:listId/memberships')).toBe(0);
    } finally {
      await b.fake.close();
    }
  });

  it('lists contacts modified since a time with a CRM search on lastmodifieddate, oldest first', async () => {
    let now = Date.UTC(2026, 10, 28, 12);
    const b = await build({ now: () => now });
    try {
      const [a, c, d] = b.fake.seedContacts(3, (i) => ({ email: `hm${i}@example.com` }));
      now += 60_000;
      const since = now;
      b.fake.editContact(d!, { firstname: 'Later' });
      now += 1000;
      b.fake.editContact(c!, { firstname: 'Latest' });
      const page = await b.crm.listChangedContacts!({ since, cursor: null, limit: 100 });
      expect(page).toEqual({ contacts: [], ids: [d, c], nextCursor: null, total: 2 });
      expect(page.ids).not.toContain(a);
      const first = await b.crm.listChangedContacts!({ since, cursor: null, limit: 1 });
      expect(first).toMatchObject({ ids: [d], nextCursor: '1' });
      expect((await b.crm.listChangedContacts!({ since, cursor: first.nextCursor, limit: 1 })).ids).toEqual([c]);
      expect(b.fake.routeCalls('POST /crm/v3/objects/contacts/search')).toBe(3);
    } finally {
      await b.fake.close();
    }
  });
});

describe('hubspot at its documented limit (fake at 100 requests / 10 s)', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build({ rateLimit: { requests: 100, perMs: 10_000 }, limiter: { requests: 100, perMs: 10_000 }, latencyMs: 5 });
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('a burst of 1,000 contacts loads in 21 calls (0.021 per contact) and meets no 429', async () => {
    const ids = b.fake.seedContacts(1000, (i) => ({ email: `burst${i}@example.com`, properties: { firstname: `B${i}` }, lists: [`tier-${i % 5}`] }));
    b.fake.resetCounters();
    const loaded = new Map<string, unknown>();
    await Promise.all(
      Array.from({ length: 10 }, async (_, k) => {
        for (const [id, s] of await b.crm.loadContacts(ids.slice(k * 100, k * 100 + 100))) loaded.set(id, s);
      }),
    );
    expect(loaded.size).toBe(1000);
    expect(b.fake.rateLimited).toBe(0);
    expect(b.fake.calls).toBe(21);
  }, 20_000);

  it('a client faster than the limit gets HubSpot\'s 429: its body, X-HubSpot-RateLimit-* headers, no Retry-After', async () => {
    b.fake.setRateLimit({ requests: 3, perMs: 1000 });
    const responses = await Promise.all(Array.from({ length: 6 }, () => fetch(`${b.fake.url}/crm/v3/properties/contacts`, { headers: { authorization: `Bearer ${b.fake.token}` } })));
    const limited = responses.filter((r) => r.status === 429);
    expect(limited.length).toBe(3);
    expect(limited[0]!.headers.get('retry-after')).toBeNull();
    expect(limited[0]!.headers.get('x-hubspot-ratelimit-max')).toBe('3');
    expect(limited[0]!.headers.get('x-hubspot-ratelimit-remaining')).toBe('0');
    expect(limited[0]!.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('1000');
    expect(await limited[0]!.json()).toMatchObject({ status: 'error', message: 'You have reached your secondly limit.', category: 'RATE_LIMITS' });
    await Promise.all(responses.filter((r) => !r.bodyUsed).map((r) => r.body?.cancel()));
  });

  it('429s that outlast CrmHttp\'s 1-second waits pause the limiter for the 10-second window and tell the queue so', async () => {
    const other = await build();
    try {
      const id = other.fake.seedContact({ email: 'window@example.com' });
      other.fake.forceRateLimit(3);
      const started = Date.now();
      await expect(other.crm.loadContacts([id])).rejects.toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 10_000 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1800);
      expect(other.fake.rateLimited).toBe(3);
    } finally {
      await other.fake.close();
    }
  }, 10_000);

  it('the recorded live 429 has the same body shape and no Retry-After', () => {
    const recorded = JSON.parse(fixture('api-429-secondly-limit.json').toString('utf8'));
    expect(Object.keys(recorded.headers).map((h: string) => h.toLowerCase())).not.toContain('retry-after');
    expect(recorded.body).toMatchObject({ status: 'error', category: 'RATE_LIMITS' });
  });
});
