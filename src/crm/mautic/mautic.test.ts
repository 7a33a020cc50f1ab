import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeMautic, startFakeMautic, type FakeMauticOptions } from '../../../test/fakes/mautic.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { parseBody } from '../../ingress/webhook.js';
import { TokenBucket, type RateLimiter } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { basicAuthorization, mauticApiBase } from './client.js';
import { capabilities, defaultFieldMap, mautic } from './index.js';
import { tagNamesForEdit, toFieldBody, toSnapshot } from './mappers.js';
import type { MauticContactResponse } from './types.js';
import { CONTACT_EVENTS, signBody } from './webhook.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const SECRET = 'mySecret';

/** A webhook request exactly as ingress builds it (fields from its own body parser). */
function request(raw: Buffer | string, headers: Record<string, string> = {}): WebhookRequest {
  const body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  let fields: Record<string, unknown> = {};
  try {
    fields = parseBody(body, 'application/json');
  } catch {
    fields = {};
  }
  const url = '/?wpf_action=update&access_key=KEY';
  return { method: 'POST', url, publicUrl: `https://sync.example.com${url}`, headers: { 'content-type': 'application/json', ...headers }, body, fields };
}

/** Signed as Mautic's `Http\Client::post()` signs: base64(HMAC-SHA256(secret, body)). */
const signed = (raw: Buffer | string, secret = SECRET) => request(raw, { 'webhook-signature': createHmac('sha256', secret).update(raw).digest('base64') });

const FIELD_MAP: FieldMap = { ...defaultFieldMap, company: 'company' };

interface Built {
  fake: FakeMautic;
  crm: Crm;
}

async function build(opts: FakeMauticOptions & { clock?: Clock; apiKey?: string; baseUrl?: string; limiter?: RateLimiter } = {}): Promise<Built> {
  const fake = await startFakeMautic(opts);
  const crm = mautic({
    baseUrl: opts.baseUrl ?? fake.url,
    apiKey: opts.apiKey ?? fake.apiKey,
    webhookSecret: SECRET,
    fieldMap: FIELD_MAP,
    limiter: opts.limiter ?? new TokenBucket({ requests: 500, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm };
}

describeCrmConformance('mautic', async () => {
  const { fake, crm } = await build();
  return {
    crm,
    fields: ['first_name', 'company', 'last_name'],
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const fields: Record<string, string | null> = {};
      for (const [local, value] of Object.entries(c.fields ?? {})) fields[FIELD_MAP[local]!] = value;
      return fake.seedContact({ email: c.email, fields, tags: c.tags });
    },
    async readContact(id) {
      const state = fake.contactState(id);
      if (!state) return null;
      const fields: Record<string, string | null> = {};
      for (const [local, alias] of Object.entries(FIELD_MAP)) fields[local] = state.fields[alias] ?? null;
      return { email: state.email ?? '', fields, tags: state.tags };
    },
    webhookFor: (contactId) => signed(JSON.stringify({ 'mautic.lead_post_save_update': [{ contact: fake.contactJson(contactId, { all: false }), timestamp: new Date().toISOString() }] })),
    forceRateLimit: () => {
      fake.forceRateLimit({ retryAfter: 1 });
      return 1000;
    },
    close: () => fake.close(),
  };
});

describe('mautic webhook signature (Webhook-Signature: base64 HMAC-SHA256 of the raw body)', () => {
  const crm = mautic({ baseUrl: 'https://mautic.example.com', apiKey: 'u:p', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 5, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
  const body = fixture('webhook-lead_post_save_update.json');
  const vector = JSON.parse(fixture('signature-test-vector.computed.json').toString('utf8')) as { secret: string; signature: string };

  it('the computed vector is what signBody gives for the wire body (key "mySecret", as in the docs example)', () => {
    expect(vector.secret).toBe(SECRET);
    expect(signBody(SECRET, body)).toBe(vector.signature);
  });

  it('accepts the documented body with its signature, whatever the header name case', () => {
    expect(capabilities.signsWebhooks).toBe(true);
    expect(() => crm.verifyWebhook(request(body, { 'webhook-signature': vector.signature }))).not.toThrow();
    expect(() => crm.verifyWebhook(request(body, { 'Webhook-Signature': vector.signature }))).not.toThrow();
  });

  it('refuses a tampered body (one byte changed, or re-serialised JSON)', () => {
    const tampered = Buffer.from(body.toString('utf8').replace('"id":52', '"id":53'));
    expect(() => crm.verifyWebhook(request(tampered, { 'webhook-signature': vector.signature }))).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
    // PHP escapes "/" as "\/": the same data re-encoded by JavaScript is other bytes.
    const reencoded = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))));
    expect(reencoded.equals(body)).toBe(false);
    expect(() => crm.verifyWebhook(request(reencoded, { 'webhook-signature': vector.signature }))).toThrow(/does not match/);
  });

  it('refuses a signature made with another secret', () => {
    expect(() => crm.verifyWebhook(signed(body, 'not-the-secret'))).toThrow(expect.objectContaining({ name: 'CrmWebhookError', code: 'invalid_signature' }));
  });

  it('refuses a missing header, an empty one, and one that is not a base64 SHA-256 digest', () => {
    expect(() => crm.verifyWebhook(request(body))).toThrow(/no Webhook-Signature header/);
    expect(() => crm.verifyWebhook(request(body, { 'webhook-signature': '' }))).toThrow(/no Webhook-Signature header/);
    const hex = createHmac('sha256', SECRET).update(body).digest('hex');
    expect(() => crm.verifyWebhook(request(body, { 'webhook-signature': hex }))).toThrow(/not a base64 HMAC-SHA256/);
    expect(() => crm.verifyWebhook(request(body, { 'webhook-signature': vector.signature.slice(0, -2) }))).toThrow(/not a base64/);
  });

  it('refuses everything when no secret is configured (Mautic always signs)', () => {
    const open = mautic({ baseUrl: 'https://mautic.example.com', apiKey: 'u:p', webhookSecret: null, fieldMap: {}, limiter: new TokenBucket({ requests: 5, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
    expect(() => open.verifyWebhook(request(body, { 'webhook-signature': vector.signature }))).toThrow(/CRMSYNC_CRM_WEBHOOK_SECRET/);
  });

  it('has no timestamp: the same signed request verifies again (replay is not detectable; see README)', () => {
    const req = request(body, { 'webhook-signature': vector.signature });
    crm.verifyWebhook(req);
    expect(() => crm.verifyWebhook(req)).not.toThrow();
  });
});

describe('mautic webhook parsing (documented payloads)', () => {
  const crm = mautic({ baseUrl: 'https://mautic.example.com', apiKey: 'u:p', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 5, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });

  it('lead_post_save_update (Mautic\'s own sample, wrapped as sent) names contact 52', () => {
    expect(crm.parseWebhook(request(fixture('webhook-lead_post_save_update.json')))).toEqual({ contactIds: ['52'] });
  });

  it('lead_post_save_new names contact 52', () => {
    expect(crm.parseWebhook(request(fixture('webhook-lead_post_save_new.json')))).toEqual({ contactIds: ['52'] });
  });

  it('lead_points_change alone is ignored (points are not synced; a save that changes fields sends an update)', () => {
    expect(crm.parseWebhook(request(fixture('webhook-lead_points_change.json')))).toEqual({ contactIds: [], ignored: 'mautic.lead_points_change is not a contact change' });
  });

  it('a queue-mode batch: several types, deduplicated, legacy `lead` key read, anonymous visitor and activity events skipped', () => {
    expect(crm.parseWebhook(request(fixture('webhook-queue-batch.constructed.json')))).toEqual({ contactIds: ['52', '53', '54'] });
  });

  it('only activity events and anonymous contacts: ignored with the reasons', () => {
    const anonymous = { contact: { id: 60, dateIdentified: null, fields: { core: { email: { alias: 'email', value: null } } } } };
    const parsed = crm.parseWebhook(request(JSON.stringify({ 'mautic.email_on_open': [{ stat: { id: 1 } }], 'mautic.page_on_hit': [{ hit: { id: 2 } }], 'mautic.lead_post_save_update': [anonymous] })));
    expect(parsed).toEqual({ contactIds: [], ignored: 'mautic.email_on_open, mautic.page_on_hit are not a contact change; 1 anonymous contact (no e-mail)' });
    expect(crm.parseWebhook(request('{"mautic.lead_post_delete":[{"id":52,"contact":{"id":52}}]}')).ignored).toBe('mautic.lead_post_delete is not a contact change');
  });

  it('a contact object with only an id is taken (anonymity is only decided from what the payload shows)', () => {
    expect(crm.parseWebhook(request('{"mautic.lead_post_save_update":[{"contact":{"id":"77"}},{"contact":{"id":"x"}},{"contact":{"id":0}}]}')).contactIds).toEqual(['77']);
  });

  it('Mautic\'s bare sample asset (an array, not the wire shape) and non-JSON bodies are malformed', () => {
    expect(() => crm.parseWebhook(request(fixture('asset-lead_post_save_update.json')))).toThrow(expect.objectContaining({ code: 'malformed_body' }));
    const raw: WebhookRequest = { ...request('x'), body: Buffer.from('not json'), fields: {} };
    expect(() => crm.parseWebhook(raw)).toThrow(expect.objectContaining({ code: 'malformed_body' }));
    expect(() => crm.parseWebhook({ ...raw, body: Buffer.alloc(0) })).toThrow(/empty body/);
  });

  it('reads the raw body when ingress did not parse it', () => {
    const raw = fixture('webhook-lead_post_save_new.json');
    expect(crm.parseWebhook({ method: 'POST', url: '/', publicUrl: 'https://sync.example.com/', headers: {}, body: raw, fields: {} }).contactIds).toEqual(['52']);
  });
});

describe('mautic mappers (documented payloads)', () => {
  it('contact-get.json (the docs\' GET /contacts/{id} example, placeholders and all) → snapshot', () => {
    const body = JSON.parse(fixture('contact-get.documented.json').toString('utf8')) as MauticContactResponse;
    const snapshot = toSnapshot(body.contact, { first_name: 'firstname', title: 'Title', twitter: 'twitter', last_name: 'lastname' }, 7);
    // The example has no e-mail and no tags: the docs show them elsewhere (list example: [{"tag": "aTag"}]).
    expect(snapshot).toEqual({ contactId: '47', email: null, tags: [], fields: { first_name: 'Jim', title: 'Mr', twitter: 'jimcontact', last_name: null }, readAt: 7 });
  });

  it('reads fields from the groups when there is no `all` (webhook shape), and tags [{tag}] skipping the sample\'s [[]]', () => {
    const event = (JSON.parse(fixture('webhook-lead_post_save_update.json').toString('utf8')) as Record<string, { contact: MauticContactResponse['contact'] }[]>)['mautic.lead_post_save_update']![0]!;
    expect(toSnapshot(event.contact, { ...defaultFieldMap, city: 'city', timezone: 'timezone1' }, 1)).toEqual({
      contactId: '52',
      email: 'john@doe.name',
      tags: [],
      fields: { first_name: 'John', last_name: 'Doe', phone: null, city: 'Prague', timezone: 'Europe/Prague' },
      readAt: 1,
    });
    expect(toSnapshot({ id: 1, tags: [{ tag: 'aTag' }, { tag: 'bTag' }, [], { tag: 'aTag' }] }, {}, 1).tags).toEqual(['aTag', 'bTag']);
  });

  it('writes aliases lower-cased; a null is "" with overwriteWithBlank; unmapped fields are refused', () => {
    expect(toFieldBody({ first_name: 'A', last_name: 'B' }, { first_name: 'FirstName', last_name: 'lastname' })).toEqual({ firstname: 'A', lastname: 'B' });
    expect(toFieldBody({ first_name: 'A', phone: null }, defaultFieldMap)).toEqual({ firstname: 'A', phone: '', overwriteWithBlank: true });
    expect(() => toFieldBody({ shoe: '44' }, defaultFieldMap)).toThrow(/no Mautic field alias is mapped for: shoe/);
  });

  it('tag names for an edit: deduplicated case-insensitively; a leading "-" cannot be applied', () => {
    expect(tagNamesForEdit(['VIP', ' vip ', 'Customer', ''])).toEqual(['VIP', 'Customer']);
    expect(() => tagNamesForEdit(['-oops'])).toThrow(/leading "-"/);
  });

  it('API base from the instance URL; Basic credentials from user:password', () => {
    for (const base of ['https://m.example.com', 'https://m.example.com/', 'https://m.example.com/api', 'https://m.example.com/api/']) expect(mauticApiBase(base)).toBe('https://m.example.com/api/');
    expect(mauticApiBase('https://example.com/mautic/index.php')).toBe('https://example.com/mautic/index.php/api/');
    expect(basicAuthorization('admin:pa:ss')).toBe(`Basic ${Buffer.from('admin:pa:ss').toString('base64')}`);
    expect(basicAuthorization('just-a-token')).toBeNull();
    expect(basicAuthorization(':nouser')).toBeNull();
  });
});

describe('mautic adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities: batch 100, signs, tags by name, 5/s default', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 100, signsWebhooks: true, tagsById: false, rateLimit: { requests: 5, perMs: 1000 } });
  });

  it('loads 100 contacts in one `search=ids:…` call; one id is one GET', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => b.fake.seedContact({ email: `batch${i}@example.com`, fields: { firstname: `F${i}` }, tags: ['Alpha'] }));
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts(ids);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.searches).toEqual([`ids:${ids.join(',')}`]);
    expect(loaded.size).toBe(100);
    expect(loaded.get(ids[3]!)).toMatchObject({ contactId: ids[3], email: 'batch3@example.com', tags: ['Alpha'], fields: { first_name: 'F3' } });
    b.fake.resetCounters();
    await b.crm.loadContacts([ids[0]!]);
    expect(b.fake.routeCalls('GET /api/contacts/:id')).toBe(1);
    expect(b.fake.calls).toBe(1);
  });

  it('follows pages when the instance caps the page size', async () => {
    const capped = await build({ maxLimit: 30 });
    try {
      const ids = Array.from({ length: 70 }, (_, i) => capped.fake.seedContact({ email: `cap${i}@example.com` }));
      capped.fake.resetCounters();
      const loaded = await capped.crm.loadContacts([...ids, '987654']);
      expect(loaded.size).toBe(70);
      expect(capped.fake.routeCalls('GET /api/contacts')).toBe(3);
      expect(capped.fake.routeCalls('GET /api/contacts/:id')).toBe(0);
    } finally {
      await capped.fake.close();
    }
  });

  it('falls back to one GET per id if the ids search is not applied (the answer holds other contacts)', async () => {
    const other = await build({ idsSearch: false });
    try {
      const ids = [1, 2, 3].map((i) => other.fake.seedContact({ email: `nofilter${i}@example.com`, tags: ['L'] }));
      for (let i = 0; i < 40; i++) other.fake.seedContact({ email: `noise${i}@example.com` });
      const loaded = await other.crm.loadContacts([...ids, '987654']);
      expect([...loaded.keys()].sort()).toEqual([...ids].sort());
      expect(loaded.get(ids[0]!)!.tags).toEqual(['L']);
    } finally {
      await other.fake.close();
    }
  });

  it('find by e-mail: the search is a prefix (LIKE), only the exact address counts', async () => {
    b.fake.seedContact({ email: 'ann@example.company' });
    b.fake.seedContact({ email: 'annXexample.com@x.org' });
    expect(await b.crm.findContactByEmail('ann@example.com')).toBeNull();
    const id = b.fake.seedContact({ email: 'Ann@Example.com', tags: ['Found'] });
    expect(await b.crm.findContactByEmail(' ann@example.COM ')).toMatchObject({ contactId: id, email: 'Ann@Example.com', tags: ['Found'] });
  });

  it('upsert: search then POST /contacts/new; again: search then PATCH (2 calls each), blank values overwrite', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'upsert@example.com', fields: { first_name: 'One', company: 'Acme' } });
    expect(b.fake.calls).toBe(2);
    expect(b.fake.routeCalls('POST /api/contacts/new')).toBe(1);
    b.fake.resetCounters();
    expect(await b.crm.upsertContact({ email: 'UPSERT@example.com', fields: { last_name: 'Two', company: null } })).toBe(id);
    expect(b.fake.calls).toBe(2);
    expect(b.fake.routeCalls('PATCH /api/contacts/:id/edit')).toBe(1);
    expect(b.fake.contactState(id)!.fields).toEqual({ email: 'UPSERT@example.com', firstname: 'One', lastname: 'Two' });
    expect(b.fake.contactIdsByEmail('upsert@example.com')).toEqual([id]);
  });

  it('applyTags / removeTags are one PATCH each, by name, with "-" for removal', async () => {
    const id = b.fake.seedContact({ email: 'tags@example.com', tags: ['Keep', 'Drop'] });
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['Brand new', 'brand NEW', 'Keep']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactState(id)!.tags).toEqual(['Keep', 'Drop', 'Brand new']);
    b.fake.resetCounters();
    await b.crm.removeTags(id, ['drop', 'Never existed']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.contactState(id)!.tags).toEqual(['Keep', 'Brand new']);
    await expect(b.crm.applyTags(id, ['-negative'])).rejects.toMatchObject({ kind: 'permanent' });
    expect(b.fake.contactState(id)!.tags).toEqual(['Keep', 'Brand new']);
  });

  it('unknown contact: writes are permanent 404s', async () => {
    await expect(b.crm.applyTags('99999', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.removeTags('99999', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.updateContact('not-an-id', { first_name: 'x' })).rejects.toMatchObject({ kind: 'permanent', status: 404 });
  });

  it('a bad e-mail is a permanent 400 with Mautic\'s message', async () => {
    await expect(b.crm.upsertContact({ email: 'not-an-email', fields: {} })).rejects.toMatchObject({ kind: 'permanent', status: 400, message: expect.stringContaining('A valid email is required') });
  });

  it('wrong credentials are a permanent 401; a key without ":" is refused before any call, without echoing it', async () => {
    const wrong = await build({ apiKey: 'crmsync:wrong' });
    try {
      await expect(wrong.crm.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
      const token = mautic({ baseUrl: wrong.fake.url, apiKey: 'secret-token-value', webhookSecret: null, fieldMap: {}, limiter: new TokenBucket({ requests: 5, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
      wrong.fake.resetCounters();
      const error = await token.listTags().catch((e: Error) => e);
      expect(error).toMatchObject({ kind: 'permanent', message: expect.stringContaining('user:password') });
      expect((error as Error).message).not.toContain('secret-token-value');
      expect(wrong.fake.calls).toBe(0);
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

  it('listFields: every contact field by alias; listTags pages through all tags', async () => {
    expect(await b.crm.listFields()).toEqual(expect.arrayContaining([{ id: 'firstname', name: 'First Name (core)' }, { id: 'email', name: 'Email (core)' }]));
    for (let i = 0; i < 120; i++) b.fake.seedTag(`paged-${i}`);
    const tags = await b.crm.listTags();
    expect(tags).toEqual(expect.arrayContaining(['paged-0', 'paged-119', 'Alpha']));
  });
});

describe('mautic rate limiting (Mautic sends X-RateLimit-Reset, an epoch time; a proxy may add Retry-After)', () => {
  /** A limiter that records the pauses it is asked for (the adapter's side of a 429). */
  function recordingLimiter(): RateLimiter & { pauses: number[] } {
    const pauses: number[] = [];
    return { pauses, take: async () => {}, pauseFor: (ms) => void pauses.push(ms) };
  }

  it('a 429 without Retry-After pauses the limiter until X-RateLimit-Reset, then the call succeeds', async () => {
    const limiter = recordingLimiter();
    const r = await build({ limiter });
    try {
      const id = r.fake.seedContact({ email: 'reset@example.com', tags: ['T'] });
      r.fake.forceRateLimit({ resetSeconds: 30 });
      const before = Date.now();
      const loaded = await r.crm.loadContacts([id]);
      expect(loaded.get(id)!.tags).toEqual(['T']);
      expect(r.fake.rateLimited).toBe(1);
      expect(limiter.pauses).toHaveLength(1);
      // Reset is now + 30 s in whole epoch seconds: the pause lies between 29 and 31 s.
      expect(limiter.pauses[0]).toBeGreaterThan(29_000 - (Date.now() - before));
      expect(limiter.pauses[0]).toBeLessThanOrEqual(31_000);
    } finally {
      await r.fake.close();
    }
  });

  it('Retry-After wins when present; repeated 429s end as a rate_limited error carrying the wait', async () => {
    const limiter = recordingLimiter();
    const r = await build({ limiter });
    try {
      r.fake.forceRateLimit({ retryAfter: 7, resetSeconds: 60, count: 3 });
      await expect(r.crm.listTags()).rejects.toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 7000 });
      expect(limiter.pauses).toEqual([7000, 7000, 7000]);
    } finally {
      await r.fake.close();
    }
  });

  it('the fake answers 429 like Mautic\'s limiter: X-RateLimit-* headers, the bundle\'s error body', async () => {
    const fake = await startFakeMautic({ rateLimitPerSecond: 2 });
    try {
      const auth = { authorization: `Basic ${Buffer.from(fake.apiKey).toString('base64')}` };
      const responses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${fake.url}/api/tags`, { headers: auth })));
      const limited = responses.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(Number(limited[0]!.headers.get('x-ratelimit-reset'))).toBeGreaterThan(1e9);
      expect(limited[0]!.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(limited[0]!.headers.get('retry-after')).toBeNull();
      expect(await limited[0]!.json()).toEqual({ errors: [{ code: 429, message: 'You exceeded the rate limit of 2 API calls per hour.', details: [] }] });
      await Promise.all(responses.filter((r) => r.status !== 429).map((r) => r.body?.cancel()));
    } finally {
      await fake.close();
    }
  });
});

describe('mautic webhooks (properties)', () => {
  const crm = mautic({ baseUrl: 'https://mautic.example.com', apiKey: 'u:p', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 5, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
  const withSecret = (secret: string) => mautic({ baseUrl: 'https://mautic.example.com', apiKey: 'u:p', webhookSecret: secret, fieldMap: {}, limiter: new TokenBucket({ requests: 5, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });

  it('any body signed with the secret verifies; the same body with any one byte changed does not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.string({ minLength: 1, maxLength: 40 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, secret, at, delta) => {
        const body = Buffer.from(bytes);
        const adapter = withSecret(secret);
        const headers = { 'webhook-signature': signBody(secret, body) };
        adapter.verifyWebhook({ ...request(body), headers });
        const changed = Buffer.from(body);
        const i = at % changed.length;
        changed[i] = (changed[i]! + delta) % 256;
        expect(() => adapter.verifyWebhook({ ...request(changed), headers })).toThrow(/does not match/);
      }),
    );
  });

  it('a delivery names exactly the contacts of the acted-on events, each once, in order of appearance', () => {
    const types = [...CONTACT_EVENTS, 'mautic.lead_points_change', 'mautic.email_on_open', 'mautic.lead_post_delete'];
    const batch = fc.uniqueArray(fc.constantFrom(...types), { minLength: 1 }).chain((keys) =>
      fc.tuple(...keys.map((key) => fc.tuple(fc.constant(key), fc.array(fc.tuple(fc.integer({ min: 1, max: 30 }), fc.boolean()), { maxLength: 6 })))),
    );
    fc.assert(
      fc.property(batch, (entries) => {
        const body: Record<string, unknown[]> = {};
        const expected: string[] = [];
        for (const [type, events] of entries) {
          body[type] = events.map(([id, legacy]) => (legacy ? { lead: { id } } : { contact: { id } }));
          if (CONTACT_EVENTS.has(type)) for (const [id] of events) if (!expected.includes(String(id))) expected.push(String(id));
        }
        const parsed = crm.parseWebhook(signed(JSON.stringify(body)));
        expect(parsed.contactIds).toEqual(expected);
        if (expected.length === 0 && entries.some(([type]) => !CONTACT_EVENTS.has(type))) expect(parsed.ignored).toMatch(/is not a contact change|are not a contact change/);
      }),
    );
  });
});
