import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Crm, WebhookRequest } from '../../src/crm/types.js';

/**
 * The CRM conformance suite: what every adapter must do, run against its own fake server.
 *
 * The harness speaks local field names. The CRM under test must be configured with a field map
 * covering `fields` (default: `first_name`, `last_name`); seeding and reading go straight to the
 * fake's state, not through the adapter.
 */
export interface ConformanceHarness {
  crm: Crm;
  seedContact(c: { email: string; fields?: Record<string, string | null>; tags?: string[] }): Promise<string>;
  readContact(id: string): Promise<{ email: string; fields: Record<string, string | null>; tags: string[] } | null>;
  /** A webhook as the CRM would send it about this contact. */
  webhookFor(contactId: string): WebhookRequest;
  /**
   * Make the CRM answer the next call with 429 and a Retry-After. May return the Retry-After it
   * set, in ms (default assumed: 1000).
   */
  forceRateLimit(): Promise<number | void> | number | void;
  close(): Promise<void>;
  /** Local field names mapped in the CRM under test (default `['first_name', 'last_name']`). */
  fields?: string[];
  /** An id the CRM cannot know (default `'987654321'`). */
  unknownContactId?: string;
  /** How many 429s the fake server has answered so far; checked when provided. */
  rateLimitedCount?(): number;
}

export function describeCrmConformance(name: string, setup: () => Promise<ConformanceHarness>): void {
  describe(`CRM conformance: ${name}`, () => {
    let h: ConformanceHarness;
    let fieldA: string;
    let fieldB: string;
    let seq = 0;
    const email = (label: string) => `conf-${label}-${Date.now().toString(36)}-${++seq}@example.com`;

    beforeAll(async () => {
      h = await setup();
      const fields = h.fields ?? ['first_name', 'last_name'];
      if (fields.length < 2) throw new Error('conformance needs at least two mapped fields');
      [fieldA, fieldB] = fields as [string, string];
    });

    afterAll(async () => {
      await h?.close();
    });

    it('declares sane capabilities', () => {
      const { capabilities } = h.crm;
      expect(capabilities.maxBatchLoad).toBeGreaterThanOrEqual(1);
      expect(capabilities.rateLimit.requests).toBeGreaterThan(0);
      expect(capabilities.rateLimit.perMs).toBeGreaterThan(0);
      expect(typeof h.crm.name).toBe('string');
    });

    it('has the listing methods its capabilities declare, and lists a tag\'s contacts whole or as IDs to load', async () => {
      const listing = h.crm.capabilities.listing;
      expect(typeof h.crm.listContacts === 'function').toBe(listing?.contacts === true);
      expect(typeof h.crm.listChangedContacts === 'function').toBe(listing?.changedSince === true);
      if (!listing?.contacts) return; // nothing to list: import says so (tested in test/import.test.ts)
      expect(listing.pageSize).toBeGreaterThanOrEqual(1);
      const tag = `Listed${Date.now().toString(36)}${++seq}`;
      const tagged = [await h.seedContact({ email: email('listed-a'), fields: { [fieldA]: 'Lia' }, tags: [tag] }), await h.seedContact({ email: email('listed-b'), tags: [tag, 'Other'] })];
      const untagged = await h.seedContact({ email: email('unlisted'), tags: ['Other'] });
      const seen = new Map<string, { tags: string[]; fields: Record<string, string | null> }>();
      let cursor: string | null = null;
      for (let pages = 0; pages < 10_000; pages++) {
        const page = await h.crm.listContacts!({ ...(listing.byTag && { tag }), cursor, limit: 2 });
        for (const c of page.contacts) seen.set(c.contactId, c);
        for (const [id, c] of await h.crm.loadContacts(page.ids)) seen.set(id, c);
        if ((cursor = page.nextCursor) === null) break;
      }
      expect(cursor).toBeNull();
      expect(seen.get(tagged[0]!)).toMatchObject({ tags: [tag], fields: { [fieldA]: 'Lia' } });
      expect([...seen.get(tagged[1]!)!.tags].sort()).toEqual([tag, 'Other'].sort());
      if (listing.byTag) expect(seen.has(untagged)).toBe(false);
      else expect(seen.has(untagged)).toBe(true);
    });

    it('loads one contact with e-mail, mapped fields and tag names', async () => {
      const address = email('one');
      const id = await h.seedContact({ email: address, fields: { [fieldA]: 'Ada', [fieldB]: 'Lovelace' }, tags: ['Customer', 'VIP'] });
      const loaded = await h.crm.loadContacts([id]);
      const snapshot = loaded.get(id);
      expect(snapshot).toBeDefined();
      expect(snapshot!.contactId).toBe(id);
      expect(snapshot!.email?.toLowerCase()).toBe(address.toLowerCase());
      expect(snapshot!.fields[fieldA]).toBe('Ada');
      expect(snapshot!.fields[fieldB]).toBe('Lovelace');
      expect([...snapshot!.tags].sort()).toEqual(['Customer', 'VIP']);
      expect(typeof snapshot!.readAt).toBe('number');
    });

    it('reads empty fields as null', async () => {
      const id = await h.seedContact({ email: email('empty') });
      const snapshot = (await h.crm.loadContacts([id])).get(id)!;
      expect(snapshot.fields[fieldA] ?? null).toBeNull();
      expect(snapshot.tags).toEqual([]);
    });

    it('loads more contacts than one batch, in batches of maxBatchLoad; an unknown id is absent', async () => {
      const max = h.crm.capabilities.maxBatchLoad;
      const count = Math.min(max + 1, 1001); // seeding goes to the fake's state directly: cheap
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push(await h.seedContact({ email: email(`batch${i}`), fields: { [fieldA]: `n${i}` }, tags: [`batch-${i % 3}`] }));
      const unknown = h.unknownContactId ?? '987654321';
      const all = [...ids, unknown];
      const loaded = new Map<string, Awaited<ReturnType<Crm['loadContacts']>> extends Map<string, infer S> ? S : never>();
      for (let i = 0; i < all.length; i += max) {
        for (const [id, snapshot] of await h.crm.loadContacts(all.slice(i, i + max))) loaded.set(id, snapshot);
      }
      expect(loaded.has(unknown)).toBe(false);
      expect(loaded.size).toBe(count);
      ids.forEach((id, i) => {
        expect(loaded.get(id)!.fields[fieldA]).toBe(`n${i}`);
        expect(loaded.get(id)!.tags).toEqual([`batch-${i % 3}`]);
      });
    });

    it('loads nothing for only unknown ids', async () => {
      const loaded = await h.crm.loadContacts([h.unknownContactId ?? '987654321']);
      expect(loaded.size).toBe(0);
    });

    it('finds a contact by e-mail, or null', async () => {
      const address = email('find');
      const id = await h.seedContact({ email: address, fields: { [fieldA]: 'Grace' }, tags: ['Found'] });
      const found = await h.crm.findContactByEmail(address);
      expect(found?.contactId).toBe(id);
      expect(found?.fields[fieldA]).toBe('Grace');
      expect(found?.tags).toEqual(['Found']);
      expect(await h.crm.findContactByEmail(email('nobody'))).toBeNull();
    });

    it('upsert creates, then updates the same contact (no duplicate)', async () => {
      const address = email('upsert');
      const id = await h.crm.upsertContact({ email: address, fields: { [fieldA]: 'First' } });
      expect(id).toMatch(/\S/);
      const again = await h.crm.upsertContact({ email: address, fields: { [fieldA]: 'Second', [fieldB]: 'Added' } });
      expect(again).toBe(id);
      const stored = await h.readContact(id);
      expect(stored?.email.toLowerCase()).toBe(address.toLowerCase());
      expect(stored?.fields[fieldA]).toBe('Second');
      expect(stored?.fields[fieldB]).toBe('Added');
      expect((await h.crm.findContactByEmail(address))?.contactId).toBe(id);
    });

    it('updateContact sets the given fields and leaves the others', async () => {
      const id = await h.seedContact({ email: email('update'), fields: { [fieldA]: 'Keep', [fieldB]: 'Old' } });
      await h.crm.updateContact(id, { [fieldB]: 'New' });
      let stored = await h.readContact(id);
      expect(stored?.fields[fieldA]).toBe('Keep');
      expect(stored?.fields[fieldB]).toBe('New');
      await h.crm.updateContact(id, { [fieldB]: null });
      stored = await h.readContact(id);
      expect(stored?.fields[fieldB] ?? null).toBeNull();
      expect(stored?.fields[fieldA]).toBe('Keep');
    });

    it('updateContact of an unknown contact is a permanent error', async () => {
      await expect(h.crm.updateContact(h.unknownContactId ?? '987654321', { [fieldA]: 'x' })).rejects.toMatchObject({ kind: 'permanent' });
    });

    it('applyTags adds only the given tags (creating new ones), idempotently', async () => {
      const id = await h.seedContact({ email: email('apply'), tags: ['Existing'] });
      const fresh = `Fresh ${Date.now().toString(36)}`;
      await h.crm.applyTags(id, ['Customer', fresh]);
      expect((await h.readContact(id))!.tags.sort()).toEqual(['Customer', 'Existing', fresh].sort());
      await h.crm.applyTags(id, ['Customer', fresh]);
      expect((await h.readContact(id))!.tags.sort()).toEqual(['Customer', 'Existing', fresh].sort());
      expect(await h.crm.listTags()).toEqual(expect.arrayContaining(['Customer', 'Existing', fresh]));
    });

    it('removeTags removes only the given tags, idempotently; unknown tags are fine', async () => {
      const id = await h.seedContact({ email: email('remove'), tags: ['Keep me', 'Drop me', 'Drop too'] });
      await h.crm.removeTags(id, ['Drop me', 'Drop too']);
      expect((await h.readContact(id))!.tags).toEqual(['Keep me']);
      await h.crm.removeTags(id, ['Drop me', `Never existed ${Date.now()}`]);
      expect((await h.readContact(id))!.tags).toEqual(['Keep me']);
    });

    it('a tag added in the CRM after the adapter cached its tags is still named on load', async () => {
      const id = await h.seedContact({ email: email('late'), tags: ['Early'] });
      await h.crm.loadContacts([id]);
      const late = `Late ${Date.now().toString(36)}`;
      const other = await h.seedContact({ email: email('late2'), tags: [late] });
      const loaded = await h.crm.loadContacts([id, other]);
      expect(loaded.get(other)!.tags).toEqual([late]);
    });

    it('lists tags and fields', async () => {
      await h.seedContact({ email: email('lists'), tags: ['Listed'] });
      expect(await h.crm.listTags()).toEqual(expect.arrayContaining(['Listed']));
      const fields = await h.crm.listFields();
      expect(fields.length).toBeGreaterThan(0);
      for (const f of fields) {
        expect(typeof f.id).toBe('string');
        expect(typeof f.name).toBe('string');
      }
    });

    it('absorbs a 429: the shared limiter pauses for Retry-After, then the calls succeed', async () => {
      const id = await h.seedContact({ email: email('ratelimit'), tags: ['Limited'] });
      await h.crm.loadContacts([id]); // warm caches: the next load is one call
      const before = h.rateLimitedCount?.();
      const retryAfter = (await h.forceRateLimit()) ?? 1000;
      const started = Date.now();
      // The first call meets the 429 and pauses the limiter; the second, issued meanwhile,
      // waits for the same pause instead of spending the CRM's patience.
      const [first, second] = await Promise.all([h.crm.loadContacts([id]), h.crm.loadContacts([id])]);
      const elapsed = Date.now() - started;
      expect(first.get(id)?.tags).toEqual(['Limited']);
      expect(second.get(id)?.tags).toEqual(['Limited']);
      expect(elapsed).toBeGreaterThanOrEqual(retryAfter * 0.9);
      if (before !== undefined) expect(h.rateLimitedCount!()).toBe(before + 1);
    });

    it('verifies and parses its webhook into the contact reference', async () => {
      const id = await h.seedContact({ email: email('webhook') });
      const request = h.webhookFor(id);
      expect(() => h.crm.verifyWebhook(request)).not.toThrow();
      expect(h.crm.parseWebhook(request).contactIds).toEqual([id]);
    });
  });
}
