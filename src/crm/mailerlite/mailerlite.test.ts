import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeMailerLite, startFakeMailerLite } from '../../../test/fakes/mailerlite.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { CrmWebhookError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { mailerliteApiBase } from './client.js';
import { capabilities, defaultFieldMap, mailerlite } from './index.js';
import { contactRef, toFields, toSnapshot } from './mappers.js';
import type { MlSubscriber } from './types.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const URL_PATH = '/?wpf_action=update&access_key=KEY';
const SECRET = 'HigkdhMVbp'; // the shape of a MailerLite webhook secret (mailerlite-ruby fixtures/webhooks/create.yml)
const sign = (raw: Buffer | string, secret = SECRET) => createHmac('sha256', secret).update(raw).digest('hex');

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

const signed = (raw: Buffer | string) => jsonRequest(raw, { signature: sign(raw) });

const FIELD_MAP: FieldMap = { ...defaultFieldMap, company: 'company', zip: 'z_i_p' };

interface Built {
  fake: FakeMailerLite;
  crm: Crm;
}

async function build(opts: { perMinute?: number; clock?: Clock; apiKey?: string; baseUrl?: string } = {}): Promise<Built> {
  const fake = await startFakeMailerLite({ rateLimitPerMinute: opts.perMinute ?? 100_000 });
  const crm = mailerlite({
    baseUrl: opts.baseUrl ?? fake.url,
    apiKey: opts.apiKey ?? fake.apiToken,
    webhookSecret: SECRET,
    fieldMap: FIELD_MAP,
    limiter: new TokenBucket({ requests: 1000, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm };
}

// ---- the shared suite, against the fake (its limit raised for speed) ----

describeCrmConformance('mailerlite', async () => {
  const { fake, crm } = await build();
  return {
    crm,
    fields: ['first_name', 'company', 'last_name'],
    unknownContactId: '99999999999999999',
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const fields: Record<string, string | null> = {};
      for (const [local, value] of Object.entries(c.fields ?? {})) fields[FIELD_MAP[local]!] = value;
      return fake.seedSubscriber({ email: c.email, fields, groups: c.tags });
    },
    async readContact(id) {
      const state = fake.subscriberState(id);
      if (!state) return null;
      const fields: Record<string, string | null> = {};
      for (const [local, key] of Object.entries(FIELD_MAP)) fields[local] = state.fields[key] ?? null;
      return { email: state.email, fields, tags: state.groups };
    },
    webhookFor: (contactId) => {
      const s = fake.subscriberState(contactId)!;
      return signed(JSON.stringify({ id: contactId, email: s.email, status: 'active', fields: {}, event: 'subscriber.updated', account_id: 1 }));
    },
    // MailerLite sends Retry-After (seconds): the fake sets 1.
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000;
    },
    close: () => fake.close(),
  };
});

// ---- adapter-specific: documented payloads ----

describe('mailerlite webhooks (documented payloads)', () => {
  const crm = mailerlite({ baseUrl: 'https://connect.mailerlite.com/api', apiKey: 'unused', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 2, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });

  it('subscriber.created (AsyncAPI example of the docs): the flat subscriber id', () => {
    const body = fixture('webhook-subscriber.created.asyncapi.json');
    expect(() => crm.verifyWebhook(signed(body))).not.toThrow();
    expect(crm.parseWebhook(signed(body))).toEqual({ contactIds: ['100000000000000000'] });
  });

  it('an integration test event without an event name (Pipedream subscriber.created): id beside email', () => {
    expect(crm.parseWebhook(signed(fixture('webhook-subscriber.created.pipedream-test-event.json')))).toEqual({ contactIds: ['123456789012345678'] });
  });

  it('subscriber.added_to_group: subscriber.id, not the group id', () => {
    const body = JSON.parse(fixture('webhook-subscriber.added_to_group.asyncapi.json').toString('utf8'));
    body.group.id = '200000000000000000';
    expect(crm.parseWebhook(signed(JSON.stringify(body)))).toEqual({ contactIds: ['100000000000000000'] });
  });

  it('a batched delivery {events, total}: every contact event, deduplicated, campaign events skipped', () => {
    expect(crm.parseWebhook(signed(fixture('webhook-batched.constructed.json')))).toEqual({ contactIds: ['123456789012345678', '123456789012345679'] });
  });

  it('campaign, bounce, spam, deletion and automation events are ignored with a reason', () => {
    expect(crm.parseWebhook(signed(fixture('webhook-campaign.sent.asyncapi.json')))).toEqual({ contactIds: [], ignored: 'campaign.sent is not a contact change' });
    for (const event of ['subscriber.bounced', 'subscriber.spam_reported', 'subscriber.automation_triggered']) {
      expect(crm.parseWebhook(signed(JSON.stringify({ id: '1', email: 'a@example.com', event }))).ignored).toBe(`${event} is not a contact change`);
    }
    const deleted = { events: [{ id: '5', email: 'gone@example.com', event: 'subscriber.deleted' }, { type: 'campaign.click', subscriber: { id: '6' } }], total: 2 };
    expect(crm.parseWebhook(signed(JSON.stringify(deleted)))).toEqual({ contactIds: [], ignored: 'subscriber.deleted, campaign.click is not a contact change' });
  });

  it('unsubscribed / updated / removed_from_group are acted on; the e-mail is the fallback reference', () => {
    expect(crm.parseWebhook(signed('{"id":"42","email":"u@example.com","event":"subscriber.unsubscribed"}')).contactIds).toEqual(['42']);
    expect(crm.parseWebhook(signed('{"email":"Mixed@Example.com","event":"subscriber.updated"}')).contactIds).toEqual(['mixed@example.com']);
    expect(crm.parseWebhook(signed('{"type":"subscriber.removed_from_group","subscriber":{"email":"r@example.com"},"group":{"id":"9"}}')).contactIds).toEqual(['r@example.com']);
  });

  it('an id beyond a JS number is kept exact only as a string: an unsafe number falls back to the e-mail', () => {
    expect(contactRef('75009808379414225')).toBe('75009808379414225');
    expect(contactRef(75009808379414225)).toBeNull();
    expect(crm.parseWebhook(signed('{"id":75009808379414225,"email":"big@example.com","event":"subscriber.updated"}')).contactIds).toEqual(['big@example.com']);
  });

  it('the Classic body ({events:[{type:"subscriber.create", data}]}) names no new-API contact', () => {
    expect(crm.parseWebhook(signed(fixture('webhook-subscriber.create.classic.json')))).toEqual({ contactIds: [], ignored: 'subscriber.create is not a contact change' });
  });

  it('re-reads the raw body when ingress did not parse it; refuses bad JSON and empty bodies', () => {
    const body = fixture('webhook-batched.constructed.json');
    expect(crm.parseWebhook({ ...signed(body), fields: {} }).contactIds).toEqual(['123456789012345678', '123456789012345679']);
    expect(() => crm.parseWebhook({ ...jsonRequest('{"events": ['), fields: {} })).toThrow(expect.objectContaining({ code: 'malformed_body' }));
    expect(() => crm.parseWebhook({ ...jsonRequest(''), fields: {} })).toThrow(expect.objectContaining({ code: 'malformed_body' }));
  });
});

describe('mailerlite signatures (Signature: hex HMAC-SHA256 of the raw body)', () => {
  const make = (secret: string | null) =>
    mailerlite({ baseUrl: 'https://connect.mailerlite.com/api', apiKey: 'unused', webhookSecret: secret, fieldMap: {}, limiter: new TokenBucket({ requests: 2, perMs: 1000 }), clock: new ManualClock(), timeoutMs: 1000 });
  const crm = make(SECRET);
  const body = fixture('webhook-subscriber.created.pipedream-test-event.json');

  const refusal = (request: WebhookRequest, on: Crm = crm): CrmWebhookError => {
    try {
      on.verifyWebhook(request);
    } catch (error) {
      expect(error).toBeInstanceOf(CrmWebhookError);
      expect((error as CrmWebhookError).code).toBe('invalid_signature');
      return error as CrmWebhookError;
    }
    throw new Error('expected the webhook to be refused');
  };

  it('accepts the signature over the exact bytes (lower or upper case hex)', () => {
    expect(capabilities.signsWebhooks).toBe(true);
    expect(() => crm.verifyWebhook(jsonRequest(body, { signature: sign(body) }))).not.toThrow();
    expect(() => crm.verifyWebhook(jsonRequest(body, { signature: sign(body).toUpperCase() }))).not.toThrow();
  });

  it('refuses a tampered body (one byte, or the same JSON re-serialised)', () => {
    const tampered = Buffer.from(body.toString('utf8').replace('email@test.com', 'evil@test.com'));
    refusal(jsonRequest(tampered, { signature: sign(body) }));
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))));
    expect(reserialised.equals(body)).toBe(false);
    refusal(jsonRequest(reserialised, { signature: sign(body) }));
  });

  it('refuses a signature made with another secret, and a truncated or non-hex signature', () => {
    expect(refusal(jsonRequest(body, { signature: sign(body, 'another-secret') })).message).toMatch(/does not match/);
    refusal(jsonRequest(body, { signature: sign(body).slice(0, 63) }));
    refusal(jsonRequest(body, { signature: `${sign(body).slice(0, 62)}zz` }));
    refusal(jsonRequest(body, { signature: Buffer.from(createHmac('sha256', SECRET).update(body).digest()).toString('base64') }));
  });

  it('refuses a missing header, and says so for a Classic webhook (X-MailerLite-Signature)', () => {
    expect(refusal(jsonRequest(body)).message).toMatch(/no Signature header/);
    const classic = fixture('webhook-subscriber.create.classic.json');
    const classicSignature = createHmac('sha256', 'api-key').update(classic).digest('base64');
    expect(refusal(jsonRequest(classic, { 'x-mailerlite-signature': classicSignature })).message).toMatch(/MailerLite Classic/);
  });

  it('several secrets (one per webhook), comma-separated: any of them verifies, none of them is refused', () => {
    const two = make(`first-secret, ${SECRET}`);
    expect(() => two.verifyWebhook(jsonRequest(body, { signature: sign(body) }))).not.toThrow();
    expect(() => two.verifyWebhook(jsonRequest(body, { signature: sign(body, 'first-secret') }))).not.toThrow();
    refusal(jsonRequest(body, { signature: sign(body, 'third-secret') }), two);
    refusal(jsonRequest(body, { signature: sign(body) }), make(' , '));
  });

  it('requires the secret to be configured (no unsigned mode)', () => {
    expect(refusal(jsonRequest(body, { signature: sign(body) }), make(null)).message).toMatch(/CRMSYNC_CRM_WEBHOOK_SECRET is required/);
  });

  it('has no timestamp to check: the same signed body verifies at any clock time (no replay window — see README)', () => {
    const clock = new ManualClock(Date.UTC(2020, 0, 1));
    const later = mailerlite({ baseUrl: 'https://connect.mailerlite.com/api', apiKey: 'unused', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 2, perMs: 1000 }), clock, timeoutMs: 1000 });
    clock.advance(365 * 24 * 3600 * 1000);
    expect(() => later.verifyWebhook(jsonRequest(body, { signature: sign(body) }))).not.toThrow();
  });
});

describe('mailerlite mappers (documented payloads)', () => {
  it('contact-get.json (recorded GET /subscribers/{email}) → snapshot with its groups as tags', () => {
    const { data } = JSON.parse(fixture('contact-get.json').toString('utf8')) as { data: MlSubscriber };
    const snapshot = toSnapshot(data, { first_name: 'name', city: 'CITY', email: 'email', zip: 'z_i_p' }, 7);
    expect(snapshot).toEqual({
      contactId: '75009808379414225',
      email: 'second@email.com',
      tags: ['My Group', 'SMmwGofyQP'],
      fields: { first_name: null, city: 'Lajpcig', email: 'second@email.com', zip: null },
      readAt: 7,
    });
  });

  it('a subscriber without `groups` is refused, not read as "no tags"', () => {
    expect(() => toSnapshot({ id: '1', email: 'a@example.com', fields: {} }, {}, 1)).toThrow(/without its groups/);
  });

  it('writes field keys lower-cased, "" and null as null (clear), refuses unmapped fields, leaves out email', () => {
    expect(toFields({ first_name: 'A', phone: '', last_name: null }, defaultFieldMap)).toEqual({ name: 'A', phone: null, last_name: null });
    expect(toFields({ mail: 'x@example.com' }, { mail: 'EMAIL' })).toEqual({});
    expect(() => toFields({ shoe: '44' }, defaultFieldMap)).toThrow(/no MailerLite field is mapped for: shoe/);
  });

  it('normalises the base URL with or without /api', () => {
    for (const base of ['https://connect.mailerlite.com', 'https://connect.mailerlite.com/', 'https://connect.mailerlite.com/api', 'https://connect.mailerlite.com/api/']) {
      expect(mailerliteApiBase(base)).toBe('https://connect.mailerlite.com/api/');
    }
  });
});

describe('mailerlite adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as documented', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 50, signsWebhooks: true, tagsById: true, rateLimit: { requests: 120, perMs: 60_000 } });
  });

  it('loads 50 subscribers in one POST /batch, ids kept exact; a single one with one GET', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => b.fake.seedSubscriber({ email: `batch${i}@example.com`, fields: { name: `F${i}` }, groups: ['Alpha'] }));
    expect(ids[0]!.length).toBeGreaterThan(16);
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts(ids);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.routeCalls('POST /api/batch')).toBe(1);
    expect(loaded.size).toBe(50);
    expect(loaded.get(ids[3]!)).toMatchObject({ contactId: ids[3], tags: ['Alpha'], fields: { first_name: 'F3' } });
    b.fake.resetCounters();
    expect((await b.crm.loadContacts([ids[7]!])).get(ids[7]!)?.fields.first_name).toBe('F7');
    expect(b.fake.routeCalls('GET /api/subscribers/:ref')).toBe(1);
    expect(b.fake.calls).toBe(1);
  });

  it('loads subscribers named by e-mail (from a webhook), keyed by that e-mail; unknown ones are absent', async () => {
    const id = b.fake.seedSubscriber({ email: 'byemail@example.com', groups: ['Beta'] });
    const loaded = await b.crm.loadContacts(['byemail@example.com', '99999999999999999', 'nobody@example.com']);
    expect([...loaded.keys()]).toEqual(['byemail@example.com']);
    expect(loaded.get('byemail@example.com')).toMatchObject({ contactId: id, tags: ['Beta'] });
  });

  it('a failing sub-request fails the load with its kind (a bad token inside the batch is permanent)', async () => {
    const wrong = await build({ apiKey: 'wrong' });
    try {
      await expect(wrong.crm.loadContacts(['1', '2'])).rejects.toMatchObject({ kind: 'permanent', status: 401 });
    } finally {
      await wrong.fake.close();
    }
  });

  it('upsert is one POST /subscribers, create (201) and update (200) alike, and never removes groups', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'Upsert@Example.com', fields: { first_name: 'One' } });
    expect(b.fake.calls).toBe(1);
    await b.crm.applyTags(id, ['Kept']);
    b.fake.resetCounters();
    expect(await b.crm.upsertContact({ email: 'upsert@example.com', fields: { last_name: 'Two' } })).toBe(id);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.subscriberState(id)).toEqual({ email: 'upsert@example.com', fields: { name: 'One', last_name: 'Two' }, groups: ['Kept'] });
  });

  it('applyTags: a new group is created once, then one assign call per group; names match case-insensitively', async () => {
    const id = b.fake.seedSubscriber({ email: 'tags@example.com' });
    await b.crm.applyTags(id, ['Brand new', 'brand NEW']);
    expect(b.fake.subscriberState(id)!.groups).toEqual(['Brand new']);
    expect(b.fake.groupNames().filter((n) => n.toLowerCase() === 'brand new')).toHaveLength(1);
    b.fake.resetCounters();
    await b.crm.applyTags(id, ['BRAND NEW']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.routeCalls('POST /api/subscribers/:id/groups/:group')).toBe(1);
  });

  it('a group another instance created meanwhile (create answers 422) is looked up, not duplicated', async () => {
    const other = await build();
    try {
      const id = other.fake.seedSubscriber({ email: 'race@example.com' });
      await other.crm.listTags(); // the adapter has read the groups: none yet
      other.fake.seedGroup('Raced'); // created elsewhere after that read
      await other.crm.applyTags(id, ['Raced']);
      expect(other.fake.subscriberState(id)!.groups).toEqual(['Raced']);
      expect(other.fake.groupNames()).toEqual(['Raced']);
    } finally {
      await other.fake.close();
    }
  });

  it('removeTags: unknown contact is a permanent 404; a group the contact is not in is fine', async () => {
    b.fake.seedGroup('Alpha');
    await expect(b.crm.removeTags('99999999999999999', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.applyTags('99999999999999999', ['Alpha'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    const id = b.fake.seedSubscriber({ email: 'notin@example.com' });
    await expect(b.crm.removeTags(id, ['Alpha'])).resolves.toBeUndefined();
  });

  it('a field key the account does not have is a permanent 422', async () => {
    const id = b.fake.seedSubscriber({ email: 'badfield@example.com' });
    const crm = mailerlite({ baseUrl: b.fake.url, apiKey: b.fake.apiToken, webhookSecret: SECRET, fieldMap: { shoe: 'shoe_size' }, limiter: new TokenBucket({ requests: 100, perMs: 1000 }), clock: systemClock, timeoutMs: 5000 });
    await expect(crm.updateContact(id, { shoe: '44' })).rejects.toMatchObject({ kind: 'permanent', status: 422, message: expect.stringContaining('shoe_size') });
  });

  it('a wrong token is a permanent 401, and the token never appears in the error', async () => {
    const wrong = await build({ apiKey: 'secret-wrong-token-123' });
    try {
      const error = await wrong.crm.listTags().catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: 'permanent', status: 401 });
      expect(String((error as Error).message)).not.toContain('secret-wrong-token-123');
    } finally {
      await wrong.fake.close();
    }
  });

  it('takes readAt from the clock before the first call', async () => {
    const clock = new ManualClock(5_000);
    const other = await build({ clock });
    try {
      const id = other.fake.seedSubscriber({ email: 'clock@example.com' });
      expect((await other.crm.loadContacts([id])).get(id)!.readAt).toBe(5_000);
    } finally {
      await other.fake.close();
    }
  });

  it('lists every group across pages of 100', async () => {
    const other = await build();
    try {
      for (let i = 0; i < 230; i++) other.fake.seedGroup(`G${i}`);
      other.fake.resetCounters();
      const tags = await other.crm.listTags();
      expect(tags).toHaveLength(230);
      expect(other.fake.routeCalls('GET /api/groups')).toBe(3);
    } finally {
      await other.fake.close();
    }
  });

  it('listFields: email plus the account fields by key', async () => {
    expect(await b.crm.listFields()).toEqual(expect.arrayContaining([{ id: 'email', name: 'Email' }, { id: 'name', name: 'Name' }, { id: 'z_i_p', name: 'ZIP' }]));
  });

  it("the fake's batch answer has the documented shape (batching docs example)", async () => {
    const documented = JSON.parse(fixture('batch-response.documented.json').toString('utf8'));
    const res = await fetch(`${b.fake.url}/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${b.fake.apiToken}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ requests: [{ method: 'GET', path: 'api/fields' }] }),
    });
    const answer = await res.json();
    expect(Object.keys(answer).sort()).toEqual(Object.keys(documented).sort());
    expect(answer).toMatchObject({ total: 1, successful: 1, failed: 0, responses: [{ code: 200, body: { data: expect.any(Array) } }] });
    expect(Object.keys(answer.responses[0].body.data[0]).sort()).toEqual(Object.keys(documented.responses[0].body.data[0]).sort());
  });
});

describe('mailerlite rate limit', () => {
  it('the fake answers 429 "Too Many Attempts." with Retry-After and X-RateLimit-* headers', async () => {
    const fake = await startFakeMailerLite({ rateLimitPerMinute: 2 });
    try {
      const responses = await Promise.all(Array.from({ length: 4 }, () => fetch(`${fake.url}/groups`, { headers: { authorization: `Bearer ${fake.apiToken}` } })));
      const limited = responses.filter((r) => r.status === 429);
      expect(limited.length).toBe(2);
      expect(limited[0]!.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(limited[0]!.headers.get('x-ratelimit-limit')).toBe('2');
      expect(limited[0]!.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(await limited[0]!.json()).toEqual({ message: 'Too Many Attempts.' });
      await Promise.all(responses.filter((r) => !r.bodyUsed).map((r) => r.body?.cancel()));
    } finally {
      await fake.close();
    }
  });

  it('the adapter waits out a 429 (Retry-After) and succeeds; past its waits it hands rate_limited to the queue', async () => {
    const b = await build();
    try {
      const id = b.fake.seedSubscriber({ email: 'limited@example.com', groups: ['L'] });
      b.fake.forceRateLimit(0, 2);
      expect((await b.crm.loadContacts([id])).get(id)?.tags).toEqual(['L']);
      expect(b.fake.rateLimited).toBe(2);
      b.fake.forceRateLimit(0, 3);
      await expect(b.crm.loadContacts([id])).rejects.toMatchObject({ kind: 'rate_limited', status: 429 });
    } finally {
      await b.fake.close();
    }
  });
});
