import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { FakeMailchimp, startFakeMailchimp } from '../../../test/fakes/mailchimp.js';
import { ManualClock, systemClock, type Clock } from '../../clock.js';
import { CrmError, CrmWebhookError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, FieldMap, WebhookRequest } from '../types.js';
import { mailchimpTarget } from './client.js';
import { capabilities, defaultFieldMap, mailchimp } from './index.js';
import { subscriberHash, toMergeFields, toSnapshot, resolveFieldMap } from './mappers.js';
import type { McMember, McMemberTagList } from './types.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const URL_PATH = '/?wpf_action=update&access_key=KEY';

/** What ingress hands the adapter for a form body: the flat map of keys exactly as sent. */
function formRequest(body: string | Buffer, headers: Record<string, string> = {}): WebhookRequest {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) {
    const prev = fields[key];
    fields[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { method: 'POST', url: URL_PATH, publicUrl: `https://sync.example.com${URL_PATH}`, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: raw, fields };
}

const validationGet: WebhookRequest = { method: 'GET', url: URL_PATH, publicUrl: `https://sync.example.com${URL_PATH}`, headers: { 'user-agent': 'MailChimp.com WebHook Validator' }, body: Buffer.alloc(0), fields: {} };

const FIELD_MAP: FieldMap = { ...defaultFieldMap, company: 'COMPANY', plan: '*|plan|*' };

interface Built {
  fake: FakeMailchimp;
  crm: Crm;
}

async function build(opts: { limiterRate?: number; clock?: Clock; secret?: string | null; memberTagsShown?: number; url?: (fake: FakeMailchimp) => string; now?: () => number } = {}): Promise<Built> {
  const fake = await startFakeMailchimp({ memberTagsShown: opts.memberTagsShown, now: opts.now });
  fake.seedMergeField('COMPANY', 'Company');
  fake.seedMergeField('PLAN', 'Plan');
  const crm = mailchimp({
    baseUrl: opts.url ? opts.url(fake) : fake.url,
    apiKey: fake.apiKey,
    webhookSecret: opts.secret ?? null,
    fieldMap: FIELD_MAP,
    limiter: new TokenBucket({ requests: opts.limiterRate ?? 200, perMs: 1000 }),
    clock: opts.clock ?? systemClock,
    timeoutMs: 5000,
  });
  return { fake, crm };
}

// ---- the shared suite, against the fake (limiter raised so the suite runs in seconds) ----

describeCrmConformance('mailchimp', async () => {
  const { fake, crm } = await build();
  const tags: Record<string, string> = { first_name: 'FNAME', last_name: 'LNAME', company: 'COMPANY', plan: 'PLAN' };
  return {
    crm,
    fields: ['first_name', 'company', 'last_name', 'plan'],
    unknownContactId: subscriberHash('nobody-at-all@example.com'),
    rateLimitedCount: () => fake.rateLimited,
    async seedContact(c) {
      const merge: Record<string, string> = {};
      for (const [local, value] of Object.entries(c.fields ?? {})) {
        if (!tags[local]) throw new Error(`unmapped field ${local}`);
        merge[tags[local]] = value ?? '';
      }
      return fake.seedMember({ email: c.email, merge, tags: c.tags });
    },
    async readContact(id) {
      const m = fake.member(id);
      if (!m) return null;
      const fields: Record<string, string | null> = {};
      for (const [local, tag] of Object.entries(tags)) fields[local] = m.merge[tag] || null;
      return { email: m.email, fields, tags: m.tags.map((t) => t.name) };
    },
    webhookFor: (contactId) => {
      const m = fake.member(contactId)!;
      const body = new URLSearchParams({ type: 'profile', fired_at: '2026-01-01 10:00:00', 'data[id]': m.uniqueEmailId, 'data[list_id]': fake.listId, 'data[email]': m.email, 'data[merges][EMAIL]': m.email });
      return formRequest(body.toString());
    },
    forceRateLimit: () => {
      fake.forceRateLimit(1);
      return 1000; // no Retry-After from Mailchimp: CrmHttp waits its default second
    },
    close: () => fake.close(),
  };
});

// ---- adapter-specific: documented payloads ----

describe('mailchimp webhooks (documented payloads)', () => {
  const crm = mailchimp({
    baseUrl: 'https://us6.api.mailchimp.com/3.0/lists/a6b5da1054',
    apiKey: 'key-us6',
    webhookSecret: null,
    fieldMap: defaultFieldMap,
    limiter: new TokenBucket({ requests: 10, perMs: 1000 }),
    clock: systemClock,
    timeoutMs: 1000,
  });

  it('subscribe → the subscriber hash of data[email] (not data[id], the unique_email_id)', () => {
    const request = formRequest(fixture('webhook-subscribe.form'));
    expect(request.fields['data[id]']).toBe('8a25ff1d98');
    expect(() => crm.verifyWebhook(request)).not.toThrow();
    expect(crm.parseWebhook(request)).toEqual({ contactIds: [subscriberHash('api@mailchimp.com')] });
  });

  it('unsubscribe, profile and cleaned → the member hash', () => {
    expect(crm.parseWebhook(formRequest(fixture('webhook-unsubscribe.form'))).contactIds).toEqual([subscriberHash('api+unsub@mailchimp.com')]);
    expect(crm.parseWebhook(formRequest(fixture('webhook-profile.form'))).contactIds).toEqual([subscriberHash('api@mailchimp.com')]);
    expect(crm.parseWebhook(formRequest(fixture('webhook-cleaned.form'))).contactIds).toEqual([subscriberHash('api+cleaned@mailchimp.com')]);
  });

  it('upemail → the hash of the new address', () => {
    const parsed = crm.parseWebhook(formRequest(fixture('webhook-upemail.form')));
    expect(parsed.contactIds).toEqual(['18ce4518f4c354bdf763b3ff18584bc9']);
    expect(parsed.contactIds).toEqual([subscriberHash('api+new@mailchimp.com')]);
  });

  it('campaign → ignored', () => {
    expect(crm.parseWebhook(formRequest(fixture('webhook-campaign.form')))).toEqual({ contactIds: [], ignored: 'campaign is not a contact change' });
  });

  it('the validator GET (no payload) → handshake 200, never a signature check', () => {
    expect(crm.parseWebhook(validationGet)).toEqual({ contactIds: [], handshake: { status: 200 } });
    const signing = mailchimp({ baseUrl: 'https://us6.api.mailchimp.com/3.0/lists/a6b5da1054', apiKey: 'k-us6', webhookSecret: 'whsec', fieldMap: {}, limiter: new TokenBucket({ requests: 10, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
    expect(() => signing.verifyWebhook(validationGet)).not.toThrow();
  });

  it('an event of another audience is ignored', () => {
    const other = mailchimp({ baseUrl: 'https://us6.api.mailchimp.com/3.0/lists/ffffffffff', apiKey: 'k-us6', webhookSecret: null, fieldMap: {}, limiter: new TokenBucket({ requests: 10, perMs: 1000 }), clock: systemClock, timeoutMs: 1000 });
    expect(other.parseWebhook(formRequest(fixture('webhook-subscribe.form')))).toMatchObject({ contactIds: [], ignored: expect.stringMatching(/a6b5da1054.*ffffffffff/) });
  });

  it('the guide\'s parsed-JSON form (a relay re-encoding it) and a raw body ingress did not parse', () => {
    const parsed = JSON.parse(fixture('webhook-unsubscribe.parsed.json').toString('utf8'));
    const json: WebhookRequest = { method: 'POST', url: URL_PATH, publicUrl: URL_PATH, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(parsed)), fields: parsed };
    expect(crm.parseWebhook(json).contactIds).toEqual([subscriberHash('api+unsub@mailchimp.com')]);
    const raw: WebhookRequest = { ...formRequest(fixture('webhook-subscribe.form')), fields: {} };
    expect(crm.parseWebhook(raw).contactIds).toEqual([subscriberHash('api@mailchimp.com')]);
    expect(() => crm.parseWebhook({ ...raw, body: Buffer.from('{"type": ') })).toThrow(CrmWebhookError);
  });
});

describe('mailchimp optional signatures (X-Mailchimp-Signature)', () => {
  const SECRET = 'mc-test-signing-secret';
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
  const crm = mailchimp({ baseUrl: 'https://us6.api.mailchimp.com/3.0/lists/a6b5da1054', apiKey: 'k-us6', webhookSecret: SECRET, fieldMap: {}, limiter: new TokenBucket({ requests: 10, perMs: 1000 }), clock, timeoutMs: 1000 });
  const body = fixture('webhook-subscribe.form');
  const sign = (raw: Buffer, t: number, secret = SECRET) => `t=${t},v1=${createHmac('sha256', secret).update(`${t}.`).update(raw).digest('hex')}`;
  const now = () => Math.floor(clock.now() / 1000);

  it('a valid signature passes', () => {
    expect(() => crm.verifyWebhook(formRequest(body, { 'x-mailchimp-signature': sign(body, now()) }))).not.toThrow();
    expect(() => crm.verifyWebhook(formRequest(body, { 'x-mailchimp-signature': sign(body, now() - 299) }))).not.toThrow();
  });

  it('tampered body, wrong secret, stale timestamp, missing or malformed header → invalid_signature', () => {
    const tampered = Buffer.from(body.toString('utf8').replace('api%40mailchimp.com', 'evil%40example.com'));
    const cases: Record<string, WebhookRequest> = {
      tampered: formRequest(tampered, { 'x-mailchimp-signature': sign(body, now()) }),
      wrongSecret: formRequest(body, { 'x-mailchimp-signature': sign(body, now(), 'other-secret') }),
      stale: formRequest(body, { 'x-mailchimp-signature': sign(body, now() - 301) }),
      future: formRequest(body, { 'x-mailchimp-signature': sign(body, now() + 301) }),
      missing: formRequest(body),
      malformed: formRequest(body, { 'x-mailchimp-signature': 'v1=abc' }),
      notHex: formRequest(body, { 'x-mailchimp-signature': `t=${now()},v1=zz` }),
    };
    for (const [name, request] of Object.entries(cases)) {
      let error: unknown;
      try {
        crm.verifyWebhook(request);
      } catch (e) {
        error = e;
      }
      expect(error, name).toBeInstanceOf(CrmWebhookError);
      expect((error as CrmWebhookError).code, name).toBe('invalid_signature');
    }
  });

  it('without a configured secret, nothing is checked (the access key is the guard)', () => {
    const unsigned = mailchimp({ baseUrl: 'https://us6.api.mailchimp.com/3.0/lists/a6b5da1054', apiKey: 'k-us6', webhookSecret: null, fieldMap: {}, limiter: new TokenBucket({ requests: 10, perMs: 1000 }), clock, timeoutMs: 1000 });
    expect(() => unsigned.verifyWebhook(formRequest(body))).not.toThrow();
  });
});

describe('mailchimp mappers and URL (documented payloads)', () => {
  it('contact-get.json (a recorded member) → snapshot; its id is the MD5 of the lower-cased e-mail', () => {
    const member = JSON.parse(fixture('contact-get.json').toString('utf8')) as McMember;
    expect(subscriberHash(member.email_address)).toBe(member.id);
    expect(subscriberHash('  Test3039@GROUPAROO.com ')).toBe(member.id);
    const map = resolveFieldMap({ ...defaultFieldMap, user_id: 'USERID' });
    expect(toSnapshot(member, member.tags!, map, 7)).toEqual({
      contactId: '4e933e008c49baadf05a858fdf201db3',
      email: 'test3039@grouparoo.com',
      tags: ['mailchimp people'],
      fields: { first_name: 'Luigi', last_name: 'Plumber', phone: null, user_id: '100' },
      readAt: 7,
    });
  });

  it('member-tags-get.json → tag names', () => {
    const list = JSON.parse(fixture('member-tags-get.json').toString('utf8')) as McMemberTagList;
    const snapshot = toSnapshot({ id: 'x', email_address: 'a@b.c' }, list.tags, new Map(), 1);
    expect(snapshot.tags).toEqual(['Influencer', 'Tech']);
  });

  it('merge fields: null clears, unmapped is refused, *|TAG|* accepted', () => {
    const map = resolveFieldMap({ first_name: '*|fname|*', phone: 'PHONE' });
    expect(toMergeFields({ first_name: 'A', phone: null }, map)).toEqual({ FNAME: 'A', PHONE: '' });
    expect(() => toMergeFields({ nope: 'x' }, map)).toThrow(/no Mailchimp merge field is mapped for: nope/);
  });

  it('the audience URL: data center from the host or from the key; status_if_new option', () => {
    expect(mailchimpTarget('https://us6.api.mailchimp.com/3.0/lists/abc123', 'k-us6')).toEqual({ listBase: 'https://us6.api.mailchimp.com/3.0/lists/abc123/', listId: 'abc123', statusIfNew: 'subscribed' });
    expect(mailchimpTarget('https://api.mailchimp.com/3.0/lists/abc123/?status_if_new=pending', '0123-us21').listBase).toBe('https://us21.api.mailchimp.com/3.0/lists/abc123/');
    expect(mailchimpTarget('https://us6.api.mailchimp.com/3.0/lists/abc123?status_if_new=pending', 'k').statusIfNew).toBe('pending');
    expect(() => mailchimpTarget('https://us6.api.mailchimp.com/3.0', 'k-us6')).toThrow(/must name the audience/);
    expect(() => mailchimpTarget('https://api.mailchimp.com/3.0/lists/x', 'nodc')).toThrow(/data center/);
    expect(() => mailchimpTarget('https://us6.api.mailchimp.com/3.0/lists/x?status_if_new=maybe', 'k')).toThrow(/status_if_new/);
  });
});

// ---- adapter-specific: calls, limits, errors against the fake ----

describe('mailchimp adapter against the fake', () => {
  let b: Built;
  beforeAll(async () => {
    b = await build();
  });
  afterAll(async () => {
    await b.fake.close();
  });

  it('capabilities are as decided', () => {
    expect(b.crm.capabilities).toEqual({ maxBatchLoad: 1, signsWebhooks: false, tagsById: false, rateLimit: { requests: 10, perMs: 1000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 1000 } });
    expect(capabilities).toBe(b.crm.capabilities);
  });

  it('a load is one GET of the member; tags come with it', async () => {
    const id = b.fake.seedMember({ email: 'one-call@example.com', merge: { FNAME: 'One' }, tags: ['A', 'B'] });
    b.fake.resetCounters();
    const loaded = await b.crm.loadContacts([id, id.toUpperCase(), 'not-a-hash']);
    expect(b.fake.calls).toBe(1);
    expect(b.fake.routeCalls('GET /3.0/lists/:list/members/:hash')).toBe(1);
    expect(loaded.get(id)).toMatchObject({ email: 'one-call@example.com', tags: ['A', 'B'], fields: { first_name: 'One', last_name: null } });
  });

  it('tags past what the member GET lists come from /tags', async () => {
    const other = await build({ memberTagsShown: 2 });
    try {
      const id = other.fake.seedMember({ email: 'many-tags@example.com', tags: ['T1', 'T2', 'T3'] });
      other.fake.resetCounters();
      expect((await other.crm.loadContacts([id])).get(id)!.tags).toEqual(['T1', 'T2', 'T3']);
      expect(other.fake.routeCalls('GET /3.0/lists/:list/members/:hash/tags')).toBe(1);
    } finally {
      await other.fake.close();
    }
  });

  it('upsert is one PUT with status_if_new; tags are one POST per delta with active/inactive', async () => {
    b.fake.resetCounters();
    const id = await b.crm.upsertContact({ email: 'New.Person@Example.com', fields: { first_name: 'New', company: 'ACME' } });
    expect(id).toBe(subscriberHash('new.person@example.com'));
    expect(b.fake.calls).toBe(1);
    expect(b.fake.member(id)).toMatchObject({ status: 'subscribed', merge: { FNAME: 'New', COMPANY: 'ACME' } });
    await b.crm.applyTags(id, ['X', 'x', ' Y ']);
    await b.crm.removeTags(id, ['X']);
    expect(b.fake.tagRequests).toEqual([{ tags: [{ name: 'X', status: 'active' }, { name: 'Y', status: 'active' }] }, { tags: [{ name: 'X', status: 'inactive' }] }]);
    expect(b.fake.member(id)!.tags.map((t) => t.name)).toEqual(['Y']);
  });

  it('status_if_new=pending in the URL creates pending members (double opt-in)', async () => {
    const other = await build({ url: (fake) => `${fake.url}?status_if_new=pending` });
    try {
      const id = await other.crm.upsertContact({ email: 'optin@example.com', fields: {} });
      expect(other.fake.member(id)!.status).toBe('pending');
    } finally {
      await other.fake.close();
    }
  });

  it('unknown members: load absent, update/tags permanent 404', async () => {
    const unknown = subscriberHash('ghost@example.com');
    expect((await b.crm.loadContacts([unknown])).size).toBe(0);
    expect(await b.crm.findContactByEmail('ghost@example.com')).toBeNull();
    await expect(b.crm.applyTags(unknown, ['A'])).rejects.toMatchObject({ kind: 'permanent', status: 404 });
    await expect(b.crm.updateContact('nonsense', { first_name: 'x' })).rejects.toMatchObject({ kind: 'permanent' });
  });

  it('lists the audience merge fields (EMAIL first) and tags (static segments)', async () => {
    const fields = await b.crm.listFields();
    expect(fields[0]).toEqual({ id: 'EMAIL', name: 'Email address' });
    expect(fields).toEqual(expect.arrayContaining([{ id: 'FNAME', name: 'First Name' }, { id: 'COMPANY', name: 'Company' }]));
  });

  it('a wrong API key is a permanent 401; a wrong audience on upsert is permanent', async () => {
    const bad = mailchimp({ baseUrl: b.fake.url, apiKey: 'wrong-us6', webhookSecret: null, fieldMap: FIELD_MAP, limiter: new TokenBucket({ requests: 100, perMs: 1000 }), clock: systemClock, timeoutMs: 2000 });
    await expect(bad.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
    const noList = mailchimp({ baseUrl: `${b.fake.apiRoot}/lists/nope`, apiKey: b.fake.apiKey, webhookSecret: null, fieldMap: FIELD_MAP, limiter: new TokenBucket({ requests: 100, perMs: 1000 }), clock: systemClock, timeoutMs: 2000 });
    await expect(noList.upsertContact({ email: 'a@example.com', fields: {} })).rejects.toMatchObject({ kind: 'permanent' });
  });

  it('more than 10 simultaneous connections → 429, absorbed by pausing the limiter', async () => {
    b.fake.setLatency(50);
    b.fake.setMaxConnections(3);
    try {
      const ids = Array.from({ length: 6 }, (_, i) => b.fake.seedMember({ email: `burst${i}@example.com` }));
      b.fake.resetCounters();
      const results = await Promise.all(ids.map((id) => b.crm.loadContacts([id])));
      expect(results.every((r) => r.size === 1)).toBe(true);
      expect(b.fake.rateLimited).toBeGreaterThan(0);
    } finally {
      b.fake.setLatency(0);
      b.fake.setMaxConnections(10);
    }
  });

  it('5xx is transient', async () => {
    b.fake.failNext(503);
    await expect(b.crm.listTags()).rejects.toBeInstanceOf(CrmError);
    b.fake.failNext(503);
    await expect(b.crm.listTags()).rejects.toMatchObject({ kind: 'transient' });
  });
});

describe('mailchimp listing (import and sweep)', () => {
  it('lists whole members (merge fields and tags) in offset pages, one call per page; a tag is filtered from the pages', async () => {
    const b = await build({ memberTagsShown: 2 });
    try {
      const ids = [1, 2, 3].map((i) => b.fake.seedMember({ email: `ml${i}@example.com`, merge: { FNAME: `M${i}` }, tags: i === 3 ? ['Gold', 'A', 'B'] : ['Silver'] }));
      b.fake.resetCounters();
      const first = await b.crm.listContacts!({ cursor: null, limit: 2 });
      expect(b.fake.calls).toBe(1);
      expect(first).toMatchObject({ ids: [], nextCursor: '2', total: 3 });
      expect(first.contacts.map((c) => [c.contactId, c.email, c.tags, c.fields.first_name])).toEqual([
        [ids[0], 'ml1@example.com', ['Silver'], 'M1'],
        [ids[1], 'ml2@example.com', ['Silver'], 'M2'],
      ]);
      // The third member's tags were cut short by the page (tags_count 3, 2 shown): its tags endpoint completes them.
      const last = await b.crm.listContacts!({ cursor: '2', limit: 2 });
      expect(last.contacts.map((c) => [c.contactId, [...c.tags].sort()])).toEqual([[ids[2], ['A', 'B', 'Gold']]]);
      expect(b.fake.routeCalls('GET /3.0/lists/:list/members/:hash/tags')).toBe(1);
      expect(last.nextCursor).toBeNull();
      const gold = await b.crm.listContacts!({ tag: 'gold', cursor: null, limit: 100 });
      expect(gold.contacts.map((c) => c.contactId)).toEqual([ids[2]]);
    } finally {
      await b.fake.close();
    }
  });

  it('lists members changed since a time (since_last_changed), rounded down to the second', async () => {
    let now = Date.UTC(2026, 10, 28, 12);
    const b = await build({ now: () => now });
    try {
      const [a, c] = [1, 2].map((i) => b.fake.seedMember({ email: `mc${i}@example.com` }));
      now += 60_000;
      const since = now;
      b.fake.tagMember(c!, 'late');
      const changed = await b.crm.listChangedContacts!({ since: since + 400, cursor: null, limit: 100 });
      expect(changed.contacts.map((x) => [x.contactId, x.tags])).toEqual([[c, ['late']]]);
      expect(changed.contacts.map((x) => x.contactId)).not.toContain(a);
      expect((await b.crm.listChangedContacts!({ since: since + 1000, cursor: null, limit: 100 })).contacts).toEqual([]);
    } finally {
      await b.fake.close();
    }
  });
});
