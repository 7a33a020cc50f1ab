import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeBrevo, startFakeBrevo } from '../../../test/fakes/brevo.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { brevoApiBase } from './client.js';
import { brevo, capabilities, defaultFieldMap } from './index.js';
import { toAttributes, toSnapshot } from './mappers.js';
import type { BrevoContact } from './types.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** What ingress hands the adapter for a JSON body (arrays as `{events: [...]}`). */
function jsonRequest(raw: Buffer | string): WebhookRequest {
  const body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  let fields: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    fields = Array.isArray(parsed) ? { events: parsed } : (parsed as Record<string, unknown>);
  } catch {
    fields = {};
  }
  const url = '/?wpf_action=update&access_key=KEY';
  return { method: 'POST', url, publicUrl: `https://sync.example.com${url}`, headers: { 'content-type': 'application/json' }, body, fields };
}

const FIELD_MAP: FieldMap = { ...defaultFieldMap, company: 'company' };

interface Built {
  fake: FakeBrevo;
  crm: Crm;
}

async function build(opts: { rate?: number; clock?: Clock; idsFilter?: boolean; apiKey?: string; baseUrl?: string; now?: () => number } = {}): Promise<Built> {
  const fake = await startFakeBrevo({ rateLimitPerSecond: opts.rate ?? 200, idsFilter: opts.idsFilter, now: opts.now });
  const crm = brevo({
    baseUrl: opts.baseUrl ?? fake.url,
    apiKey: opts.apiKey ?? fake.apiKey,
    webhookSecret: null,
    fieldMap: FIELD_MAP,
    limiter: new TokenBucket({ requests: opts.rate ?? 200, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm };
}

describeCrmConformance('brevo', async () => {
  const { fake, crm } = await build();
  return {
    crm,
    fields: ['first_name', 'company', 'last_name'],
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const attributes: Record<string, string | null> = {};
      for (const [local, value] of Object.entries(c.fields ?? {})) attributes[FIELD_MAP[local]!.toUpperCase()] = value;
      return fake.seedContact({ email: c.email, attributes, lists: c.tags });
    },
    async readContact(id) {
      const state = fake.contactState(id);
      if (!state) return null;
      const fields: Record<string, string | null> = {};
      for (const [local, key] of Object.entries(FIELD_MAP)) fields[local] = state.attributes[key.toUpperCase()] ?? null;
      return { email: state.email, fields, tags: state.lists };
    },
    webhookFor: (contactId) => jsonRequest(JSON.stringify({ event: 'contact_updated', email: fake.contactState(contactId)!.email, contact_id: Number(contactId) })),
    // Brevo sends no Retry-After: CrmHttp's default pause (1 s) applies.
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000;
    },
    close: () => fake.close(),
  };
});

describe('brevo webhooks (documented payloads)', () => {
  const crm = brevo({ baseUrl: 'https://api.brevo.com/v3', apiKey: 'unused', webhookSecret: null, fieldMap: {}, limiter: new TokenBucket({ requests: 10, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });

  it('does not sign: verifyWebhook accepts anything (the access key is the guard)', () => {
    expect(capabilities.signsWebhooks).toBe(false);
    expect(() => crm.verifyWebhook(jsonRequest('{}'))).not.toThrow();
  });

  it('the documented spam example (placeholders, trailing comma) is not JSON: malformed_body', () => {
    expect(() => crm.parseWebhook(jsonRequest(fixture('webhook-marketing-spam.documented.txt')))).toThrow(expect.objectContaining({ code: 'malformed_body' }));
  });

  it('a campaign event (spam) is ignored', () => {
    expect(crm.parseWebhook(jsonRequest(fixture('webhook-marketing-spam.valid.json')))).toEqual({ contactIds: [], ignored: 'spam is not a contact change' });
    for (const event of ['opened', 'click', 'delivered', 'hardBounce', 'contact_deleted']) {
      expect(crm.parseWebhook(jsonRequest(JSON.stringify({ event, email: 'a@example.com' }))).ignored).toBe(`${event} is not a contact change`);
    }
  });

  it('contact_updated names the contact by its (new) e-mail; the webhook id is not a contact id', () => {
    expect(crm.parseWebhook(jsonRequest(fixture('webhook-contact-updated.constructed.json')))).toEqual({ contactIds: ['peggy.rain@example.com'] });
  });

  it('a batched delivery (array) keeps the contact events, deduplicated', () => {
    expect(crm.parseWebhook(jsonRequest(fixture('webhook-list-addition.batched.constructed.json')))).toEqual({ contactIds: ['peggy.rain@example.com'] });
  });

  it('listAddition / unsubscribed (API names) and an automation webhook with properties.contact_id', () => {
    expect(crm.parseWebhook(jsonRequest('{"event":"listAddition","email":"x@example.com"}')).contactIds).toEqual(['x@example.com']);
    expect(crm.parseWebhook(jsonRequest('{"event":"unsubscribed","email":"y@example.com"}')).contactIds).toEqual(['y@example.com']);
    expect(crm.parseWebhook(jsonRequest('{"properties":{"contact_id":42,"email":"p@example.com"}}')).contactIds).toEqual(['42']);
    expect(crm.parseWebhook(jsonRequest('{"contact_id":"7"}')).contactIds).toEqual(['7']);
  });

  it('reads the raw body when ingress did not parse it', () => {
    const raw = fixture('webhook-list-addition.batched.constructed.json');
    const request: WebhookRequest = { method: 'POST', url: '/', publicUrl: 'https://sync.example.com/', headers: {}, body: raw, fields: {} };
    expect(crm.parseWebhook(request).contactIds).toEqual(['peggy.rain@example.com']);
  });
});

describe('brevo mappers (documented payloads)', () => {
  it('contact-get.json → snapshot (attribute names matched case-insensitively; lists by name)', () => {
    const body = JSON.parse(fixture('contact-get.json').toString('utf8')) as BrevoContact;
    const snapshot = toSnapshot(body, new Map([['40', 'Customers']]), { first_name: 'first_name', last_name: 'LAST_NAME', phone: 'SMS', email: 'email', city: 'CITY' }, 7);
    expect(snapshot).toEqual({
      contactId: '42',
      email: 'peggy.rain@example.com',
      tags: ['Customers'],
      fields: { first_name: 'Peggy', last_name: 'Rain', phone: '3087433387669', email: 'peggy.rain@example.com', city: 'New-York' },
      readAt: 7,
    });
  });

  it('writes attributes upper-cased, null as "", refuses unmapped fields', () => {
    expect(toAttributes({ first_name: 'A', phone: null }, defaultFieldMap)).toEqual({ FIRSTNAME: 'A', SMS: '' });
    expect(() => toAttributes({ shoe: '44' }, defaultFieldMap)).toThrow(/no Brevo attribute is mapped for: shoe/);
  });

  it('normalises the base URL with or without /v3', () => {
    for (const base of ['https://api.brevo.com', 'https://api.brevo.com/', 'https://api.brevo.com/v3', 'https://api.brevo.com/v3/']) expect(brevoApiBase(base)).toBe('https://api.brevo.com/v3/');
  });
});

describe('brevo adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 20, signsWebhooks: false, tagsById: true, rateLimit: { requests: 10, perMs: 1000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 500 } });
  });

  it('loads 20 contacts in one call once lists are known', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => b.fake.seedContact({ email: `batch${i}@example.com`, attributes: { FIRSTNAME: `F${i}` }, lists: ['Alpha'] }));
    await b.crm.loadContacts(ids);
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts(ids);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.routeCalls('GET /v3/contacts')).toBe(1);
    expect(loaded.get(ids[3]!)).toMatchObject({ contactId: ids[3], tags: ['Alpha'], fields: { first_name: 'F3' } });
  });

  it('falls back to one GET per id if the ids filter is ignored (answer holds other contacts)', async () => {
    const other = await build({ idsFilter: false });
    try {
      const ids = [1, 2, 3].map((i) => other.fake.seedContact({ email: `nofilter${i}@example.com`, lists: ['L'] }));
      for (let i = 0; i < 60; i++) other.fake.seedContact({ email: `noise${i}@example.com` });
      const loaded = await other.crm.loadContacts([...ids, '987654']);
      expect([...loaded.keys()].sort()).toEqual([...ids].sort());
      expect(loaded.get(ids[0]!)!.tags).toEqual(['L']);
    } finally {
      await other.fake.close();
    }
  });

  it('loads a contact named by e-mail (from a webhook), keyed by that e-mail', async () => {
    const id = b.fake.seedContact({ email: 'byemail@example.com', lists: ['Beta'] });
    const loaded = await b.crm.loadContacts(['byemail@example.com', '987654']);
    expect(loaded.get('byemail@example.com')).toMatchObject({ contactId: id, tags: ['Beta'] });
    expect(loaded.has('987654')).toBe(false);
  });

  it('upsert: create answers 201 {id} (1 call); update answers 204, then the id is read back (2 calls)', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'Upsert@Example.com', fields: { first_name: 'One' } });
    expect(b.fake.calls).toBe(1);
    b.fake.resetCounters();
    expect(await b.crm.upsertContact({ email: 'upsert@example.com', fields: { last_name: 'Two' } })).toBe(id);
    expect(b.fake.calls).toBe(2);
    expect(b.fake.contactState(id)!.attributes).toEqual({ FIRSTNAME: 'One', LASTNAME: 'Two' });
  });

  it('applyTags is one PUT listIds (after the list exists); a new list goes into the first folder', async () => {
    const id = b.fake.seedContact({ email: 'tags@example.com' });
    await b.crm.applyTags(id, ['Brand new', 'brand NEW']);
    expect(b.fake.contactState(id)!.lists).toEqual(['Brand new']);
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.routeCalls('PUT /v3/contacts/:identifier')).toBe(1);
  });

  it('creates the crmsync folder when the account has none', async () => {
    const other = await build();
    try {
      const id = other.fake.seedContact({ email: 'nofolder@example.com' });
      await other.crm.applyTags(id, ['First list']);
      expect(other.fake.contactState(id)!.lists).toEqual(['First list']);
      expect(other.fake.routeCalls('POST /v3/contacts/folders')).toBe(1);
    } finally {
      await other.fake.close();
    }
  });

  it('unknown contact: writes are permanent 404s', async () => {
    await expect(b.crm.applyTags('99999', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.removeTags('99999', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
  });

  it('a wrong api-key is a permanent 401', async () => {
    const wrong = await build({ apiKey: 'wrong' });
    try {
      await expect(wrong.crm.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
    } finally {
      await wrong.fake.close();
    }
  });

  it('takes readAt from the clock before the first call', async () => {
    const clock = new ManualClock(5_000);
    const other = await build({ clock });
    try {
      const id = other.fake.seedContact({ email: 'clock@example.com' });
      expect((await other.crm.loadContacts([id])).get(id)!.readAt).toBe(5_000);
    } finally {
      await other.fake.close();
    }
  });

  it('listFields: email plus the account attributes', async () => {
    expect(await b.crm.listFields()).toEqual(expect.arrayContaining([{ id: 'email', name: 'Email' }, { id: 'FIRSTNAME', name: 'FIRSTNAME (normal)' }]));
  });
});

describe('brevo rate limit headers', () => {
  it('the fake answers 429 with x-sib-ratelimit-* and no Retry-After', async () => {
    const fake = await startFakeBrevo({ rateLimitPerSecond: 2 });
    try {
      const responses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${fake.url}/contacts/lists`, { headers: { 'api-key': fake.apiKey } })));
      const limited = responses.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]!.headers.get('x-sib-ratelimit-reset')).toMatch(/^\d+$/);
      expect(limited[0]!.headers.get('x-sib-ratelimit-remaining')).toBe('0');
      expect(limited[0]!.headers.get('retry-after')).toBeNull();
      await Promise.all(responses.map((r) => r.body?.cancel()));
    } finally {
      await fake.close();
    }
  });
});

describe('brevo listing (import and sweep)', () => {
  it('lists whole contacts in creation order, page by page, and a tag\'s list members', async () => {
    const b = await build();
    try {
      const ids = [1, 2, 3].map((i) => b.fake.seedContact({ email: `bl${i}@example.com`, attributes: { FIRSTNAME: `B${i}` }, lists: i === 2 ? ['Gold'] : ['Silver'] }));
      const first = await b.crm.listContacts!({ cursor: null, limit: 2 });
      expect(first).toMatchObject({ ids: [], nextCursor: '2', total: 3 });
      expect(first.contacts.map((c) => [c.contactId, c.email, c.tags, c.fields.first_name])).toEqual([
        [ids[0], 'bl1@example.com', ['Silver'], 'B1'],
        [ids[1], 'bl2@example.com', ['Gold'], 'B2'],
      ]);
      const last = await b.crm.listContacts!({ cursor: first.nextCursor, limit: 2 });
      expect(last.contacts.map((c) => c.contactId)).toEqual([ids[2]]);
      expect(last.nextCursor).toBeNull();
      const gold = await b.crm.listContacts!({ tag: 'gold', cursor: null, limit: 100 });
      expect(gold).toMatchObject({ nextCursor: null, total: 1 });
      expect(gold.contacts.map((c) => c.contactId)).toEqual([ids[1]]);
      expect(await b.crm.listContacts!({ tag: 'no such list', cursor: null, limit: 100 })).toEqual({ contacts: [], ids: [], nextCursor: null, total: 0 });
    } finally {
      await b.fake.close();
    }
  });

  it('lists contacts modified since a time (modifiedSince), a list change included', async () => {
    let now = Date.UTC(2026, 10, 28, 12);
    const b = await build({ now: () => now });
    try {
      const [a, c] = [1, 2].map((i) => b.fake.seedContact({ email: `bm${i}@example.com` }));
      now += 60_000;
      const since = now;
      b.fake.editContact(c!, { addLists: ['Late'] });
      const changed = await b.crm.listChangedContacts!({ since, cursor: null, limit: 100 });
      expect(changed.contacts.map((x) => [x.contactId, x.tags])).toEqual([[c, ['Late']]]);
      expect(changed.contacts.map((x) => x.contactId)).not.toContain(a);
      expect((await b.crm.listChangedContacts!({ since: since + 1, cursor: null, limit: 100 })).contacts).toEqual([]);
    } finally {
      await b.fake.close();
    }
  });
});
