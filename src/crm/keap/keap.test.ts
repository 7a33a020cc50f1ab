import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeKeap, startFakeKeap } from '../../../test/fakes/keap.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { CrmError, CrmWebhookError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { authHeaders, keapApiBase } from './client.js';
import { capabilities, defaultFieldMap, keap } from './index.js';
import { parseFieldKey, resolveFieldMap, toKeapWrite, toSnapshot } from './mappers.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const URL_PATH = '/?wpf_action=update&access_key=KEY';

function request(opts: { json?: unknown; form?: string; headers?: Record<string, string>; raw?: Buffer } = {}): WebhookRequest {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body: Buffer = Buffer.alloc(0);
  let fields: Record<string, unknown> = {};
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = opts.raw ?? Buffer.from(JSON.stringify(opts.json));
    fields = opts.json as Record<string, unknown>;
  } else if (opts.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = Buffer.from(opts.form);
    fields = Object.fromEntries(new URLSearchParams(opts.form));
  }
  return { method: 'POST', url: URL_PATH, publicUrl: `https://sync.example.com${URL_PATH}`, headers, body, fields };
}

interface Built {
  fake: FakeKeap;
  crm: Crm;
  company: number;
  plan: number;
}

async function build(opts: { clock?: Clock; apiKey?: string; baseUrl?: (fake: FakeKeap) => string; now?: () => number } = {}): Promise<Built> {
  const fake = await startFakeKeap({ quotaPerMinute: 1_000_000, now: opts.now });
  const company = fake.seedCustomField('Company');
  const plan = fake.seedCustomField('Plan');
  const fieldMap: FieldMap = { ...defaultFieldMap, company: `custom:${company}`, plan: `custom_fields.${plan}` };
  const crm = keap({
    baseUrl: opts.baseUrl ? opts.baseUrl(fake) : fake.apiUrl,
    apiKey: opts.apiKey ?? fake.apiKey,
    webhookSecret: null,
    fieldMap,
    limiter: new TokenBucket({ requests: 100, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm, company, plan };
}

// ---- the shared suite, against the fake (quota raised so the suite runs in seconds) ----

describeCrmConformance('keap', async () => {
  const { fake, crm, company, plan } = await build();
  return {
    crm,
    fields: ['first_name', 'company', 'last_name', 'plan'],
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const f = c.fields ?? {};
      return fake.seedContact({ email: c.email, given_name: f.first_name, family_name: f.last_name, custom: { [company]: f.company ?? null, [plan]: f.plan ?? null }, tags: c.tags });
    },
    async readContact(id) {
      const s = fake.contactState(id);
      if (!s) return null;
      return { email: s.email, tags: s.tags, fields: { first_name: s.given_name || null, last_name: s.family_name || null, company: s.custom[company] || null, plan: s.custom[plan] || null } };
    },
    webhookFor: (contactId) => {
      const payload = JSON.parse(fixture('webhook-contact.add.reconstructed.json').toString('utf8'));
      payload.event_key = 'contact.edit';
      payload.object_keys[0].id = Number(contactId);
      return request({ json: payload });
    },
    // Keap documents no Retry-After: CrmHttp pauses its default second.
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000;
    },
    close: () => fake.close(),
  };
});

// ---- documented payloads ----

describe('keap webhooks (documented payloads)', () => {
  const crm = keap({
    baseUrl: 'https://api.infusionsoft.com/crm/rest/v1',
    apiKey: 'unused',
    webhookSecret: null,
    fieldMap: defaultFieldMap,
    limiter: new TokenBucket({ requests: 4, perMs: 1000 }),
    clock: systemClock,
    timeoutMs: 1000,
  });

  it('REST hook verification: X-Hook-Secret is echoed with 200; nothing to store', () => {
    // webhook-verification.http: a POST with X-Hook-Secret (body not documented; empty here).
    const verification = request({ headers: { 'x-hook-secret': 'a1b2c3d4e5-temporary' } });
    expect(() => crm.verifyWebhook(verification)).not.toThrow();
    expect(crm.parseWebhook(verification)).toEqual({ contactIds: [], handshake: { status: 200, headers: { 'X-Hook-Secret': 'a1b2c3d4e5-temporary' } } });
    // Even with a JSON body, the header decides.
    expect(crm.parseWebhook(request({ json: {}, headers: { 'X-Hook-Secret': 's3cr3t' } })).handshake?.headers).toEqual({ 'X-Hook-Secret': 's3cr3t' });
    expect(() => crm.parseWebhook(request({ headers: { 'x-hook-secret': 'bad\r\nInjected: 1' } }))).toThrow(CrmWebhookError);
    expect(() => crm.parseWebhook(request({ headers: { 'x-hook-secret': '' } }))).toThrow(CrmWebhookError);
  });

  it('contact.add delivery (documented template) → contact 12', () => {
    const raw = fixture('webhook-contact.add.reconstructed.json');
    expect(crm.parseWebhook(request({ json: JSON.parse(raw.toString('utf8')), raw }))).toEqual({ contactIds: ['12'] });
  });

  it('a delivery of 1000 changed contacts (the documented maximum) names them all, deduplicated', () => {
    const object_keys = Array.from({ length: 1000 }, (_, i) => ({ id: i + 1, apiUrl: `https://api.infusionsoft.com/crm/rest/v1/contacts/${i + 1}`, timestamp: '2017-09-11T22:54:57.000Z' }));
    const parsed = crm.parseWebhook(request({ json: { event_key: 'contact.edit', object_type: 'contact', object_keys: [...object_keys, { id: 5 }] } }));
    expect(parsed.contactIds).toHaveLength(1000);
    expect(parsed.contactIds[0]).toBe('1');
    expect(parsed.contactIds[999]).toBe('1000');
  });

  it('contact.delete and other events are ignored; contactGroup events use the contact id Keap names', () => {
    expect(crm.parseWebhook(request({ json: { event_key: 'contact.delete', object_type: 'contact', object_keys: [{ id: 12 }] } }))).toEqual({ contactIds: [], ignored: 'contact.delete: the contact no longer exists in Keap' });
    expect(crm.parseWebhook(request({ json: { event_key: 'order.add', object_type: 'order', object_keys: [{ id: 3 }] } })).ignored).toBe('order.add is not a contact change');
    expect(crm.parseWebhook(request({ json: { event_key: 'contactGroup.delete', object_keys: [{ id: 3 }] } })).ignored).toBe('contactGroup.delete is not a contact change');
    expect(crm.parseWebhook(request({ json: { event_key: 'contactGroup.applied', object_keys: [{ id: 91, contact_details: [{ id: 12 }, { id: 13 }] }] } })).contactIds).toEqual(['12', '13']);
    expect(crm.parseWebhook(request({ json: { event_key: 'contactGroup.removed', object_keys: [{ id: 91, contact_id: 12 }] } })).contactIds).toEqual(['12']);
    expect(crm.parseWebhook(request({ json: { event_key: 'contactGroup.applied', object_keys: [{ tagId: 91, applied: [12, 14] }, { tagId: 92, applied: [12] }] } })).contactIds).toEqual(['12', '14']);
    expect(crm.parseWebhook(request({ json: { event_key: 'contactGroup.applied', object_keys: [{ id: 91 }] } })).ignored).toBe('contactGroup.applied names no contact');
  });

  it('campaign-builder HTTP Post (contactId form field, as WP Fusion reads it) → that contact', () => {
    expect(crm.parseWebhook(request({ form: 'contactId=12&Email=john%40example.com' }))).toEqual({ contactIds: ['12'] });
    expect(crm.parseWebhook(request({ form: 'contactId=..%2Fetc' })).ignored).toBe('the payload names no Keap contact');
  });

  it('reads the raw body when ingress did not parse it; refuses bad JSON', () => {
    const raw = fixture('webhook-contact.add.reconstructed.json');
    const unparsed: WebhookRequest = { method: 'POST', url: '/', publicUrl: 'https://sync.example.com/', headers: {}, body: raw, fields: {} };
    expect(crm.parseWebhook(unparsed).contactIds).toEqual(['12']);
    expect(() => crm.parseWebhook({ ...unparsed, body: Buffer.from('{"event_key": ') })).toThrow(/not valid JSON/);
    expect(crm.parseWebhook({ ...unparsed, body: Buffer.from('contactId=44') }).contactIds).toEqual(['44']);
  });
});

describe('keap mappers and config', () => {
  it('maps names, phone slots and custom fields by id; tag ids to names', () => {
    const map = resolveFieldMap({ ...defaultFieldMap, mobile: 'PHONE2', company: 'custom:7' });
    const contact = {
      id: 12,
      given_name: 'John',
      family_name: 'Doe',
      email_addresses: [{ email: 'other@example.com', field: 'EMAIL2' }, { email: 'john@example.com', field: 'EMAIL1' }],
      phone_numbers: [{ number: '555-0101', field: 'PHONE1' }],
      custom_fields: [{ id: 7, content: 'Acme' }],
      tag_ids: [91, 92, 404],
    };
    expect(toSnapshot(contact, map, new Map([['91', 'Customer'], ['92', 'VIP']]), 7)).toEqual({
      contactId: '12',
      email: 'john@example.com',
      tags: ['Customer', 'VIP'],
      fields: { first_name: 'John', last_name: 'Doe', phone: '555-0101', mobile: null, company: 'Acme' },
      readAt: 7,
    });
    // PATCH replaces phone_numbers: the other slots are kept from the current contact.
    expect(toKeapWrite({ mobile: '555-0202', company: null, first_name: null }, map, contact)).toEqual({
      phone_numbers: [{ number: '555-0101', field: 'PHONE1' }, { number: '555-0202', field: 'PHONE2' }],
      custom_fields: [{ id: 7, content: '' }],
      given_name: '',
    });
    expect(toKeapWrite({ phone: null }, map, contact)).toEqual({ phone_numbers: [] });
    expect(() => toKeapWrite({ shoe: '44' }, map)).toThrow(/no Keap field is mapped for: shoe/);
    expect(() => parseFieldKey('Company')).toThrow(CrmError);
  });

  it('base URL with or without /crm/rest/v1; SAK/PAT in X-Keap-API-Key, "Bearer …" as OAuth', () => {
    for (const base of ['https://api.infusionsoft.com', 'https://api.infusionsoft.com/crm/rest', 'https://api.infusionsoft.com/crm/rest/v1', 'https://api.infusionsoft.com/crm/rest/v1/']) {
      expect(keapApiBase(base)).toBe('https://api.infusionsoft.com/crm/rest/v1/');
    }
    expect(() => keapApiBase('nope')).toThrow(CrmError);
    expect(authHeaders(' KeapAK-abc ')).toEqual({ 'x-keap-api-key': 'KeapAK-abc' });
    expect(authHeaders('Bearer tok123')).toEqual({ authorization: 'Bearer tok123' });
  });
});

// ---- against the fake: calls, errors, limits ----

describe('keap adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 1, signsWebhooks: false, tagsById: true, rateLimit: { requests: 240, perMs: 60_000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 1000 } });
    expect(capabilities).toBe(b.crm.capabilities);
  });

  it('one GET per contact once tags are cached; a tag id not yet known costs one tag refresh', async () => {
    const id = b.fake.seedContact({ email: 'calls@example.com', given_name: 'C', tags: ['Alpha'] });
    await b.crm.loadContacts([id]);
    b.fake.resetCounters();
    expect((await b.crm.loadContacts([id, id])).get(id)?.tags).toEqual(['Alpha']);
    expect(b.fake.calls).toBe(1);
    b.fake.tagContact(id, 'Beta (new in Keap)');
    b.fake.resetCounters();
    expect((await b.crm.loadContacts([id])).get(id)?.tags).toEqual(['Alpha', 'Beta (new in Keap)']);
    expect(b.fake.routeCalls('GET /crm/rest/v1/tags')).toBe(1);
    expect(b.fake.calls).toBe(2);
  });

  it('findContactByEmail is one list call with the optional properties', async () => {
    const id = b.fake.seedContact({ email: 'Find.Me@example.com', given_name: 'F', custom: { [b.company]: 'Acme' }, tags: ['Found'] });
    await b.crm.listTags();
    b.fake.resetCounters();
    expect(await b.crm.findContactByEmail('find.me@example.com')).toMatchObject({ contactId: id, tags: ['Found'], fields: { first_name: 'F', company: 'Acme' } });
    expect(b.fake.calls).toBe(1);
  });

  it('non-numeric ids are never asked for', async () => {
    b.fake.resetCounters();
    expect((await b.crm.loadContacts(['abc', '../1', '0'])).size).toBe(0);
    expect(b.fake.calls).toBe(0);
  });

  it('readAt comes from the clock before the first call', async () => {
    const other = await build({ clock: new ManualClock(9_000) });
    try {
      const id = other.fake.seedContact({ email: 'clock@example.com' });
      expect((await other.crm.loadContacts([id])).get(id)?.readAt).toBe(9_000);
    } finally {
      await other.fake.close();
    }
  });

  it('upsert is one PUT /contacts with duplicate_option Email', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'put@example.com', fields: { first_name: 'Put', phone: '555-1', company: 'Acme' } });
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactWrites[0]).toEqual({
      method: 'PUT',
      query: '',
      body: { given_name: 'Put', phone_numbers: [{ number: '555-1', field: 'PHONE1' }], custom_fields: [{ id: b.company, content: 'Acme' }], email_addresses: [{ email: 'put@example.com', field: 'EMAIL1' }], duplicate_option: 'Email' },
    });
    expect(await b.crm.upsertContact({ email: 'PUT@example.com', fields: { last_name: 'Again' } })).toBe(id);
    expect(b.fake.contactState(id)).toMatchObject({ given_name: 'Put', family_name: 'Again', phones: { PHONE1: '555-1' } });
  });

  it('update is one PATCH with an update_mask of the sent properties; a phone write reads the contact first', async () => {
    const id = b.fake.seedContact({ email: 'patch@example.com', given_name: 'A', phone: '555-9' });
    b.fake.resetCounters();
    await b.crm.updateContact(id, { last_name: 'B' });
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactWrites[0]).toMatchObject({ method: 'PATCH', query: 'family_name', body: { family_name: 'B' } });
    b.fake.resetCounters();
    await b.crm.updateContact(id, { phone: '555-10' });
    expect(b.fake.calls).toBe(2);
    expect(b.fake.contactState(id)).toMatchObject({ given_name: 'A', family_name: 'B', phones: { PHONE1: '555-10' } });
  });

  it('applyTags: creates unknown tags once, then one POST /contacts/{id}/tags with all ids', async () => {
    const id = b.fake.seedContact({ email: 'tags@example.com' });
    await b.crm.listTags();
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new', 'brand NEW', 'Second new']);
    expect(b.fake.routeCalls('POST /crm/rest/v1/tags')).toBe(2);
    expect(b.fake.routeCalls('POST /crm/rest/v1/contacts/:id/tags')).toBe(1);
    expect(b.fake.contactState(id)!.tags).toEqual(['Brand new', 'Second new']);
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new']);
    expect(b.fake.calls).toBe(1);
  });

  it('removeTags: one DELETE per known tag', async () => {
    const id = b.fake.seedContact({ email: 'rm@example.com', tags: ['Keep', 'Drop'] });
    await b.crm.listTags();
    b.fake.resetCounters();
    await b.crm.removeTags(id, ['Drop']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactState(id)!.tags).toEqual(['Keep']);
  });

  it('unknown contact: update, applyTags are permanent 404s', async () => {
    await expect(b.crm.updateContact('999999', { first_name: 'x' })).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.applyTags('999999', ['X'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
  });

  it('listFields: standard properties, phone slots and custom fields as custom:<id>', async () => {
    expect(await b.crm.listFields()).toEqual(expect.arrayContaining([{ id: 'given_name', name: 'First name' }, { id: 'PHONE1', name: 'Phone 1' }, { id: `custom:${b.company}`, name: 'Company' }]));
  });

  it('a wrong key is a permanent 401; an OAuth "Bearer" token is accepted', async () => {
    const wrong = await build({ apiKey: 'wrong' });
    const bearer = await build({ apiKey: 'Bearer KeapAK-test-service-account-key' });
    try {
      await expect(wrong.crm.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
      await expect(bearer.crm.listTags()).resolves.toEqual([]);
    } finally {
      await wrong.fake.close();
      await bearer.fake.close();
    }
  });
});

describe('keap quota', () => {
  it('the fake answers 429 with the throttling body and quota headers, no Retry-After', async () => {
    const fake = await startFakeKeap({ quotaPerMinute: 2 });
    try {
      const responses = await Promise.all(Array.from({ length: 3 }, () => fetch(`${fake.apiUrl}/tags`, { headers: { 'X-Keap-API-Key': fake.apiKey } })));
      const limited = responses.find((r) => r.status === 429)!;
      expect(limited).toBeDefined();
      expect(limited.headers.get('retry-after')).toBeNull();
      expect(limited.headers.get('x-keap-product-quota-limit')).toBe('2');
      expect(limited.headers.get('x-keap-product-quota-available')).toBe('0');
      expect(await limited.json()).toEqual({ code: '429', message: 'Quota Exceeded', status: 'Request Throttled', details: null });
      await Promise.all(responses.filter((r) => r !== limited).map((r) => r.body?.cancel()));
    } finally {
      await fake.close();
    }
  });
});

describe('keap listing (import and sweep)', () => {
  it('lists whole contacts (tag ids and custom fields) in ID order, one call per page; a tag is filtered from the pages', async () => {
    const b = await build();
    try {
      const ids = [1, 2, 3].map((i) => b.fake.seedContact({ email: `kp${i}@example.com`, given_name: `P${i}`, tags: i === 3 ? ['Gold'] : ['Silver'] }));
      await b.crm.listTags(); // the tag map, as after any earlier call
      b.fake.resetCounters();
      const first = await b.crm.listContacts!({ cursor: null, limit: 2 });
      expect(b.fake.calls).toBe(1);
      expect(first).toMatchObject({ ids: [], nextCursor: '2', total: 3 });
      expect(first.contacts.map((c) => [c.contactId, c.email, c.tags, c.fields.first_name])).toEqual([
        [ids[0], 'kp1@example.com', ['Silver'], 'P1'],
        [ids[1], 'kp2@example.com', ['Silver'], 'P2'],
      ]);
      const last = await b.crm.listContacts!({ cursor: first.nextCursor, limit: 2 });
      expect(last.contacts.map((c) => c.contactId)).toEqual([ids[2]]);
      expect(last.nextCursor).toBeNull();
      expect((await b.crm.listContacts!({ tag: 'gold', cursor: null, limit: 100 })).contacts.map((c) => c.contactId)).toEqual([ids[2]]);
    } finally {
      await b.fake.close();
    }
  });

  it('lists contacts updated since a time (since), a tag applied included', async () => {
    let now = Date.UTC(2026, 10, 28, 12);
    const b = await build({ now: () => now });
    try {
      const [a, c] = [1, 2].map((i) => b.fake.seedContact({ email: `ku${i}@example.com` }));
      now += 60_000;
      const since = now;
      b.fake.tagContact(c!, 'late');
      const changed = await b.crm.listChangedContacts!({ since, cursor: null, limit: 100 });
      expect(changed.contacts.map((x) => [x.contactId, x.tags])).toEqual([[c, ['late']]]);
      expect(changed.contacts.map((x) => x.contactId)).not.toContain(a);
      expect((await b.crm.listChangedContacts!({ since: since + 1, cursor: null, limit: 100 })).contacts).toEqual([]);
    } finally {
      await b.fake.close();
    }
  });
});
