import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeKit, startFakeKit } from '../../../test/fakes/kit.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { CrmWebhookError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { kitApiBase } from './client.js';
import { capabilities, createKit, defaultFieldMap, kit } from './index.js';
import { resolveFieldMap, toKitWrite, toSnapshot } from './mappers.js';
import type { KitSubscriberBody, KitTagList } from './types.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const URL_PATH = '/?wpf_action=update&access_key=KEY';
const SECRET = 'kit-test-endpoint-secret';

const sign = (raw: Buffer, t: number, ...secrets: string[]) =>
  [`t=${t}`, ...(secrets.length ? secrets : [SECRET]).map((s) => `v1=${createHmac('sha256', s).update(`${t}.`).update(raw).digest('hex')}`)].join(',');

/** What ingress hands the adapter for a JSON body: the raw bytes and the parsed value. */
function jsonRequest(raw: Buffer | string, headers: Record<string, string> = {}): WebhookRequest {
  const body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  let fields: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    fields = Array.isArray(parsed) ? { events: parsed } : (parsed as Record<string, unknown>);
  } catch {
    fields = {};
  }
  return { method: 'POST', url: URL_PATH, publicUrl: `https://sync.example.com${URL_PATH}`, headers: { 'content-type': 'application/json', ...headers }, body, fields };
}

const FIELD_MAP: FieldMap = { ...defaultFieldMap, company: 'company', plan: 'Plan' /* by label */ };

interface Built {
  fake: FakeKit;
  crm: Crm;
}

async function build(opts: { clock?: Clock; rateLimit?: number; upsertUpdatesFields?: boolean; backoffMs?: number; now?: () => number } = {}): Promise<Built> {
  const fake = await startFakeKit({ rateLimit: opts.rateLimit ?? 100_000, upsertUpdatesFields: opts.upsertUpdatesFields, now: opts.now });
  for (const label of ['Last name', 'Phone number', 'Company', 'Plan']) fake.seedCustomField(label);
  const crm = createKit(
    {
      baseUrl: fake.url,
      apiKey: fake.apiKey,
      webhookSecret: SECRET,
      fieldMap: FIELD_MAP,
      limiter: new TokenBucket({ requests: 500, perMs: 1000 }),
      clock: opts.clock ?? systemClock,
      timeoutMs: 5000,
    },
    { rateLimitBackoffMs: opts.backoffMs ?? 1000 },
  );
  return { fake, crm };
}

// ---- the shared suite, against the fake (limit raised and the 429 backoff shortened for speed) ----

describeCrmConformance('kit', async () => {
  const { fake, crm } = await build();
  const keys: Record<string, string> = { first_name: 'first_name', last_name: 'last_name', company: 'company', plan: 'plan' };
  return {
    crm,
    fields: ['first_name', 'company', 'last_name', 'plan'],
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const fields: Record<string, string | null> = {};
      let first: string | null | undefined;
      for (const [local, value] of Object.entries(c.fields ?? {})) {
        if (!keys[local]) throw new Error(`unmapped field ${local}`);
        if (local === 'first_name') first = value;
        else fields[keys[local]] = value;
      }
      return fake.seedSubscriber({ email: c.email, first_name: first, fields, tags: c.tags });
    },
    async readContact(id) {
      const s = fake.subscriber(id);
      if (!s) return null;
      return {
        email: s.email_address,
        fields: { first_name: s.first_name || null, last_name: s.fields.last_name || null, company: s.fields.company || null, plan: s.fields.plan || null },
        tags: s.tagNames,
      };
    },
    webhookFor: (contactId) => {
      const s = fake.subscriber(contactId)!;
      const body = Buffer.from(JSON.stringify({ delivery_id: 1, events: [{ id: 'e1', type: 'subscriber.tag_added', created: new Date().toISOString(), data: { subscriber: { id: s.id, email_address: s.email_address }, tag: { id: 1, name: 'x' } } }] }));
      return jsonRequest(body, { 'x-kit-signature': sign(body, Math.floor(Date.now() / 1000)) });
    },
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000; // the test backoff: Kit sends no Retry-After
    },
    close: () => fake.close(),
  };
});

// ---- adapter-specific: documented payloads ----

describe('kit webhooks (documented payloads)', () => {
  const clock = new ManualClock(Date.UTC(2026, 6, 29, 14, 32, 10));
  const crm = kit({ baseUrl: 'https://api.kit.com', apiKey: 'unused', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 2, perMs: 1000 }), clock, timeoutMs: 1000 });
  const now = () => Math.floor(clock.now() / 1000);

  it('the new envelope (delivery-format doc) → its subscriber', () => {
    const body = fixture('webhook-subscriber.created.envelope.json');
    const request = jsonRequest(body, { 'x-kit-signature': sign(body, now()) });
    expect(() => crm.verifyWebhook(request)).not.toThrow();
    expect(crm.parseWebhook(request)).toEqual({ contactIds: ['987654'] });
  });

  it('a batched delivery (up to 100 events) → every subscriber, deduplicated, in order', () => {
    const base = JSON.parse(fixture('webhook-subscriber.created.envelope.json').toString('utf8'));
    const events = [987654, 5, 987654, 6].map((id, i) => ({ ...base.events[0], id: `e${i}`, data: { subscriber: { ...base.events[0].data.subscriber, id } } }));
    expect(crm.parseWebhook(jsonRequest(JSON.stringify({ delivery_id: 2, events }))).contactIds).toEqual(['987654', '5', '6']);
  });

  it('the legacy rule payload (v3 docs) → subscriber.id', () => {
    expect(crm.parseWebhook(jsonRequest(fixture('webhook-subscriber-legacy-rule.json')))).toEqual({ contactIds: ['1'] });
  });

  it('events without a subscriber, and legacy purchase payloads, are ignored', () => {
    const custom = { delivery_id: 3, events: [{ id: 'e', type: 'custom_field.field_created', created: '2026-01-01T00:00:00Z', data: { custom_field: { id: 1 } } }] };
    expect(crm.parseWebhook(jsonRequest(JSON.stringify(custom)))).toEqual({ contactIds: [], ignored: 'custom_field.field_created is not a contact change' });
    const purchase = { id: 8, transaction_id: '123-abcd-456-efgh', status: 'paid', email_address: 'crashoverride@hackers.com', products: [] };
    expect(crm.parseWebhook(jsonRequest(JSON.stringify(purchase)))).toEqual({ contactIds: [], ignored: 'purchase is not a contact change' });
  });

  it('re-parses the raw body when ingress did not; refuses bad JSON', () => {
    const body = fixture('webhook-subscriber.created.envelope.json');
    expect(crm.parseWebhook({ ...jsonRequest(body), fields: {} }).contactIds).toEqual(['987654']);
    expect(() => crm.parseWebhook({ ...jsonRequest('{"events": ['), fields: {} })).toThrow(CrmWebhookError);
  });
});

describe('kit signatures (X-Kit-Signature)', () => {
  const clock = new ManualClock(Date.UTC(2026, 6, 29, 14, 32, 10));
  const crm = kit({ baseUrl: 'https://api.kit.com', apiKey: 'unused', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 2, perMs: 1000 }), clock, timeoutMs: 1000 });
  const body = fixture('webhook-subscriber.created.envelope.json');
  const now = () => Math.floor(clock.now() / 1000);

  const expectRefused = (request: WebhookRequest, name: string, on: Crm = crm) => {
    let error: unknown;
    try {
      on.verifyWebhook(request);
    } catch (e) {
      error = e;
    }
    expect(error, name).toBeInstanceOf(CrmWebhookError);
    expect((error as CrmWebhookError).code, name).toBe('invalid_signature');
    return error as CrmWebhookError;
  };

  it('a valid signature passes, also at the edge of the 5-minute window', () => {
    expect(() => crm.verifyWebhook(jsonRequest(body, { 'x-kit-signature': sign(body, now()) }))).not.toThrow();
    expect(() => crm.verifyWebhook(jsonRequest(body, { 'x-kit-signature': sign(body, now() - 300) }))).not.toThrow();
  });

  it('during a secret rotation, any of several v1 entries may match', () => {
    expect(() => crm.verifyWebhook(jsonRequest(body, { 'x-kit-signature': sign(body, now(), 'the-new-secret', SECRET) }))).not.toThrow();
    expect(() => crm.verifyWebhook(jsonRequest(body, { 'x-kit-signature': sign(body, now(), SECRET, 'the-new-secret') }))).not.toThrow();
  });

  it('tampered body, wrong secret, stale or future timestamp, missing or malformed header → invalid_signature', () => {
    const tampered = Buffer.from(body.toString('utf8').replace('987654', '987655'));
    expectRefused(jsonRequest(tampered, { 'x-kit-signature': sign(body, now()) }), 'tampered');
    expectRefused(jsonRequest(body, { 'x-kit-signature': sign(body, now(), 'wrong-secret') }), 'wrong secret');
    expectRefused(jsonRequest(body, { 'x-kit-signature': sign(body, now(), 'wrong-1', 'wrong-2') }), 'rotation, none matching');
    expectRefused(jsonRequest(body, { 'x-kit-signature': sign(body, now() - 301) }), 'stale');
    expectRefused(jsonRequest(body, { 'x-kit-signature': sign(body, now() + 301) }), 'future');
    expectRefused(jsonRequest(body), 'missing');
    expectRefused(jsonRequest(body, { 'x-kit-signature': `v1=${'0'.repeat(64)}` }), 'no timestamp');
    expectRefused(jsonRequest(body, { 'x-kit-signature': `t=${now()}` }), 'no v1');
    expectRefused(jsonRequest(body, { 'x-kit-signature': `t=${now()},v1=abc` }), 'short v1');
    // The timestamp is signed too: a fresh t on an old signature fails.
    const old = sign(body, now() - 3600).split(',')[1]!;
    expectRefused(jsonRequest(body, { 'x-kit-signature': `t=${now()},${old}` }), 'replayed with a new t');
  });

  it('a legacy rule webhook (unsigned) is refused', () => {
    expectRefused(jsonRequest(fixture('webhook-subscriber-legacy-rule.json')), 'legacy');
  });

  it('without CRMSYNC_CRM_WEBHOOK_SECRET every webhook is refused, saying so', () => {
    const unsigned = kit({ baseUrl: 'https://api.kit.com', apiKey: 'unused', webhookSecret: null, fieldMap: {}, limiter: new TokenBucket({ requests: 2, perMs: 1000 }), clock, timeoutMs: 1000 });
    const error = expectRefused(jsonRequest(body, { 'x-kit-signature': sign(body, now()) }), 'no secret', unsigned);
    expect(error.message).toMatch(/CRMSYNC_CRM_WEBHOOK_SECRET is required/);
  });
});

describe('kit mappers (documented payloads)', () => {
  it('GET /v4/subscribers/{id} + its tags → snapshot', () => {
    const body = JSON.parse(fixture('subscriber-get.v4.json').toString('utf8')) as KitSubscriberBody;
    const tags = JSON.parse(fixture('subscriber-tags-get.v4.json').toString('utf8')) as KitTagList;
    const map = resolveFieldMap({ first_name: 'first_name', category: 'category', email: 'email_address' }, [{ id: 1, name: 'ck_field_1_category', key: 'category', label: 'Category' }]);
    expect(toSnapshot(body.subscriber, tags.tags, map, 5)).toEqual({ contactId: '324', email: 'alice@convertkit.dev', tags: ['Tag B', 'Tag A'], fields: { first_name: 'Alice', category: 'One', email: 'alice@convertkit.dev' }, readAt: 5 });
  });

  it('the legacy contact-get.json shape (v3 docs) maps the same way; null/"" read as null', () => {
    const body = JSON.parse(fixture('contact-get.json').toString('utf8')) as KitSubscriberBody;
    const map = resolveFieldMap(defaultFieldMap, null);
    expect(toSnapshot(body.subscriber, [], map, 1).fields).toEqual({ first_name: 'Jon', last_name: 'Snow', phone: null });
  });

  it('custom keys are checked (by key or label); unmapped writes refused; null writes ""', () => {
    const fields = [{ id: 1, name: 'ck_field_1_last_name', key: 'last_name', label: 'Last name' }];
    expect(() => resolveFieldMap({ x: 'nope' }, fields)).toThrow(/Kit has no custom field with the key of: x → nope/);
    const map = resolveFieldMap({ first_name: 'first_name', surname: 'Last name' }, fields);
    expect(toKitWrite({ first_name: null, surname: 'Snow' }, map)).toEqual({ first_name: '', fields: { last_name: 'Snow' } });
    expect(() => toKitWrite({ other: 'x' }, map)).toThrow(/no Kit field is mapped for: other/);
  });

  it('normalises the base URL with or without /v4', () => {
    for (const base of ['https://api.kit.com', 'https://api.kit.com/', 'https://api.kit.com/v4', 'https://api.kit.com/v4/']) expect(kitApiBase(base)).toBe('https://api.kit.com/v4/');
  });
});

// ---- adapter-specific: calls, limits, errors against the fake ----

describe('kit adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 1, signsWebhooks: true, tagsById: true, rateLimit: { requests: 120, perMs: 60_000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 1000 } });
    expect(capabilities).toBe(b.crm.capabilities);
  });

  it('a load is two calls (subscriber, its tags); find by e-mail is one (tags side loaded), any state', async () => {
    const id = b.fake.seedSubscriber({ email: 'Two.Calls@Example.com', first_name: 'Two', state: 'cancelled', fields: { company: 'ACME' }, tags: ['A', 'B'] });
    await b.crm.loadContacts([id]); // warms the custom field check
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts([id, 'abc']);
    expect(b.fake.calls).toBe(2);
    expect(loaded.get(id)).toMatchObject({ email: 'Two.Calls@Example.com', tags: ['A', 'B'], fields: { first_name: 'Two', company: 'ACME', last_name: null } });
    b.fake.resetCounters();
    expect((await b.crm.findContactByEmail('two.calls@example.com'))?.tags).toEqual(['A', 'B']);
    expect(b.fake.calls).toBe(1);
  });

  it('upsert of an existing subscriber: POST, then PUT only when Kit did not apply the fields', async () => {
    const id = b.fake.seedSubscriber({ email: 'exists@example.com', first_name: 'Old' });
    b.fake.resetCounters();
    expect(await b.crm.upsertContact({ email: 'exists@example.com', fields: { first_name: 'New' } })).toBe(id);
    expect(b.fake.calls).toBe(1); // first_name is applied by the upsert itself
    expect(await b.crm.upsertContact({ email: 'exists@example.com', fields: { company: 'Initech' } })).toBe(id);
    expect(b.fake.routeCalls('PUT /v4/subscribers/:id')).toBe(1);
    expect(b.fake.subscriber(id)!.fields.company).toBe('Initech');

    const applying = await build({ upsertUpdatesFields: true });
    try {
      const other = applying.fake.seedSubscriber({ email: 'applied@example.com' });
      await applying.crm.upsertContact({ email: 'applied@example.com', fields: { company: 'X' } }); // warms the field check
      applying.fake.resetCounters();
      expect(await applying.crm.upsertContact({ email: 'applied@example.com', fields: { company: 'Y' } })).toBe(other);
      expect(applying.fake.calls).toBe(1);
    } finally {
      await applying.fake.close();
    }
  });

  it('tags: names → ids once (POST /v4/tags returns existing ones); a tag deleted in Kit is re-created', async () => {
    const id = b.fake.seedSubscriber({ email: 'tags@example.com' });
    await b.crm.applyTags(id, ['Alpha', 'alpha', 'Beta']);
    expect(b.fake.subscriber(id)!.tagNames).toEqual(['Alpha', 'Beta']);
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Alpha']);
    expect(b.fake.calls).toBe(1); // cached id
    b.fake.deleteTag('Alpha');
    await b.crm.applyTags(id, ['Alpha']);
    expect(b.fake.subscriber(id)!.tagNames).toEqual(['Beta', 'Alpha']);
    await b.crm.removeTags(id, ['beta', 'Never']);
    expect(b.fake.subscriber(id)!.tagNames).toEqual(['Alpha']);
  });

  it('unknown subscribers: tags and updates are permanent 404s', async () => {
    await expect(b.crm.applyTags('99999999', ['A'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.removeTags('99999999', ['A'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.updateContact('not-an-id', { first_name: 'x' })).rejects.toMatchObject({ kind: 'permanent' });
  });

  it('an unknown custom field key in the map stops before any write', async () => {
    const bad = kit({ baseUrl: b.fake.url, apiKey: b.fake.apiKey, webhookSecret: SECRET, fieldMap: { x: 'no_such_field' }, limiter: new TokenBucket({ requests: 500, perMs: 1000 }), clock: systemClock, timeoutMs: 2000 });
    b.fake.resetCounters();
    await expect(bad.upsertContact({ email: 'never@example.com', fields: { x: '1' } })).rejects.toThrow(/no custom field with the key of: x → no_such_field/);
    expect(b.fake.routeCalls('POST /v4/subscribers')).toBe(0);
  });

  it('lists fields (key + label) and tags', async () => {
    const fields = await b.crm.listFields();
    expect(fields).toEqual(expect.arrayContaining([{ id: 'email_address', name: 'Email address' }, { id: 'last_name', name: 'Last name' }, { id: 'phone_number', name: 'Phone number' }]));
  });

  it('a wrong API key is a permanent 401', async () => {
    const bad = kit({ baseUrl: b.fake.url, apiKey: 'wrong', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 500, perMs: 1000 }), clock: systemClock, timeoutMs: 2000 });
    await expect(bad.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
  });
});

describe('kit rate limit (120 requests / 60 s, 429 "Retry later" without Retry-After)', () => {
  it('a 429 pauses the shared limiter with exponential backoff, then the call succeeds', async () => {
    const b = await build({ backoffMs: 200 });
    try {
      const id = b.fake.seedSubscriber({ email: 'backoff@example.com', tags: ['T'] });
      await b.crm.loadContacts([id]);
      b.fake.forceRateLimit(2);
      const started = Date.now();
      const loaded = await b.crm.loadContacts([id]);
      expect(loaded.get(id)!.tags).toEqual(['T']);
      expect(b.fake.rateLimited).toBe(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(200 + 400 - 50); // 200 ms, then 400 ms
    } finally {
      await b.fake.close();
    }
  });

  it('past the retries, the queue gets rate_limited with the backoff to wait', async () => {
    const b = await build({ backoffMs: 50 });
    try {
      b.fake.forceRateLimit(10);
      await expect(b.crm.listTags()).rejects.toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 200 });
    } finally {
      await b.fake.close();
    }
  });

  it('the fake enforces its window', async () => {
    const b = await build({ rateLimit: 3, backoffMs: 50 });
    try {
      for (let i = 0; i < 3; i++) await b.crm.listTags();
      await expect(b.crm.listTags()).rejects.toMatchObject({ kind: 'rate_limited' });
    } finally {
      await b.fake.close();
    }
  });
});

describe('kit listing (import and sweep)', () => {
  it('lists whole subscribers with their tags (include=tags), every state, one call per cursor page; a tag is filtered from the pages', async () => {
    const b = await build();
    try {
      const ids = [1, 2, 3].map((i) => b.fake.seedSubscriber({ email: `kl${i}@example.com`, first_name: `K${i}`, state: i === 2 ? 'cancelled' : 'active', fields: { company: `Co${i}` }, tags: i === 3 ? ['Gold'] : ['Silver'] }));
      await b.crm.loadContacts([ids[0]!]); // the custom field list, as after any earlier call
      b.fake.resetCounters();
      const first = await b.crm.listContacts!({ cursor: null, limit: 2 });
      expect(b.fake.calls).toBe(1);
      expect(first.contacts.map((c) => [c.contactId, c.email, c.tags, c.fields.first_name, c.fields.company])).toEqual([
        [ids[0], 'kl1@example.com', ['Silver'], 'K1', 'Co1'],
        [ids[1], 'kl2@example.com', ['Silver'], 'K2', 'Co2'],
      ]);
      expect(first.nextCursor).not.toBeNull();
      const last = await b.crm.listContacts!({ cursor: first.nextCursor, limit: 2 });
      expect(last.contacts.map((c) => c.contactId)).toEqual([ids[2]]);
      expect(last.nextCursor).toBeNull();
      expect((await b.crm.listContacts!({ tag: 'gold', cursor: null, limit: 100 })).contacts.map((c) => c.contactId)).toEqual([ids[2]]);
    } finally {
      await b.fake.close();
    }
  });

  it('lists subscribers updated since a time (updated_after), a tagging included', async () => {
    let now = Date.UTC(2026, 10, 28, 12);
    const b = await build({ now: () => now });
    try {
      const [a, c] = [1, 2].map((i) => b.fake.seedSubscriber({ email: `ku${i}@example.com` }));
      now += 60_000;
      const since = now;
      b.fake.tagSubscriber(c!, 'late');
      const changed = await b.crm.listChangedContacts!({ since: since + 700, cursor: null, limit: 100 });
      expect(changed.contacts.map((x) => [x.contactId, x.tags])).toEqual([[c, ['late']]]);
      expect(changed.contacts.map((x) => x.contactId)).not.toContain(a);
      expect((await b.crm.listChangedContacts!({ since: since + 1000, cursor: null, limit: 100 })).contacts).toEqual([]);
    } finally {
      await b.fake.close();
    }
  });
});
