import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { DripClient } from './client.js';
import { hasChanges, resolveFieldMap, STANDARD_KEYS, tagKey, toDripWrite, toSnapshot, uniqueNames, type ResolvedFieldMap } from './mappers.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: 1. Drip has no documented read of several subscribers by id (the list endpoint
 *   filters by status, tags and dates only; the Batch API writes, it does not read).
 * - rateLimit: "3,600 individual requests per hour for other API endpoints" (developer.drip.com/#rate-limiting).
 * - tagsById: false — tags are plain names, applied and removed by name.
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 1,
  signsWebhooks: false,
  tagsById: false,
  rateLimit: Object.freeze({ requests: 3600, perMs: 3_600_000 }),
  // "List all subscribers" (status=all, tags, page/per_page ≤ 1000) gives whole subscribers. It
  // filters by subscription date, not by modification: no sweep for Drip.
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: false, pageSize: 1000 }),
});

/** Local field → Drip subscriber property (first-class properties since the 2019 subscriber model). */
export const defaultFieldMap: FieldMap = { first_name: 'first_name', last_name: 'last_name', phone: 'phone' };

const STANDARD_NAMES: Record<string, string> = {
  first_name: 'First name',
  last_name: 'Last name',
  phone: 'Phone',
  address1: 'Address line 1',
  address2: 'Address line 2',
  city: 'City',
  state: 'State',
  zip: 'Zip',
  country: 'Country',
  sms_number: 'SMS number',
  time_zone: 'Time zone',
  user_id: 'User ID',
};

const SUBSCRIBER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const drip: CrmFactory = (options) => new DripCrm(options);

class DripCrm implements Crm {
  readonly name = 'drip';
  readonly capabilities = capabilities;
  private readonly client: DripClient;
  private readonly fieldMap: ResolvedFieldMap;

  constructor(private readonly options: CrmOptions) {
    this.client = new DripClient(options);
    this.fieldMap = resolveFieldMap(options.fieldMap);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  /** One `GET /subscribers/:id` per contact: tags and custom fields come inline. */
  async loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const result = new Map<string, ContactSnapshot>();
    // An id that looks like an e-mail would be looked up as one by Drip: only real ids are asked for.
    for (const id of [...new Set(ids)].filter((id) => SUBSCRIBER_ID.test(id))) {
      const subscriber = await this.client.getSubscriber(id);
      if (subscriber && String(subscriber.id) === id) result.set(id, toSnapshot(subscriber, this.fieldMap, readAt));
    }
    return result;
  }

  async listContacts({ tag, cursor, limit }: ContactListQuery): Promise<ContactPage> {
    const readAt = this.options.clock.now();
    const page = cursor === null ? 1 : Number(cursor);
    const list = await this.client.listSubscribersPage(page, limit, tag?.trim());
    const totalPages = list.meta?.total_pages ?? page;
    return {
      contacts: (list.subscribers ?? []).map((s) => toSnapshot(s, this.fieldMap, readAt)),
      ids: [],
      nextCursor: page < totalPages && (list.subscribers ?? []).length > 0 ? String(page + 1) : null,
      ...(list.meta?.total_count !== undefined && { total: list.meta.total_count }),
    };
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const wanted = email.trim();
    if (!wanted.includes('@')) return null;
    const subscriber = await this.client.getSubscriber(wanted);
    if (!subscriber || subscriber.email?.toLowerCase() !== wanted.toLowerCase()) return null;
    return toSnapshot(subscriber, this.fieldMap, readAt);
  }

  /** `POST /subscribers` keyed by e-mail: Drip creates the subscriber or updates the one with that address. */
  async upsertContact(draft: ContactDraft): Promise<string> {
    const write = toDripWrite(draft.fields, this.fieldMap);
    const written = await this.client.createOrUpdate({ ...write, email: draft.email.trim() });
    if (!written) throw new CrmError('permanent', `Drip refused to create ${draft.email} (404)`, 404);
    return String(written.id);
  }

  /** `POST /subscribers` keyed by id: only the given fields are sent, so the others stay. */
  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    const write = toDripWrite(fields, this.fieldMap);
    if (!hasChanges(write)) return;
    if (!SUBSCRIBER_ID.test(contactId)) throw notFound(contactId);
    const written = await this.client.createOrUpdate({ ...write, id: contactId });
    if (!written) throw notFound(contactId);
  }

  /** `POST /tags` takes the subscriber's e-mail: one read for it, then one call per tag not yet applied. */
  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = uniqueNames(tags);
    if (names.length === 0) return;
    const subscriber = SUBSCRIBER_ID.test(contactId) ? await this.client.getSubscriber(contactId) : null;
    if (!subscriber) throw notFound(contactId);
    const present = new Set((subscriber.tags ?? []).map(tagKey));
    for (const name of names) {
      if (present.has(tagKey(name))) continue;
      if (!(await this.client.applyTag(subscriber.email, name))) throw notFound(contactId);
    }
  }

  /** `DELETE /subscribers/:id/tags/:tag` per tag; a tag the subscriber does not have is fine. */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = uniqueNames(tags);
    if (names.length === 0) return;
    if (!SUBSCRIBER_ID.test(contactId)) throw notFound(contactId);
    for (const name of names) await this.client.removeTag(contactId, name);
  }

  async listTags(): Promise<string[]> {
    return [...new Set(await this.client.listTags())];
  }

  async listFields(): Promise<CrmField[]> {
    const standard = STANDARD_KEYS.map((key) => ({ id: key, name: STANDARD_NAMES[key] ?? key }));
    const custom = await this.client.listCustomFields();
    const known = new Set<string>(STANDARD_KEYS);
    return [...standard, ...custom.filter((id) => !known.has(id)).map((id) => ({ id: `custom_fields.${id}`, name: id }))];
  }
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `Drip has no subscriber ${contactId}`, 404);
}
