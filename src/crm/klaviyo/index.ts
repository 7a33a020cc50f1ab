import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { KlaviyoClient, PROFILE_PAGE_SIZE } from './client.js';
import { isProfileId, STANDARD_ATTRIBUTES, tagKey, toSnapshot, toWrite } from './mappers.js';
import type { KlaviyoProfile } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: Get Profiles filters `any(id,[…])` with `page[size]` up to 100.
 * - rateLimit: limits are per endpoint (burst/s and steady/min, per account). Every load also
 *   reads each profile's lists through Get Profile Lists relationships (3/s burst, **60/m
 *   steady**), the tightest endpoint crmsync uses routinely; one shared bucket at 60/min
 *   keeps every endpoint used within its steady limit.
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: PROFILE_PAGE_SIZE,
  signsWebhooks: true,
  tagsById: true,
  rateLimit: Object.freeze({ requests: 60, perMs: 60_000 }),
  // Get Profiles (filter greater-than(updated,…) for the sweep) and Get List Profiles (a tag is a
  // list) give profile IDs, 100 a page; the import loads them as any batch (+1 list call each).
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: true, pageSize: PROFILE_PAGE_SIZE }),
});

/** Local field → Klaviyo profile attribute for the standard fields. */
export const defaultFieldMap: FieldMap = { first_name: 'first_name', last_name: 'last_name', phone: 'phone_number' };

export const klaviyo: CrmFactory = (options) => new KlaviyoCrm(options);

class KlaviyoCrm implements Crm {
  readonly name = 'klaviyo';
  readonly capabilities = capabilities;
  private readonly client: KlaviyoClient;
  private readonly listNames = new Map<string, string>();
  private readonly listIds = new Map<string, string>();
  private listRefresh: Promise<void> | null = null;
  private readonly creating = new Map<string, Promise<string>>();

  constructor(private readonly options: CrmOptions) {
    this.client = new KlaviyoClient(options);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request, this.options.webhookSecret, this.options.clock.now());
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  /**
   * Profile ids: up to 100 per `GET /profiles?filter=any(id,[…])`; an e-mail reference (from a
   * flow webhook) through `equals(email,…)`. Then each found profile's lists. Keyed by the
   * reference asked for.
   */
  async loadContacts(refs: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const wanted = [...new Set(refs.map((r) => r.trim()).filter(Boolean))];
    const found = new Map<string, KlaviyoProfile>();
    const ids = wanted.filter((r) => !r.includes('@') && isProfileId(r));
    for (let i = 0; i < ids.length; i += capabilities.maxBatchLoad) {
      const chunk = ids.slice(i, i + capabilities.maxBatchLoad);
      const inChunk = new Set(chunk);
      for (const profile of await this.client.profilesByIds(chunk)) if (inChunk.has(profile.id)) found.set(profile.id, profile);
    }
    for (const ref of wanted.filter((r) => r.includes('@'))) {
      const profile = await this.client.profileByEmail(ref);
      if (profile) found.set(ref, profile);
    }
    const result = new Map<string, ContactSnapshot>();
    for (const [ref, profile] of found) {
      const snapshot = await this.snapshot(profile, readAt);
      if (snapshot) result.set(ref, snapshot);
    }
    return result;
  }

  async listContacts({ tag, cursor }: ContactListQuery): Promise<ContactPage> {
    let listId: string | undefined;
    if (tag !== undefined) {
      const known = await this.listId(tag, false);
      if (known === null) return { contacts: [], ids: [], nextCursor: null, total: 0 };
      listId = known;
    }
    const page = await this.client.profilesPage({ cursor, listId });
    // A list deleted meanwhile has no profiles.
    return page ? { contacts: [], ids: page.ids, nextCursor: page.next } : { contacts: [], ids: [], nextCursor: null, total: 0 };
  }

  async listChangedContacts({ since, cursor }: ChangedContactsQuery): Promise<ContactPage> {
    // `greater-than` on whole seconds: one second earlier, so a change within `since`'s second is kept.
    const after = new Date(Math.floor(since / 1000) * 1000 - 1000).toISOString().replace(/\.000Z$/, 'Z');
    const page = await this.client.profilesPage({ cursor, updatedAfter: after });
    return { contacts: [], ids: page?.ids ?? [], nextCursor: page?.next ?? null };
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const profile = await this.client.profileByEmail(email.trim());
    return profile ? this.snapshot(profile, readAt) : null;
  }

  /** `POST /profile-import` (create or update by e-mail) answers with the profile and its id. */
  async upsertContact(draft: ContactDraft): Promise<string> {
    const write = toWrite(draft.fields, this.options.fieldMap);
    const profile = await this.client.importProfile({ ...write.attributes, email: draft.email.trim() });
    if (!profile?.id) throw new CrmError('transient', 'Klaviyo profile-import answered without a profile id');
    if (write.unset.length > 0) await this.client.updateProfile(profile.id, {}, write.unset);
    return profile.id;
  }

  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    const write = toWrite(fields, this.options.fieldMap);
    if (Object.keys(write.attributes).length === 0 && write.unset.length === 0) return;
    if (!(await this.client.updateProfile(contactId, write.attributes, write.unset))) throw notFound(contactId);
  }

  /** Per tag: `POST /lists/{id}/relationships/profiles` (adds; consent is not changed). */
  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    for (const name of uniqueNames(tags)) {
      let ok = await this.client.listMembership('POST', await this.listId(name, true), contactId);
      if (!ok) {
        // A cached list deleted in Klaviyo meanwhile, or an unknown profile: refresh and try once more.
        this.forget(name);
        ok = await this.client.listMembership('POST', await this.listId(name, true), contactId);
      }
      if (!ok) throw notFound(contactId);
    }
  }

  /** Per existing list: `DELETE /lists/{id}/relationships/profiles`; unknown names are skipped. */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    for (const name of uniqueNames(tags)) {
      const id = await this.listId(name, false);
      if (id !== null) await this.client.listMembership('DELETE', id, contactId);
    }
  }

  async listTags(): Promise<string[]> {
    await this.refreshLists();
    return [...new Set(this.listNames.values())];
  }

  /** Klaviyo has no field catalogue for custom properties: the standard attributes are listed. */
  async listFields(): Promise<CrmField[]> {
    return [...STANDARD_ATTRIBUTES.map((id) => ({ id, name: id.replace(/_/g, ' ') })), { id: 'location.city', name: 'location city' }, { id: 'location.country', name: 'location country' }];
  }

  private async snapshot(profile: KlaviyoProfile, readAt: number): Promise<ContactSnapshot | null> {
    const listIds = await this.client.profileListIds(profile.id);
    if (listIds === null) return null; // deleted between the two calls
    if (listIds.some((id) => !this.listNames.has(id))) await this.refreshLists();
    return toSnapshot(profile, listIds, this.listNames, this.options.fieldMap, readAt);
  }

  private refreshLists(): Promise<void> {
    this.listRefresh ??= this.client
      .allLists()
      .then((lists) => {
        this.listNames.clear();
        this.listIds.clear();
        for (const list of lists) this.remember(list.id, list.attributes.name);
      })
      .finally(() => (this.listRefresh = null));
    return this.listRefresh;
  }

  private remember(id: string, name: string): void {
    this.listNames.set(id, name);
    if (!this.listIds.has(tagKey(name))) this.listIds.set(tagKey(name), id);
  }

  private forget(name: string): void {
    const id = this.listIds.get(tagKey(name));
    this.listIds.delete(tagKey(name));
    if (id) this.listNames.delete(id);
  }

  private listId(name: string, create: true): Promise<string>;
  private listId(name: string, create: false): Promise<string | null>;
  private async listId(name: string, create: boolean): Promise<string | null> {
    const key = tagKey(name);
    const known = this.listIds.get(key);
    if (known !== undefined) return known;
    await this.refreshLists();
    const found = this.listIds.get(key);
    if (found !== undefined || !create) return found ?? null;
    let pending = this.creating.get(key);
    if (!pending) {
      pending = this.client
        .createList(name.trim())
        .then((list) => {
          this.remember(list.id, list.attributes?.name ?? name.trim());
          return list.id;
        })
        .finally(() => this.creating.delete(key));
      this.creating.set(key, pending);
    }
    return pending;
  }
}

function uniqueNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(tagKey(tag))) seen.set(tagKey(tag), tag);
  return [...seen.values()];
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `Klaviyo has no profile ${contactId}`, 404);
}
