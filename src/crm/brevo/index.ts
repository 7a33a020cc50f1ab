import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { BrevoClient } from './client.js';
import { isContactId, tagKey, toAttributes, toSnapshot } from './mappers.js';
import type { BrevoContact } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: `GET /v3/contacts` filters "by contact IDs (up to 20)" (Get all the contacts).
 * - rateLimit: the `/v3/contacts` family allows 36,000 requests per hour on the General tier
 *   (= 10/s; Rate limits page, figure confirmed by Estuary's connector docs).
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 20,
  signsWebhooks: false,
  tagsById: true,
  rateLimit: Object.freeze({ requests: 10, perMs: 1000 }),
  // "Get all the contacts" (modifiedSince) and "Get contacts in a list" (a tag is a list): whole
  // contacts with attributes and listIds, ≤ 500 per page on the list endpoint (1,000 on the other).
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: true, pageSize: 500 }),
});

/** Local field → Brevo attribute for the standard fields (the defaults of a new Brevo account). */
export const defaultFieldMap: FieldMap = { first_name: 'FIRSTNAME', last_name: 'LASTNAME', phone: 'SMS' };

/** Name of the folder crmsync creates for new lists when the account has none. */
export const LIST_FOLDER = 'crmsync';

export const brevo: CrmFactory = (options) => new BrevoCrm(options);

class BrevoCrm implements Crm {
  readonly name = 'brevo';
  readonly capabilities = capabilities;
  private readonly client: BrevoClient;
  /** List id → name and lower-cased name → id, from `GET /contacts/lists`. */
  private readonly listNames = new Map<string, string>();
  private readonly listIds = new Map<string, number>();
  private listRefresh: Promise<void> | null = null;
  private readonly creating = new Map<string, Promise<number>>();
  private folder: Promise<number> | null = null;

  constructor(private readonly options: CrmOptions) {
    this.client = new BrevoClient(options);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  /**
   * Numeric ids are loaded 20 per call through the `ids` filter; a reference the batch did not
   * return (an e-mail from a webhook, or an id the filter missed) is read with
   * `GET /contacts/{identifier}` (404 → absent). The map is keyed by the reference asked for.
   */
  async loadContacts(refs: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const result = new Map<string, ContactSnapshot>();
    const wanted = [...new Set(refs.map((r) => r.trim()).filter(Boolean))];
    const found = new Map<string, BrevoContact>();
    // One numeric id is read like an e-mail (same cost); two or more go through the batch filter.
    const numeric = wanted.filter(isContactId);
    const ids = numeric.length > 1 ? numeric : [];
    const answered = new Set<string>();
    for (let i = 0; i < ids.length; i += capabilities.maxBatchLoad) {
      const chunk = ids.slice(i, i + capabilities.maxBatchLoad);
      const inChunk = new Set(chunk);
      const contacts = await this.client.listContactsByIds(chunk);
      for (const contact of contacts) if (inChunk.has(String(contact.id))) found.set(String(contact.id), contact);
      // The filter's wire format is not fully documented: if the answer holds contacts that were
      // not asked for, the filter was ignored and the missing ids are read one by one instead.
      if (contacts.every((c) => inChunk.has(String(c.id)))) for (const id of chunk) answered.add(id);
    }
    for (const ref of wanted) {
      if (found.has(ref)) continue;
      if (answered.has(ref)) continue; // the batch answered for it: unknown to Brevo
      const contact = await this.client.getContact(ref);
      if (contact) found.set(ref, contact);
    }
    await this.ensureListNames([...found.values()].flatMap((c) => c.listIds ?? []));
    for (const [ref, contact] of found) result.set(ref, toSnapshot(contact, this.listNames, this.options.fieldMap, readAt));
    return result;
  }

  async listContacts({ tag, cursor, limit }: ContactListQuery): Promise<ContactPage> {
    if (tag === undefined) return this.listPage({}, cursor, limit);
    const listId = await this.listId(tag, false);
    if (listId === null) return { contacts: [], ids: [], nextCursor: null, total: 0 };
    return this.listPage({ listId }, cursor, limit);
  }

  async listChangedContacts({ since, cursor, limit }: ChangedContactsQuery): Promise<ContactPage> {
    return this.listPage({ modifiedSince: new Date(since).toISOString() }, cursor, limit);
  }

  private async listPage(filter: { listId?: number; modifiedSince?: string }, cursor: string | null, limit: number): Promise<ContactPage> {
    const readAt = this.options.clock.now();
    const offset = cursor === null ? 0 : Number(cursor);
    const page = await this.client.listContactsPage({ ...filter, offset, limit: Math.min(limit, capabilities.listing!.pageSize) });
    // The list was deleted in Brevo meanwhile: it has no contacts.
    if (!page) return { contacts: [], ids: [], nextCursor: null, total: 0 };
    const contacts = page.contacts ?? [];
    await this.ensureListNames(contacts.flatMap((c) => c.listIds ?? []));
    const next = offset + contacts.length;
    return {
      contacts: contacts.map((c) => toSnapshot(c, this.listNames, this.options.fieldMap, readAt)),
      ids: [],
      nextCursor: contacts.length > 0 && next < (page.count ?? 0) ? String(next) : null,
      ...(page.count !== undefined && { total: page.count }),
    };
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const contact = await this.client.getContact(email.trim().toLowerCase());
    if (!contact) return null;
    await this.ensureListNames(contact.listIds ?? []);
    return toSnapshot(contact, this.listNames, this.options.fieldMap, readAt);
  }

  /** `POST /contacts` with `updateEnabled: true`; Brevo answers 204 without the id on update, so it is read back. */
  async upsertContact(draft: ContactDraft): Promise<string> {
    const attributes = toAttributes(draft.fields, this.options.fieldMap);
    const email = draft.email.trim();
    const created = await this.client.createOrUpdateContact(email, attributes);
    if (created) return created;
    const contact = await this.client.getContact(email.toLowerCase());
    if (!contact) throw new CrmError('transient', `Brevo updated ${email} but GET /contacts/{email} did not find it`);
    return String(contact.id);
  }

  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    const attributes = toAttributes(fields, this.options.fieldMap);
    if (Object.keys(attributes).length === 0) return;
    if (!(await this.client.updateContact(contactId, { attributes }))) throw notFound(contactId);
  }

  /** One `PUT /contacts/{id}` `{listIds}`: adds to these lists, leaves the others (a delta). */
  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = uniqueNames(tags);
    if (names.length === 0) return;
    const listIds: number[] = [];
    for (const name of names) listIds.push(await this.listId(name, true));
    if (!(await this.client.updateContact(contactId, { listIds }))) throw notFound(contactId);
  }

  /** One `PUT /contacts/{id}` `{unlinkListIds}` for the lists that exist; unknown names are skipped. */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = uniqueNames(tags);
    if (names.length === 0) return;
    const unlinkListIds: number[] = [];
    for (const name of names) {
      const id = await this.listId(name, false);
      if (id !== null) unlinkListIds.push(id);
    }
    if (unlinkListIds.length === 0) return;
    if (!(await this.client.updateContact(contactId, { unlinkListIds }))) throw notFound(contactId);
  }

  async listTags(): Promise<string[]> {
    await this.refreshLists();
    return [...new Set(this.listNames.values())];
  }

  async listFields(): Promise<CrmField[]> {
    const attributes = await this.client.attributes();
    return [{ id: 'email', name: 'Email' }, ...attributes.map((a) => ({ id: a.name, name: a.category ? `${a.name} (${a.category})` : a.name }))];
  }

  private async ensureListNames(ids: readonly number[]): Promise<void> {
    if (ids.some((id) => !this.listNames.has(String(id)))) await this.refreshLists();
  }

  private refreshLists(): Promise<void> {
    this.listRefresh ??= this.client
      .allLists()
      .then((lists) => {
        this.listNames.clear();
        this.listIds.clear();
        for (const list of lists) this.remember(list.id, list.name);
      })
      .finally(() => (this.listRefresh = null));
    return this.listRefresh;
  }

  private remember(id: number, name: string): void {
    this.listNames.set(String(id), name);
    if (!this.listIds.has(tagKey(name))) this.listIds.set(tagKey(name), id);
  }

  /** The id of a list by name: cache, else a refresh of all lists, else (when asked) `POST /contacts/lists`. */
  private listId(name: string, create: true): Promise<number>;
  private listId(name: string, create: false): Promise<number | null>;
  private async listId(name: string, create: boolean): Promise<number | null> {
    const key = tagKey(name);
    const known = this.listIds.get(key);
    if (known !== undefined) return known;
    await this.refreshLists();
    const found = this.listIds.get(key);
    if (found !== undefined || !create) return found ?? null;
    let pending = this.creating.get(key);
    if (!pending) {
      pending = this.createList(name.trim()).finally(() => this.creating.delete(key));
      this.creating.set(key, pending);
    }
    return pending;
  }

  private async createList(name: string): Promise<number> {
    const id = await this.client.createList(name, await this.folderId());
    this.remember(id, name);
    return id;
  }

  /** Brevo requires a folder for a new list: the account's first folder, else a new `crmsync` folder. */
  private folderId(): Promise<number> {
    if (!this.folder) {
      this.folder = this.client.firstFolder().then((f) => f?.id ?? this.client.createFolder(LIST_FOLDER));
      this.folder.catch(() => (this.folder = null));
    }
    return this.folder;
  }
}

function uniqueNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(tagKey(tag))) seen.set(tagKey(tag), tag);
  return [...seen.values()];
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `Brevo has no contact ${contactId}`, 404);
}
