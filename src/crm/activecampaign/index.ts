import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { AcClient, PAGE_LIMIT } from './client.js';
import { needsFieldList, resolveFieldMap, tagKey, toAcWrite, toSnapshot, type ResolvedFieldMap } from './mappers.js';
import type { AcContact, AcContactList, AcContactTag, AcFieldValue, AcTag } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: the list endpoint's `ids[]` filter has no documented maximum; 20 is the
 *   documented default page size, so one page always holds the whole batch.
 * - rateLimit: "5 requests per second per account" (developers.activecampaign.com/reference/rate-limits).
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 20,
  signsWebhooks: false,
  tagsById: true,
  rateLimit: Object.freeze({ requests: 5, perMs: 1000 }),
  // "List, search, and filter contacts": tagid, filters[updated_after], id_greater, limit ≤ 100.
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: true, pageSize: PAGE_LIMIT }),
});

const STANDARD_FIELDS: CrmField[] = [
  { id: 'email', name: 'Email' },
  { id: 'firstName', name: 'First name' },
  { id: 'lastName', name: 'Last name' },
  { id: 'phone', name: 'Phone' },
];

/** Local field → AC key for the standard fields (extended by the config file's `fields`). */
export const defaultFieldMap: FieldMap = { first_name: 'firstName', last_name: 'lastName', phone: 'phone' };

export const activecampaign: CrmFactory = (options) => new ActiveCampaignCrm(options);

class ActiveCampaignCrm implements Crm {
  readonly name = 'activecampaign';
  readonly capabilities = capabilities;
  private readonly client: AcClient;
  /** Tag id → name, and lower-cased name → tag, both from `GET /tags`. */
  private readonly tagNames = new Map<string, string>();
  private readonly tagIds = new Map<string, string>();
  private tagRefresh: Promise<void> | null = null;
  private readonly tagLookups = new Map<string, Promise<string | null>>();
  private fieldMap: Promise<ResolvedFieldMap> | null = null;

  constructor(private readonly options: CrmOptions) {
    this.client = new AcClient(options);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  async loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const result = new Map<string, ContactSnapshot>();
    // AC ids are numeric: anything else cannot exist there.
    const wanted = [...new Set(ids)].filter((id) => /^\d+$/.test(id));
    if (wanted.length === 0) return result;
    const fieldMap = await this.resolvedFieldMap();
    for (let i = 0; i < wanted.length; i += capabilities.maxBatchLoad) {
      const chunk = wanted.slice(i, i + capabilities.maxBatchLoad);
      const list = await this.client.listContactsByIds(chunk);
      const inChunk = new Set(chunk);
      // Defensive: should the filter ever be ignored, only the asked-for contacts count.
      const contacts = (list.contacts ?? []).filter((c) => inChunk.has(String(c.id)));
      const related = await this.relatedRecords(contacts, list, fieldMap);
      await this.ensureTagNames(related.contactTags.map((ct) => ct.tag));
      for (const contact of contacts) {
        result.set(contact.id, toSnapshot({ contact, ...related, tagNames: this.tagNames, fieldMap, readAt }));
      }
    }
    return result;
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const fieldMap = await this.resolvedFieldMap();
    const list = await this.client.listContactsByEmail(email);
    const contact = (list.contacts ?? []).find((c) => c.email?.toLowerCase() === email.trim().toLowerCase());
    if (!contact) return null;
    const related = await this.relatedRecords([contact], list, fieldMap);
    await this.ensureTagNames(related.contactTags.map((ct) => ct.tag));
    return toSnapshot({ contact, ...related, tagNames: this.tagNames, fieldMap, readAt });
  }

  async upsertContact(draft: ContactDraft): Promise<string> {
    const write = toAcWrite(draft.fields, await this.resolvedFieldMap());
    const body: Record<string, unknown> = { ...write.contact, email: draft.email };
    if (write.fieldValues.length > 0) body.fieldValues = write.fieldValues;
    const answer = await this.client.syncContact(body);
    const id = answer?.contact?.id;
    if (id === undefined || id === null) throw new CrmError('transient', 'ActiveCampaign contact/sync answered without a contact id');
    return String(id);
  }

  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    const write = toAcWrite(fields, await this.resolvedFieldMap());
    if (Object.keys(write.contact).length > 0) {
      const updated = await this.client.updateContact(contactId, write.contact);
      if (!updated) throw notFound(contactId);
    }
    for (const { field, value } of write.fieldValues) {
      if (!(await this.client.setFieldValue(contactId, field, value))) throw notFound(contactId);
    }
  }

  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    for (const name of uniqueNames(tags)) {
      let link = await this.client.addContactTag(contactId, await this.tagId(name, true));
      if (!link) {
        // The 404 may be about a cached tag deleted in AC meanwhile: forget it and try once more.
        this.forget(name);
        link = await this.client.addContactTag(contactId, await this.tagId(name, true));
      }
      if (!link) throw notFound(contactId);
    }
  }

  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = uniqueNames(tags);
    if (names.length === 0) return;
    const links = await this.client.getContactTags(contactId);
    if (!links) throw notFound(contactId);
    const tagIds = new Set<string>();
    for (const name of names) {
      const id = await this.tagId(name, false);
      if (id !== null) tagIds.add(id);
    }
    for (const link of links) if (tagIds.has(String(link.tag))) await this.client.deleteContactTag(link.id);
  }

  async listContacts({ tag, cursor, limit }: ContactListQuery): Promise<ContactPage> {
    if (tag === undefined) return this.listPage({}, cursor, limit);
    const tagid = await this.tagId(tag, false);
    // A tag AC does not know has no contacts.
    if (tagid === null) return { contacts: [], ids: [], nextCursor: null, total: 0 };
    return this.listPage({ tagid }, cursor, limit);
  }

  async listChangedContacts({ since, cursor, limit }: ChangedContactsQuery): Promise<ContactPage> {
    // AC dates have whole seconds: round down so nothing changed within `since`'s second is missed.
    return this.listPage({ updatedAfter: new Date(Math.floor(since / 1000) * 1000).toISOString().replace(/\.000Z$/, '+00:00') }, cursor, limit);
  }

  /** Keyset pages by contact ID (stable while contacts are added), with tags and values side loaded. */
  private async listPage(filter: { tagid?: string; updatedAfter?: string }, cursor: string | null, limit: number): Promise<ContactPage> {
    const readAt = this.options.clock.now();
    const fieldMap = await this.resolvedFieldMap();
    const size = Math.min(PAGE_LIMIT, limit);
    const list = await this.client.listContactsPage(filter, cursor ?? '0', size);
    const contacts = list.contacts ?? [];
    const related = await this.relatedRecords(contacts, list, fieldMap);
    await this.ensureTagNames(related.contactTags.map((ct) => ct.tag));
    const total = Number(list.meta?.total);
    return {
      contacts: contacts.map((contact) => toSnapshot({ contact, ...related, tagNames: this.tagNames, fieldMap, readAt })),
      ids: [],
      nextCursor: contacts.length >= size ? String(contacts.at(-1)!.id) : null,
      // With id_greater, AC's meta.total counts what is left: the whole listing's size is the first page's.
      ...(cursor === null && Number.isFinite(total) && { total }),
    };
  }

  async listTags(): Promise<string[]> {
    await this.refreshTags();
    return [...new Set(this.tagNames.values())];
  }

  async listFields(): Promise<CrmField[]> {
    const custom = await this.client.allFields();
    return [...STANDARD_FIELDS, ...custom.map((f) => ({ id: `field:${f.id}`, name: f.title }))];
  }

  /**
   * The contact tags and field values of these contacts: from the list's side loads when AC
   * included them, else one call per contact (and only for field values when a custom field is
   * mapped). A contact that names more links than were side loaded is fetched on its own too.
   */
  private async relatedRecords(contacts: readonly AcContact[], list: AcContactList, fieldMap: ResolvedFieldMap) {
    const contactTags: AcContactTag[] = [];
    const fieldValues: AcFieldValue[] = [];
    const needValues = [...fieldMap.values()].some((f) => f.kind === 'custom');
    const loadedTags = new Set((list.contactTags ?? []).map((ct) => String(ct.id)));
    const loadedValues = new Set((list.fieldValues ?? []).map((fv) => String(fv.id)));
    for (const contact of contacts) {
      const tagsComplete = list.contactTags !== undefined && (contact.contactTags ?? []).every((id) => loadedTags.has(String(id)));
      if (tagsComplete) contactTags.push(...list.contactTags!.filter((ct) => ct.contact === contact.id));
      else contactTags.push(...((await this.client.getContactTags(contact.id)) ?? []));
      if (!needValues) continue;
      const valuesComplete = list.fieldValues !== undefined && (contact.fieldValues ?? []).every((id) => loadedValues.has(String(id)));
      if (valuesComplete) fieldValues.push(...list.fieldValues!.filter((fv) => fv.contact === contact.id));
      else fieldValues.push(...((await this.client.getFieldValues(contact.id)) ?? []));
    }
    return { contactTags, fieldValues };
  }

  private resolvedFieldMap(): Promise<ResolvedFieldMap> {
    if (!this.fieldMap) {
      const map = this.options.fieldMap;
      this.fieldMap = (needsFieldList(map) ? this.client.allFields() : Promise.resolve([])).then((fields) => resolveFieldMap(map, fields));
      this.fieldMap.catch(() => (this.fieldMap = null));
    }
    return this.fieldMap;
  }

  /** Refresh the name⇄ID map once when a tag id is not known yet (a tag created in AC). */
  private async ensureTagNames(tagIds: readonly string[]): Promise<void> {
    if (tagIds.some((id) => !this.tagNames.has(String(id)))) await this.refreshTags();
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

  private remember(tag: AcTag): void {
    if (tag.tagType && tag.tagType !== 'contact') return;
    this.tagNames.set(String(tag.id), tag.tag);
    if (!this.tagIds.has(tagKey(tag.tag))) this.tagIds.set(tagKey(tag.tag), String(tag.id));
  }

  private forget(name: string): void {
    const id = this.tagIds.get(tagKey(name));
    this.tagIds.delete(tagKey(name));
    if (id) this.tagNames.delete(id);
  }

  /** The id of a tag by name: cache, else `GET /tags?search=`, else (when asked) `POST /tags`. */
  private tagId(name: string, create: true): Promise<string>;
  private tagId(name: string, create: false): Promise<string | null>;
  private tagId(name: string, create: boolean): Promise<string | null> {
    const key = tagKey(name);
    const known = this.tagIds.get(key);
    if (known) return Promise.resolve(known);
    const lookupKey = `${create ? 'create' : 'find'}:${key}`;
    let lookup = this.tagLookups.get(lookupKey);
    if (!lookup) {
      lookup = this.findOrCreateTag(name, create).finally(() => this.tagLookups.delete(lookupKey));
      this.tagLookups.set(lookupKey, lookup);
    }
    return lookup;
  }

  private async findOrCreateTag(name: string, create: boolean): Promise<string | null> {
    const found = await this.searchTag(name);
    if (found || !create) return found;
    try {
      const tag = await this.client.createTag(name.trim());
      this.remember(tag);
      return String(tag.id);
    } catch (error) {
      // Created meanwhile by someone else: AC refuses the duplicate (422); look it up again.
      if (error instanceof CrmError && error.status === 422) {
        const again = await this.searchTag(name);
        if (again) return again;
      }
      throw error;
    }
  }

  private async searchTag(name: string): Promise<string | null> {
    const key = tagKey(name);
    const page = await this.client.listTagsPage(0, name.trim());
    for (const tag of page.tags ?? []) this.remember(tag);
    return this.tagIds.get(key) ?? null;
  }
}

function uniqueNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(tagKey(tag))) seen.set(tagKey(tag), tag);
  return [...seen.values()];
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `ActiveCampaign has no contact ${contactId}`, 404);
}
