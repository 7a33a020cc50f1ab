import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { KeapClient, PAGE_LIMIT } from './client.js';
import { resolveFieldMap, STANDARD_KEYS, tagKey, toKeapWrite, toSnapshot, uniqueNames, writesPhone, type ResolvedFieldMap } from './mappers.js';
import type { KeapContact, KeapTag } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: 1. REST v1 `GET /contacts` filters by e-mail, name and dates, not by a set of
 *   ids; no documented batch read by id was found.
 * - rateLimit: Service Account Keys / Personal Access Tokens get "10 queries per second, 240 per
 *   minute, 30,000 per day" (developer.infusionsoft.com/api-token-quota-and-usage-measurements);
 *   the per-minute figure is the binding one for evenly spaced calls.
 * - tagsById: true — tags are applied and removed by tag id; the adapter keeps a name⇄ID map.
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 1,
  signsWebhooks: false,
  tagsById: true,
  rateLimit: Object.freeze({ requests: 240, perMs: 60_000 }),
  // "List Contacts" with optional_properties=custom_fields,tag_ids (1,000 whole contacts per call),
  // `since` on last updated for the sweep; a tag is filtered from the pages.
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: true, pageSize: PAGE_LIMIT }),
});

/** Local field → Keap key: names and the first phone slot. */
export const defaultFieldMap: FieldMap = { first_name: 'given_name', last_name: 'family_name', phone: 'PHONE1' };

const STANDARD_NAMES: Record<string, string> = {
  given_name: 'First name',
  family_name: 'Last name',
  middle_name: 'Middle name',
  preferred_name: 'Preferred name',
  job_title: 'Job title',
  website: 'Website',
  time_zone: 'Time zone',
};

const CONTACT_ID = /^[1-9]\d{0,18}$/;

export const keap: CrmFactory = (options) => new KeapCrm(options);

class KeapCrm implements Crm {
  readonly name = 'keap';
  readonly capabilities = capabilities;
  private readonly client: KeapClient;
  private readonly fieldMap: ResolvedFieldMap;
  /** Tag id → name, and lower-cased name → id, from `GET /tags`. */
  private readonly tagNames = new Map<string, string>();
  private readonly tagIds = new Map<string, number>();
  private tagRefresh: Promise<void> | null = null;
  private readonly creating = new Map<string, Promise<number>>();

  constructor(private readonly options: CrmOptions) {
    this.client = new KeapClient(options);
    this.fieldMap = resolveFieldMap(options.fieldMap);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  /** One `GET /contacts/{id}?optional_properties=custom_fields,tag_ids` per contact. */
  async loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const result = new Map<string, ContactSnapshot>();
    for (const id of [...new Set(ids)].filter((id) => CONTACT_ID.test(id))) {
      const contact = await this.client.getContact(id);
      if (contact && String(contact.id) === id) result.set(id, await this.snapshot(contact, readAt));
    }
    return result;
  }

  async listContacts({ tag, cursor, limit }: ContactListQuery): Promise<ContactPage> {
    const page = await this.listPage(cursor, limit);
    if (tag === undefined) return page;
    const wanted = tagKey(tag);
    return { ...page, contacts: page.contacts.filter((c) => c.tags.some((t) => tagKey(t) === wanted)), total: undefined };
  }

  async listChangedContacts({ since, cursor, limit }: ChangedContactsQuery): Promise<ContactPage> {
    return this.listPage(cursor, limit, new Date(since).toISOString());
  }

  /** Offset pages in ID order; a contact the page gave without its optional properties is read by id. */
  private async listPage(cursor: string | null, limit: number, since?: string): Promise<ContactPage> {
    const readAt = this.options.clock.now();
    const offset = cursor === null ? 0 : Number(cursor);
    const page = await this.client.listContactsPage(offset, limit, since);
    const contacts: ContactSnapshot[] = [];
    for (const listed of page.contacts ?? []) {
      const contact = listed.tag_ids !== undefined && listed.custom_fields !== undefined ? listed : await this.client.getContact(String(listed.id));
      if (contact) contacts.push(await this.snapshot(contact, readAt));
    }
    const next = offset + (page.contacts ?? []).length;
    return { contacts, ids: [], nextCursor: (page.contacts ?? []).length > 0 && page.count !== undefined && next < page.count ? String(next) : null, ...(page.count !== undefined && { total: page.count }) };
  }

  /**
   * One `GET /contacts?email=…&optional_properties=custom_fields,tag_ids`. Should a list answer
   * lack the optional properties, the contact is read by id.
   */
  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const wanted = email.trim().toLowerCase();
    const matches = await this.client.listContactsByEmail(email.trim());
    const match = matches.find((c) => (c.email_addresses ?? []).some((e) => e.email?.toLowerCase() === wanted)) ?? matches[0];
    if (!match) return null;
    const contact = match.tag_ids !== undefined && match.custom_fields !== undefined ? match : await this.client.getContact(String(match.id));
    return contact ? this.snapshot(contact, readAt) : null;
  }

  /** `PUT /contacts` with `duplicate_option: Email`: one call creates or updates. */
  async upsertContact(draft: ContactDraft): Promise<string> {
    const write = toKeapWrite(draft.fields, this.fieldMap);
    if (write.phone_numbers?.length === 0) delete write.phone_numbers;
    const contact = await this.client.createOrUpdate({ ...write, email_addresses: [{ email: draft.email.trim(), field: 'EMAIL1' }] });
    return String(contact.id);
  }

  /**
   * `PATCH /contacts/{id}?update_mask=…` with only the given properties. Writing a phone slot
   * reads the contact first: `phone_numbers` is replaced as a whole.
   */
  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    let current: KeapContact | undefined;
    if (!CONTACT_ID.test(contactId)) throw notFound(contactId);
    if (writesPhone(fields, this.fieldMap)) {
      current = (await this.client.getContact(contactId)) ?? undefined;
      if (!current) throw notFound(contactId);
    }
    const write = toKeapWrite(fields, this.fieldMap, current);
    if (Object.keys(write).length === 0) return;
    if (!(await this.client.updateContact(contactId, write))) throw notFound(contactId);
  }

  /** One `POST /contacts/{id}/tags` with every tag id (unknown names are created first). */
  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = uniqueNames(tags);
    if (names.length === 0) return;
    if (!CONTACT_ID.test(contactId)) throw notFound(contactId);
    const ids: number[] = [];
    for (const name of names) ids.push(await this.tagId(name));
    if (!(await this.client.applyTags(contactId, ids))) throw notFound(contactId);
  }

  /** `DELETE /contacts/{id}/tags/{tagId}` per known tag; a name Keap does not have is skipped. */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = uniqueNames(tags);
    if (names.length === 0) return;
    if (!CONTACT_ID.test(contactId)) throw notFound(contactId);
    if (names.some((n) => !this.tagIds.has(tagKey(n)))) await this.refreshTags();
    for (const name of names) {
      const id = this.tagIds.get(tagKey(name));
      if (id !== undefined) await this.client.removeTag(contactId, id);
    }
  }

  async listTags(): Promise<string[]> {
    await this.refreshTags();
    return [...new Set(this.tagNames.values())];
  }

  async listFields(): Promise<CrmField[]> {
    const standard = STANDARD_KEYS.map((key) => ({ id: key, name: STANDARD_NAMES[key] ?? key }));
    const phones = [1, 2, 3, 4, 5].map((n) => ({ id: `PHONE${n}`, name: `Phone ${n}` }));
    const custom = await this.client.listCustomFields();
    return [...standard, ...phones, ...custom.map((f) => ({ id: `custom:${f.id}`, name: f.label }))];
  }

  private async snapshot(contact: KeapContact, readAt: number): Promise<ContactSnapshot> {
    if ((contact.tag_ids ?? []).some((id) => !this.tagNames.has(String(id)))) await this.refreshTags();
    return toSnapshot(contact, this.fieldMap, this.tagNames, readAt);
  }

  private refreshTags(): Promise<void> {
    this.tagRefresh ??= this.client
      .allTags()
      .then((tags) => {
        this.tagNames.clear();
        this.tagIds.clear();
        for (const tag of tags) this.remember(tag);
      })
      .finally(() => (this.tagRefresh = null));
    return this.tagRefresh;
  }

  private remember(tag: KeapTag): void {
    this.tagNames.set(String(tag.id), tag.name);
    if (!this.tagIds.has(tagKey(tag.name))) this.tagIds.set(tagKey(tag.name), tag.id);
  }

  /** The id of a tag by name: cache, else a refresh of `GET /tags`, else `POST /tags` (once per name at a time). */
  private async tagId(name: string): Promise<number> {
    const key = tagKey(name);
    const known = this.tagIds.get(key);
    if (known !== undefined) return known;
    let pending = this.creating.get(key);
    if (!pending) {
      pending = (async () => {
        await this.refreshTags();
        const found = this.tagIds.get(key);
        if (found !== undefined) return found;
        const tag = await this.client.createTag(name);
        this.remember(tag);
        return tag.id;
      })().finally(() => this.creating.delete(key));
      this.creating.set(key, pending);
    }
    return pending;
  }
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `Keap has no contact ${contactId}`, 404);
}
