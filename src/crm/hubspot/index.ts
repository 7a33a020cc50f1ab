import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { BATCH_LIMIT, HsClient } from './client.js';
import { checkFieldMap, isTagList, listKey, propertiesToRead, toProperties, toSnapshot } from './mappers.js';
import type { HsList, HsObject } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: the CRM objects batch endpoints take up to 100 inputs ("limited to 100
 *   records"); the memberships batch read is sent the same ≤ 100 ids.
 * - signsWebhooks: every delivery carries v3 (HMAC, timestamped) and v1/v2 signatures made with
 *   the app's client secret.
 * - tagsById: tags are static lists, changed by list id; the adapter keeps a name⇄ID map.
 * - rateLimit: private apps on Free/Starter accounts: 100 requests per 10 seconds (the lowest
 *   documented burst limit; Professional/Enterprise 190, capacity pack 250). Search endpoints
 *   have a lower per-second limit; this adapter uses none of them.
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 100,
  signsWebhooks: true,
  tagsById: true,
  rateLimit: Object.freeze({ requests: 100, perMs: 10_000 }),
  // Listing gives IDs (the basic list, a static list's memberships, a search on
  // lastmodifieddate); the contacts are then loaded in batches of 100 (2 calls each).
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: true, pageSize: BATCH_LIMIT }),
});

/** Local field → HubSpot contact property (internal name) for the standard fields. */
export const defaultFieldMap: FieldMap = { first_name: 'firstname', last_name: 'lastname', phone: 'phone' };

export const hubspot: CrmFactory = (options) => new HubSpotCrm(options);

class HubSpotCrm implements Crm {
  readonly name = 'hubspot';
  readonly capabilities = capabilities;
  private readonly client: HsClient;
  /** Static list id → name, lower-cased name → static list id. */
  private readonly listNames = new Map<string, string>();
  private readonly listIds = new Map<string, string>();
  /** Ids of lists that are not tags (active lists, other objects' lists, deleted lists). */
  private readonly notTags = new Set<string>();
  private refresh: Promise<void> | null = null;
  private readonly lookups = new Map<string, Promise<string | null>>();

  constructor(private readonly options: CrmOptions) {
    this.client = new HsClient(options);
  }

  private get fieldMap(): FieldMap {
    return checkFieldMap(this.options.fieldMap);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request, this.options.webhookSecret, this.options.clock);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  /** Per batch of ≤ 100: one batch read of the properties, one batch read of list memberships. */
  async loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const result = new Map<string, ContactSnapshot>();
    const wanted = [...new Set(ids)].filter((id) => /^\d{1,20}$/.test(id));
    const fieldMap = this.fieldMap;
    for (let i = 0; i < wanted.length; i += BATCH_LIMIT) {
      const chunk = new Set(wanted.slice(i, i + BATCH_LIMIT));
      // Defensive: a merged-away id answers with the surviving record; only asked-for ids count.
      const contacts = (await this.client.batchReadContacts([...chunk], propertiesToRead(fieldMap))).filter((c) => chunk.has(String(c.id)));
      if (contacts.length === 0) continue;
      const tags = await this.tagsOf(contacts);
      for (const contact of contacts) result.set(String(contact.id), toSnapshot(contact, tags.get(String(contact.id)) ?? [], fieldMap, readAt));
    }
    return result;
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const fieldMap = this.fieldMap;
    const contact = await this.client.getContactByEmail(email.trim(), propertiesToRead(fieldMap));
    if (!contact) return null;
    const tags = await this.tagsOf([contact]);
    return toSnapshot(contact, tags.get(String(contact.id)) ?? [], fieldMap, readAt);
  }

  async upsertContact(draft: ContactDraft): Promise<string> {
    const properties = { ...toProperties(draft.fields, this.fieldMap), email: draft.email.trim() };
    const result = await this.client.upsertByEmail(draft.email.trim(), properties);
    if (!result?.id) throw new CrmError('transient', 'HubSpot batch upsert answered without a contact id');
    return String(result.id);
  }

  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    const properties = toProperties(fields, this.fieldMap);
    if (Object.keys(properties).length === 0) return;
    if (!/^\d{1,20}$/.test(contactId) || !(await this.client.updateContact(contactId, properties))) throw notFound(contactId);
  }

  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    for (const name of uniqueNames(tags)) {
      let change = await this.client.changeMembership(await this.listId(name, true), 'add', [contactId]);
      if (!change) {
        // The cached list was deleted in HubSpot meanwhile: forget it, find or create it again.
        this.forget(name);
        change = await this.client.changeMembership(await this.listId(name, true), 'add', [contactId]);
      }
      if (!change || (change.recordIdsMissing ?? []).map(String).includes(contactId)) throw notFound(contactId);
    }
  }

  /** A tag never seen, or a list deleted meanwhile, is already absent: nothing to do. */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    for (const name of uniqueNames(tags)) {
      const listId = await this.listId(name, false);
      if (listId === null) continue;
      if (!(await this.client.changeMembership(listId, 'remove', [contactId]))) this.forget(name);
    }
  }

  async listContacts({ tag, cursor, limit }: ContactListQuery): Promise<ContactPage> {
    if (tag === undefined) {
      const page = await this.client.listContactIds(cursor, limit);
      return { contacts: [], ids: page.results.map((c) => String(c.id)), nextCursor: page.paging?.next?.after ?? null };
    }
    const listId = await this.listId(tag, false);
    const page = listId === null ? null : await this.client.listMemberships(listId, cursor, limit);
    // A tag without a static list (or a list deleted meanwhile) has no contacts.
    if (!page) return { contacts: [], ids: [], nextCursor: null, total: 0 };
    return { contacts: [], ids: page.results.map((m) => String(m.recordId)), nextCursor: page.paging?.next?.after ?? null };
  }

  async listChangedContacts({ since, cursor, limit }: ChangedContactsQuery): Promise<ContactPage> {
    const page = await this.client.searchModifiedSince(since, cursor, limit);
    return { contacts: [], ids: page.results.map((c) => String(c.id)), nextCursor: page.paging?.next?.after ?? null, ...(page.total !== undefined && { total: page.total }) };
  }

  async listTags(): Promise<string[]> {
    await this.refreshLists();
    return [...new Set(this.listNames.values())];
  }

  async listFields(): Promise<CrmField[]> {
    const properties = await this.client.contactProperties();
    return properties.filter((p) => !p.hidden).map((p) => ({ id: p.name, name: p.label || p.name }));
  }

  /** Static-list names of these contacts, from one memberships batch read. */
  private async tagsOf(contacts: readonly HsObject[]): Promise<Map<string, string[]>> {
    const memberships = await this.client.batchReadMemberships(contacts.map((c) => String(c.id)));
    const listIds = memberships.flatMap((m) => (m.recordListMemberships ?? []).map((l) => String(l.listId)));
    if (listIds.some((id) => !this.listNames.has(id) && !this.notTags.has(id))) {
      await this.refreshLists();
      for (const id of listIds) if (!this.listNames.has(id)) this.notTags.add(id);
    }
    const tags = new Map<string, string[]>();
    for (const m of memberships) {
      const names = (m.recordListMemberships ?? []).map((l) => this.listNames.get(String(l.listId))).filter((n): n is string => n !== undefined);
      tags.set(String(m.recordId), [...(tags.get(String(m.recordId)) ?? []), ...names]);
    }
    return tags;
  }

  private refreshLists(): Promise<void> {
    this.refresh ??= this.client
      .allLists()
      .then((lists) => {
        this.listNames.clear();
        this.listIds.clear();
        this.notTags.clear();
        for (const list of lists) this.remember(list);
      })
      .finally(() => (this.refresh = null));
    return this.refresh;
  }

  private remember(list: HsList): void {
    const id = String(list.listId);
    if (!isTagList(list)) {
      this.notTags.add(id);
      return;
    }
    this.notTags.delete(id);
    this.listNames.set(id, list.name);
    if (!this.listIds.has(listKey(list.name))) this.listIds.set(listKey(list.name), id);
  }

  private forget(name: string): void {
    const id = this.listIds.get(listKey(name));
    this.listIds.delete(listKey(name));
    if (id) this.listNames.delete(id);
  }

  /** The static list of a tag: cache, else one refresh of the list map, else (when asked) `POST /crm/v3/lists`. */
  private listId(name: string, create: true): Promise<string>;
  private listId(name: string, create: false): Promise<string | null>;
  private listId(name: string, create: boolean): Promise<string | null> {
    const known = this.listIds.get(listKey(name));
    if (known) return Promise.resolve(known);
    const key = `${create ? 'create' : 'find'}:${listKey(name)}`;
    let lookup = this.lookups.get(key);
    if (!lookup) {
      lookup = this.findOrCreate(name, create).finally(() => this.lookups.delete(key));
      this.lookups.set(key, lookup);
    }
    return lookup;
  }

  private async findOrCreate(name: string, create: boolean): Promise<string | null> {
    await this.refreshLists();
    const found = this.listIds.get(listKey(name));
    if (found || !create) return found ?? null;
    try {
      const list = await this.client.createStaticList(name.trim());
      this.remember(list);
      return String(list.listId);
    } catch (error) {
      // A list of that name exists already (created meanwhile, or an active list): look it up.
      if (!(error instanceof CrmError && (error.status === 400 || error.status === 409))) throw error;
      const existing = await this.client.getListByName(name.trim());
      if (!existing) throw error;
      this.remember(existing);
      if (!isTagList(existing)) {
        throw new CrmError('permanent', `HubSpot list "${existing.name}" is not a static contact list; only static lists can be used as tags`);
      }
      return String(existing.listId);
    }
  }
}

function uniqueNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(listKey(tag))) seen.set(listKey(tag), tag.trim());
  return [...seen.values()];
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `HubSpot has no contact ${contactId}`, 404);
}
