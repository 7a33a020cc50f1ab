import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeActiveCampaign, startFakeActiveCampaign } from '../../../test/fakes/activecampaign.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { CrmError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { acApiBase } from './client.js';
import { activecampaign, capabilities } from './index.js';
import { resolveFieldMap, toAcWrite, toSnapshot } from './mappers.js';
import type { AcContactGet } from './types.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** What ingress hands the adapter for a form body: the flat map of keys exactly as sent. */
function formRequest(body: string, url = '/?wpf_action=update&access_key=KEY'): WebhookRequest {
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const prev = fields[key];
    fields[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { method: 'POST', url, publicUrl: `https://sync.example.com${url}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(body), fields };
}

function jsonRequest(value: unknown): WebhookRequest {
  const body = JSON.stringify(value);
  return { method: 'POST', url: '/?wpf_action=update&access_key=KEY', publicUrl: 'https://sync.example.com/?wpf_action=update&access_key=KEY', headers: { 'content-type': 'application/json' }, body: Buffer.from(body), fields: value as Record<string, unknown> };
}

/** Re-encodes a parsed (qs-style) payload the way AC posts it: PHP bracket keys. */
function toForm(value: unknown, prefix = '', out = new URLSearchParams()): URLSearchParams {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) toForm(v, prefix ? `${prefix}[${k}]` : k, out);
  } else {
    out.append(prefix, value === null || value === undefined ? '' : String(value));
  }
  return out;
}

interface Built {
  fake: FakeActiveCampaign;
  crm: Crm;
  fields: { company: string; plan: string };
}

const FIELD_MAP = (planId: string): FieldMap => ({
  first_name: 'firstName',
  last_name: 'lastName',
  phone: 'phone',
  company: '%COMPANY%', // by personalization tag
  plan: `field:${planId}`, // by id
});

async function build(
  opts: { rate?: number; limiterRate?: number; clock?: Clock; baseSuffix?: string; latencyMs?: number; sideLoading?: boolean; now?: () => number } = {},
): Promise<Built> {
  const fake = await startFakeActiveCampaign({ rateLimitPerSecond: opts.rate ?? 50, latencyMs: opts.latencyMs, sideLoading: opts.sideLoading, now: opts.now });
  const company = fake.seedField('Company', 'COMPANY');
  const plan = fake.seedField('Plan', 'PLAN');
  const crm = activecampaign({
    baseUrl: fake.url + (opts.baseSuffix ?? ''),
    apiKey: fake.apiToken,
    webhookSecret: null,
    fieldMap: FIELD_MAP(plan),
    limiter: new TokenBucket({ requests: opts.limiterRate ?? opts.rate ?? 50, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm, fields: { company, plan } };
}

// ---- the shared suite, against the fake (rate raised so the suite runs in seconds) ----

describeCrmConformance('activecampaign', async () => {
  const { fake, crm, fields } = await build();
  const standard: Record<string, 'firstName' | 'lastName' | 'phone'> = { first_name: 'firstName', last_name: 'lastName', phone: 'phone' };
  const custom: Record<string, string> = { company: fields.company, plan: fields.plan };
  return {
    crm,
    fields: ['first_name', 'company', 'last_name', 'plan'],
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const seed: Parameters<FakeActiveCampaign['seedContact']>[0] = { email: c.email, tags: c.tags, fieldValues: {} };
      for (const [local, value] of Object.entries(c.fields ?? {})) {
        if (standard[local]) seed[standard[local]] = value ?? '';
        else if (custom[local]) seed.fieldValues![custom[local]] = value ?? '';
        else throw new Error(`unmapped field ${local}`);
      }
      return fake.seedContact(seed);
    },
    async readContact(id) {
      const state = fake.contactState(id);
      if (!state) return null;
      const out: Record<string, string | null> = {};
      for (const [local, key] of Object.entries(standard)) out[local] = state.contact[key] || null;
      for (const [local, fieldId] of Object.entries(custom)) out[local] = state.fieldValues[fieldId] || null;
      return { email: state.contact.email, fields: out, tags: state.tags };
    },
    webhookFor: (contactId) => formRequest(toForm({ contact: { id: contactId, email: 'x@example.com', tags: 'a, b' }, seriesid: '1' }).toString()),
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000;
    },
    close: () => fake.close(),
  };
});

// ---- adapter-specific: documented payloads ----

describe('activecampaign webhooks (documented payloads)', () => {
  const crm = activecampaign({
    baseUrl: 'https://account.api-us1.com',
    apiKey: 'unused',
    webhookSecret: null,
    fieldMap: {},
    limiter: new TokenBucket({ requests: 5, perMs: 1000 }),
    clock: systemClock,
    timeoutMs: 1000,
  });

  it('real captured automation "Webhook" action body → contact 27760', () => {
    const request = formRequest(fixture('webhook-automation-action.form').toString('utf8'));
    expect(request.fields['contact[id]']).toBe('27760');
    expect(() => crm.verifyWebhook(request)).not.toThrow();
    expect(crm.parseWebhook(request)).toEqual({ contactIds: ['27760'] });
  });

  it('contact_tag_added, re-encoded as the form body AC posts → contact 3', () => {
    const parsed = JSON.parse(fixture('webhook-contact_tag_added.parsed.json').toString('utf8'));
    const body = toForm(parsed).toString();
    expect(body).toContain('contact%5Bid%5D=3');
    expect(crm.parseWebhook(formRequest(body)).contactIds).toEqual(['3']);
  });

  it('update (fields as a list), re-encoded as a form body → contact 3', () => {
    const parsed = JSON.parse(fixture('webhook-update.parsed.json').toString('utf8'));
    const body = toForm(parsed).toString();
    expect(body).toContain('contact%5Bfields%5D%5B0%5D=Option+1');
    expect(crm.parseWebhook(formRequest(body)).contactIds).toEqual(['3']);
  });

  it('a JSON body with contact.id (a relay re-encoding it) → contact 3', () => {
    const parsed = JSON.parse(fixture('webhook-update.parsed.json').toString('utf8'));
    expect(crm.parseWebhook(jsonRequest(parsed)).contactIds).toEqual(['3']);
    expect(crm.parseWebhook(jsonRequest({ 'contact[id]': '3' })).contactIds).toEqual(['3']);
    expect(crm.parseWebhook(jsonRequest([{ contact: { id: 3 } }, { contact: { id: '4' } }, { contact: { id: '3' } }])).contactIds).toEqual(['3', '4']);
  });

  it('deduplicates repeated keys and ignores non-ids', () => {
    const request = formRequest('contact%5Bid%5D=5&contact%5Bid%5D=5&contact%5Bid%5D=6');
    expect(crm.parseWebhook(request).contactIds).toEqual(['5', '6']);
    expect(crm.parseWebhook(formRequest('contact%5Bid%5D=..%2Fetc&seriesid=1')).contactIds).toEqual([]);
    expect(crm.parseWebhook(formRequest('type=sent&list=0')).contactIds).toEqual([]);
  });

  it('reads the raw body when ingress did not parse it', () => {
    const raw = fixture('webhook-automation-action.form');
    const request: WebhookRequest = { method: 'POST', url: '/', publicUrl: 'https://sync.example.com/', headers: {}, body: raw, fields: {} };
    expect(crm.parseWebhook(request).contactIds).toEqual(['27760']);
    expect(() => crm.parseWebhook({ ...request, body: Buffer.from('{"contact": ') })).toThrow(/not valid JSON/);
  });
});

describe('activecampaign mappers (documented payloads)', () => {
  it('contact-get.json (with PHP-escaped slashes) parses into a snapshot', () => {
    const body = JSON.parse(fixture('contact-get.json').toString('utf8')) as AcContactGet;
    expect(body.contact.id).toBe('1');
    const fieldMap = resolveFieldMap({ first_name: 'firstName', last_name: 'lastName', phone: 'phone', email: 'email' }, []);
    const snapshot = toSnapshot({ contact: body.contact, contactTags: [], fieldValues: body.fieldValues ?? [], tagNames: new Map(), fieldMap, readAt: 42 });
    expect(snapshot).toEqual({
      contactId: '1',
      email: 'contact.email@example.com',
      tags: [],
      fields: { first_name: 'Test_FirstName', last_name: 'Test_LastName', phone: '123-123-1234', email: 'contact.email@example.com' },
      readAt: 42,
    });
  });

  it('resolves perstags case-insensitively, refuses unknown ones and unmapped fields', () => {
    const fields = [{ id: '7', title: 'Contact owner', perstag: 'CONTACT_OWNER' }];
    const map = resolveFieldMap({ owner: 'contact_owner', tier: 'field:9', name: 'firstName' }, fields);
    expect(map.get('owner')).toEqual({ kind: 'custom', id: '7' });
    expect(map.get('tier')).toEqual({ kind: 'custom', id: '9' });
    expect(() => resolveFieldMap({ x: '%NOPE%' }, fields)).toThrow(CrmError);
    expect(toAcWrite({ name: null, owner: 'Alice' }, map)).toEqual({ contact: { firstName: '' }, fieldValues: [{ field: '7', value: 'Alice' }] });
    expect(() => toAcWrite({ unknown: 'x' }, map)).toThrow(/no ActiveCampaign field is mapped for: unknown/);
  });

  it('normalises the base URL with or without /api/3', () => {
    for (const base of ['https://acct.api-us1.com', 'https://acct.api-us1.com/', 'https://acct.api-us1.com/api/3', 'https://acct.api-us1.com/api/3/']) {
      expect(acApiBase(base)).toBe('https://acct.api-us1.com/api/3/');
    }
  });
});

// ---- adapter-specific: calls, limits, errors against the fake ----

describe('activecampaign adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 20, signsWebhooks: false, tagsById: true, rateLimit: { requests: 5, perMs: 1000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 100 } });
    expect(capabilities).toBe(b.crm.capabilities);
  });

  it('loads a full batch in one call once tags are cached; an unknown tag id costs one tag refresh', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(b.fake.seedContact({ email: `calls${i}@example.com`, firstName: `F${i}`, fieldValues: { [b.fields.company]: `C${i}` }, tags: ['Alpha', 'Beta'] }));
    await b.crm.loadContacts(ids); // warms the field list (perstag) and the tag map
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts(ids);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.routeCalls('GET /api/3/contacts')).toBe(1);
    expect(loaded.get(ids[7]!)).toMatchObject({ email: 'calls7@example.com', tags: ['Alpha', 'Beta'], fields: { first_name: 'F7', company: 'C7', plan: null } });

    b.fake.tagContact(ids[0]!, 'Gamma (new in AC)');
    b.fake.resetCounters();
    const again = await b.crm.loadContacts(ids);
    expect(again.get(ids[0]!)!.tags).toEqual(['Alpha', 'Beta', 'Gamma (new in AC)']);
    expect(b.fake.routeCalls('GET /api/3/contacts')).toBe(1);
    expect(b.fake.routeCalls('GET /api/3/tags')).toBe(1);
    expect(b.fake.calls).toBe(2);
  });

  it('without side loading, falls back to contactTags + fieldValues per contact', async () => {
    const other = await build({ sideLoading: false });
    try {
      const ids = [1, 2].map((i) => other.fake.seedContact({ email: `noinclude${i}@example.com`, fieldValues: { [other.fields.plan]: `P${i}` }, tags: [`T${i}`] }));
      await other.crm.loadContacts(ids);
      other.fake.resetCounters();
      const loaded = await other.crm.loadContacts(ids);
      expect(loaded.get(ids[1]!)).toMatchObject({ tags: ['T2'], fields: { plan: 'P2' } });
      expect(other.fake.routeCalls('GET /api/3/contacts')).toBe(1);
      expect(other.fake.routeCalls('GET /api/3/contacts/:id/contactTags')).toBe(2);
      expect(other.fake.routeCalls('GET /api/3/contacts/:id/fieldValues')).toBe(2);
    } finally {
      await other.fake.close();
    }
  });

  it('takes readAt from the clock before the first call', async () => {
    const clock = new ManualClock(1_000);
    const other = await build({ clock });
    try {
      const id = other.fake.seedContact({ email: 'clock@example.com' });
      const snapshot = (await other.crm.loadContacts([id])).get(id)!;
      expect(snapshot.readAt).toBe(1_000);
    } finally {
      await other.fake.close();
    }
  });

  it('accepts a base URL that already ends in /api/3', async () => {
    const other = await build({ baseSuffix: '/api/3/' });
    try {
      const id = other.fake.seedContact({ email: 'suffix@example.com', tags: ['S'] });
      expect((await other.crm.loadContacts([id])).get(id)?.tags).toEqual(['S']);
    } finally {
      await other.fake.close();
    }
  });

  it('applyTags: one contactTags call per tag once the tag is known; creates unknown tags once', async () => {
    const id = b.fake.seedContact({ email: 'tags-calls@example.com' });
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new tag', 'brand NEW tag']); // case-insensitive: one tag
    expect(b.fake.routeCalls('POST /api/3/tags')).toBe(1);
    expect(b.fake.routeCalls('POST /api/3/contactTags')).toBe(1);
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new tag']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactState(id)!.tags).toEqual(['Brand new tag']);
  });

  it('applyTags recovers when a cached tag was deleted in AC', async () => {
    const id = b.fake.seedContact({ email: 'deleted-tag@example.com' });
    await b.crm.applyTags(id, ['Short lived']);
    const tagId = b.fake.seedTag('Short lived');
    b.fake.deleteTag(tagId);
    await b.crm.applyTags(id, ['Short lived']);
    expect(b.fake.contactState(id)!.tags).toEqual(['Short lived']);
  });

  it('applyTags/removeTags on an unknown contact is a permanent error', async () => {
    await expect(b.crm.applyTags('99999', ['X'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.removeTags('99999', ['X'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
  });

  it('upsert sends standard and custom fields in the one contact/sync call', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'sync@example.com', fields: { first_name: 'Syn', company: 'Acme', plan: 'Gold' } });
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactState(id)).toMatchObject({ contact: { firstName: 'Syn' }, fieldValues: { [b.fields.company]: 'Acme', [b.fields.plan]: 'Gold' } });
  });

  it('refuses an unmapped field before any call', async () => {
    b.fake.resetCounters();
    await expect(b.crm.upsertContact({ email: 'bad@example.com', fields: { shoe_size: '44' } })).rejects.toMatchObject({ kind: 'permanent' });
    expect(b.fake.calls).toBe(0);
  });

  it('a 503 (AC over its limit) is transient; a bad API token is permanent', async () => {
    const id = b.fake.seedContact({ email: 'errors@example.com' });
    b.fake.failNext(503);
    await expect(b.crm.loadContacts([id])).rejects.toMatchObject({ kind: 'transient', status: 503 });
    const wrong = activecampaign({
      baseUrl: b.fake.url,
      apiKey: 'wrong',
      webhookSecret: null,
      fieldMap: {},
      limiter: new TokenBucket({ requests: 50, perMs: 1000 }),
      clock: systemClock,
      timeoutMs: 1000,
    });
    await expect(wrong.loadContacts([id])).rejects.toMatchObject({ kind: 'permanent', status: 403 });
  });

  it('listFields returns the standard keys and custom fields as field:<id>', async () => {
    const fields = await b.crm.listFields();
    expect(fields).toEqual(expect.arrayContaining([{ id: 'firstName', name: 'First name' }, { id: `field:${b.fields.company}`, name: 'Company' }]));
  });
});

describe('activecampaign listing (import and sweep)', () => {
  it('lists every contact in ID pages (id_greater), with tags and fields side loaded, one call per page', async () => {
    const b = await build();
    try {
      const ids = [1, 2, 3, 4, 5].map((i) => b.fake.seedContact({ email: `list${i}@example.com`, firstName: `L${i}`, fieldValues: { [b.fields.company]: `Co${i}` }, tags: i % 2 ? ['odd'] : ['even'] }));
      await b.crm.loadContacts([ids[0]!]); // the field list and tag map, as after any earlier call
      b.fake.resetCounters();
      const first = await b.crm.listContacts!({ cursor: null, limit: 2 });
      expect(b.fake.calls).toBe(1);
      expect(first).toMatchObject({ ids: [], nextCursor: ids[1], total: 5 });
      expect(first.contacts.map((c) => [c.contactId, c.email, c.tags, c.fields.company])).toEqual([
        [ids[0], 'list1@example.com', ['odd'], 'Co1'],
        [ids[1], 'list2@example.com', ['even'], 'Co2'],
      ]);
      const seen = [...first.contacts];
      for (let cursor = first.nextCursor; cursor !== null; ) {
        const page = await b.crm.listContacts!({ cursor, limit: 2 });
        seen.push(...page.contacts);
        cursor = page.nextCursor;
      }
      expect(seen.map((c) => c.contactId)).toEqual(ids);
    } finally {
      await b.fake.close();
    }
  });

  it('lists the contacts of one tag (tagid, resolved from its name); an unknown tag has none', async () => {
    const b = await build();
    try {
      const ids = [1, 2, 3].map((i) => b.fake.seedContact({ email: `tagged${i}@example.com`, tags: i === 2 ? ['VIP'] : ['other'] }));
      const vip = await b.crm.listContacts!({ tag: 'vip', cursor: null, limit: 100 });
      expect(vip.contacts.map((c) => c.contactId)).toEqual([ids[1]]);
      expect(vip.nextCursor).toBeNull();
      b.fake.resetCounters();
      expect(await b.crm.listContacts!({ tag: 'never-used', cursor: null, limit: 100 })).toEqual({ contacts: [], ids: [], nextCursor: null, total: 0 });
      expect(b.fake.routeCalls('GET /api/3/contacts')).toBe(0);
    } finally {
      await b.fake.close();
    }
  });

  it('lists contacts changed since a time (filters[updated_after]), a tag change included', async () => {
    let now = Date.UTC(2026, 10, 28, 12);
    const b = await build({ now: () => now });
    try {
      const [a, c] = [1, 2].map((i) => b.fake.seedContact({ email: `changed${i}@example.com` }));
      now += 60_000;
      const since = now;
      b.fake.tagContact(c!, 'late');
      const changed = await b.crm.listChangedContacts!({ since: since + 500, cursor: null, limit: 100 });
      // AC's dates have whole seconds: `since` is rounded down, never up.
      expect(changed.contacts.map((x) => [x.contactId, x.tags])).toEqual([[c, ['late']]]);
      expect(changed.contacts.map((x) => x.contactId)).not.toContain(a);
      expect((await b.crm.listChangedContacts!({ since: since + 1000, cursor: null, limit: 100 })).contacts).toEqual([]);
    } finally {
      await b.fake.close();
    }
  });
});

describe('activecampaign at the documented 5 requests/second', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build({ rate: 5, latencyMs: 20 });
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('a burst of concurrent work through the limiter meets no 429', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => b.fake.seedContact({ email: `burst${i}@example.com`, tags: ['Burst'] }));
    await Promise.all([...ids.map((id) => b.crm.loadContacts([id])), b.crm.applyTags(ids[0]!, ['Burst 2']), b.crm.listTags()]);
    expect(b.fake.rateLimited).toBe(0);
    expect(b.fake.calls).toBeGreaterThanOrEqual(8);
  });

  it('a client faster than the limit gets 429s that the fake answers with Retry-After and RateLimit headers', async () => {
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => fetch(`${b.fake.url}/api/3/tags`, { headers: { 'Api-Token': b.fake.apiToken } })),
    );
    const limited = responses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited[0]!.headers.get('ratelimit-limit')).toBe('5');
    expect(limited[0]!.headers.get('ratelimit-remaining')).toBe('0');
    await Promise.all(responses.map((r) => r.body?.cancel()));
  });
});
