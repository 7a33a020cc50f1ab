import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../clock.js';
import { startSandbox, type Sandbox } from '../../sandbox/index.js';
import { CrmError } from '../errors.js';
import { TokenBucket } from '../rate-limiter.js';
import type { Crm, CrmOptions } from '../types.js';
import { sandbox } from './index.js';

let sb: Sandbox;
afterEach(() => sb?.close());

function adapter(overrides: Partial<CrmOptions> = {}): Crm {
  return sandbox({
    baseUrl: sb.url,
    apiKey: sb.apiKey,
    webhookSecret: null,
    fieldMap: { nickname: 'nick_name' },
    limiter: new TokenBucket({ requests: 1000, perMs: 1000 }),
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    timeoutMs: 5000,
    ...overrides,
  });
}

describe('sandbox adapter', () => {
  it('declares its capabilities', async () => {
    sb = await startSandbox({ port: 0 });
    expect(adapter().capabilities).toEqual({ maxBatchLoad: 100, signsWebhooks: false, tagsById: false, rateLimit: { requests: 5, perMs: 1000 }, listing: { contacts: true, byTag: true, changedSince: true, pageSize: 100 } });
  });

  it('lists contacts page by page (by tag too) and those changed since a time, stamped by the sandbox clock', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    sb = await startSandbox({ port: 0, rateLimit: 0, seed: false, now: () => clock.now() });
    for (let i = 1; i <= 5; i++) sb.state.createContact({ email: `p${i}@example.com`, fields: { nick_name: `n${i}` }, tags: i % 2 ? ['odd'] : [] }, 'seed');
    const crm = adapter({ clock });
    const first = await crm.listContacts!({ cursor: null, limit: 2 });
    expect(first).toMatchObject({ ids: [], nextCursor: '2', total: 5 });
    expect(first.contacts.map((c) => [c.contactId, c.fields.nickname])).toEqual([['1', 'n1'], ['2', 'n2']]);
    const last = await crm.listContacts!({ cursor: '4', limit: 2 });
    expect(last.contacts.map((c) => c.contactId)).toEqual(['5']);
    expect(last.nextCursor).toBeNull();
    expect((await crm.listContacts!({ tag: 'odd', cursor: null, limit: 100 })).contacts.map((c) => c.contactId)).toEqual(['1', '3', '5']);

    clock.advance(60_000);
    const t = clock.now();
    sb.state.editAsUser('4', { applyTags: ['late'] });
    const changed = await crm.listChangedContacts!({ since: t, cursor: null, limit: 100 });
    expect(changed.contacts.map((c) => [c.contactId, c.tags])).toEqual([['4', ['late']]]);
    expect((await crm.listChangedContacts!({ since: t + 1, cursor: null, limit: 100 })).contacts).toEqual([]);
  });

  it('upserts, finds, updates, applies and removes tags, with mapped fields', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0 });
    const clock = new ManualClock(1_000);
    const crm = adapter({ clock });
    const id = await crm.upsertContact({ email: 'new@example.com', fields: { first_name: 'New', nickname: 'Newt', unmapped: 'x' } });
    expect(sb.state.get(id)!.fields).toEqual({ first_name: 'New', last_name: null, phone: null, nick_name: 'Newt' });
    expect(await crm.upsertContact({ email: 'NEW@example.com', fields: { last_name: 'Person' } })).toBe(id);

    await crm.updateContact(id, { phone: '555', nickname: null });
    await crm.applyTags(id, ['b', 'a']);
    await crm.applyTags(id, ['a']);
    await crm.removeTags(id, ['b', 'never']);
    expect(sb.state.get(id)).toMatchObject({ tags: ['a'], fields: { phone: '555', nick_name: null } });

    clock.set(2_000);
    expect(await crm.findContactByEmail('new@example.com')).toEqual({
      contactId: id,
      email: 'new@example.com',
      tags: ['a'],
      fields: { first_name: 'New', last_name: 'Person', phone: '555', nickname: null },
      readAt: 2_000,
    });
    expect(await crm.findContactByEmail('nobody@example.com')).toBeNull();
    expect(await crm.listTags()).toContain('a');
    expect(await crm.listFields()).toContainEqual({ id: 'nick_name', name: 'Nick name' });
  });

  it('loads in chunks of 100; unknown ids are absent; readAt is the clock when the read started', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0, seed: false });
    const ids = Array.from({ length: 150 }, (_, i) => sb.state.createContact({ email: `c${i}@example.com`, tags: ['t'] }, 'seed').id);
    const crm = adapter({ clock: new ManualClock(42) });
    const loaded = await crm.loadContacts([...ids, '99999', ids[0]!]);
    expect(loaded.size).toBe(150);
    expect(loaded.has('99999')).toBe(false);
    expect(loaded.get(ids[149]!)).toMatchObject({ contactId: ids[149], email: 'c149@example.com', tags: ['t'], readAt: 42 });
    expect(sb.stats().calls).toBe(2);
  });

  it('serves what a stale read returns (the race test bed)', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0 });
    sb.state.editAsUser('1', { applyTags: ['late'] });
    sb.state.serveStale('1', { reads: 1 });
    const crm = adapter();
    expect((await crm.loadContacts(['1'])).get('1')!.tags).not.toContain('late');
    expect((await crm.loadContacts(['1'])).get('1')!.tags).toContain('late');
  });

  it('absorbs a 429: the limiter pauses for Retry-After and the call succeeds', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 1 });
    const outcomes: { status: number; rateLimited: boolean }[] = [];
    const crm = adapter({ limiter: new TokenBucket({ requests: 50, perMs: 1000 }), onCall: (o) => outcomes.push(o) });
    // Start early in an epoch second, so both calls (20 ms apart) fall in the same window.
    while (Date.now() % 1000 > 700) await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
    const results = await Promise.all([crm.listTags(), crm.listTags()]);
    expect(results.every((tags) => tags.includes('customer'))).toBe(true);
    const stats = sb.stats();
    expect(stats.rateLimited).toBe(1);
    expect(stats.maxPerSecond).toBe(1);
    expect(outcomes.filter((o) => o.rateLimited)).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(2);
  });

  it('turns refusals into permanent CrmErrors: unknown contact, wrong key', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0 });
    await expect(adapter().updateContact('999', { first_name: 'x' })).rejects.toMatchObject({ name: 'CrmError', kind: 'permanent', status: 404 });
    await expect(adapter().applyTags('999', ['x'])).rejects.toBeInstanceOf(CrmError);
    const wrong = adapter({ apiKey: 'wrong' });
    await expect(wrong.listTags()).rejects.toMatchObject({ kind: 'permanent', status: 401 });
  });

  it('makes no call for an empty change', async () => {
    sb = await startSandbox({ port: 0, rateLimit: 0 });
    const crm = adapter();
    await crm.applyTags('1', []);
    await crm.removeTags('1', []);
    await crm.updateContact('1', { unmapped: 'x' });
    expect(await crm.loadContacts([])).toEqual(new Map());
    expect(sb.stats().calls).toBe(0);
  });
});
