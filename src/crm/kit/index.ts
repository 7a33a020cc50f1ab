import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { KitClient, type KitTuning } from './client.js';
import { fieldsApplied, hasCustomFields, resolveFieldMap, SUBSCRIBER_ID, tagKey, toKitWrite, toSnapshot, uniqueTagNames, type KitWrite, type ResolvedFieldMap } from './mappers.js';
import type { KitTag } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: 1. v4 reads subscribers by id one at a time; the list endpoint filters by
 *   e-mail addresses, not ids (and the bulk endpoints write, and need OAuth).
 * - signsWebhooks: true. Webhook endpoints sign every delivery (X-Kit-Signature).
 * - tagsById: true. Tagging is `POST/DELETE /v4/tags/{tag_id}/subscribers/{id}`.
 * - rateLimit: "API key: 120 requests in 60 seconds, for each API key".
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 1,
  signsWebhooks: true,
  tagsById: true,
  rateLimit: Object.freeze({ requests: 120, perMs: 60_000 }),
  // "List subscribers" (status=all, include=tags, updated_after): 1,000 whole subscribers per
  // call; a tag is filtered from those pages (one call per 1,000, not two calls per subscriber).
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: true, pageSize: 1000 }),
});

/** Local field → Kit key: `first_name` is the subscriber's own; the others are custom field keys. */
export const defaultFieldMap: FieldMap = { first_name: 'first_name', last_name: 'last_name', phone: 'phone_number' };

const STANDARD_FIELDS: CrmField[] = [
  { id: 'email_address', name: 'Email address' },
  { id: 'first_name', name: 'First name' },
];

export const kit: CrmFactory = (options) => createKit(options);

/** The factory with test tuning (a shorter 429 backoff). */
export function createKit(options: CrmOptions, tuning: KitTuning = {}): Crm {
  return new KitCrm(options, tuning);
}

class KitCrm implements Crm {
  readonly name = 'kit';
  readonly capabilities = capabilities;
  private readonly client: KitClient;
  /** Lower-cased tag name → tag id, from `GET /v4/tags` and `POST /v4/tags`. */
  private readonly tagIds = new Map<string, number>();
  private tagRefresh: Promise<KitTag[]> | null = null;
  private fieldMap: Promise<ResolvedFieldMap> | null = null;

  constructor(
    private readonly options: CrmOptions,
    tuning: KitTuning,
  ) {
    this.client = new KitClient(options, tuning);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request, this.options.webhookSecret, this.options.clock);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  async loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const result = new Map<string, ContactSnapshot>();
    const wanted = [...new Set(ids.map((id) => id.trim()))].filter((id) => SUBSCRIBER_ID.test(id));
    if (wanted.length === 0) return result;
    const fieldMap = await this.resolvedFieldMap();
    for (const id of wanted) {
      const readAt = this.options.clock.now();
      const subscriber = await this.client.getSubscriber(id);
      if (!subscriber) continue;
      const tags = await this.client.subscriberTags(id);
      if (!tags) continue; // deleted between the two calls
      result.set(String(subscriber.id), toSnapshot(subscriber, tags, fieldMap, readAt));
    }
    return result;
  }

  async listContacts({ tag, cursor, limit }: ContactListQuery): Promise<ContactPage> {
    const page = await this.listPage(cursor, limit);
    if (tag === undefined) return page;
    const wanted = tagKey(tag);
    return { ...page, contacts: page.contacts.filter((c) => c.tags.some((t) => tagKey(t) === wanted)) };
  }

  async listChangedContacts({ since, cursor, limit }: ChangedContactsQuery): Promise<ContactPage> {
    // Whole seconds, rounded down, so nothing changed within `since`'s second is missed.
    return this.listPage(cursor, limit, new Date(Math.floor(since / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z'));
  }

  private async listPage(cursor: string | null, limit: number, updatedAfter?: string): Promise<ContactPage> {
    const readAt = this.options.clock.now();
    const fieldMap = await this.resolvedFieldMap();
    const page = await this.client.listSubscribersPage(cursor, limit, updatedAfter);
    const contacts: ContactSnapshot[] = [];
    for (const subscriber of page.subscribers ?? []) {
      // Should `include=tags` be ignored, the subscriber's tags endpoint answers (one call more each).
      const listed = subscriber.tags?.filter((t): t is { id: number; name: string } => typeof t.name === 'string');
      const tags = listed ?? (await this.client.subscriberTags(String(subscriber.id)));
      if (tags) contacts.push(toSnapshot(subscriber, tags, fieldMap, readAt));
    }
    const next = page.pagination?.has_next_page ? (page.pagination.end_cursor ?? null) : null;
    return { contacts, ids: [], nextCursor: next };
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const fieldMap = await this.resolvedFieldMap();
    const address = email.trim().toLowerCase();
    const subscriber = (await this.client.findSubscribers(email.trim())).find((s) => s.email_address?.toLowerCase() === address);
    if (!subscriber) return null;
    let tags: Pick<KitTag, 'name'>[] | null = subscriber.tags ? subscriber.tags.filter((t): t is { id: number; name: string } => typeof t.name === 'string') : null;
    tags ??= await this.client.subscriberTags(String(subscriber.id));
    if (!tags) return null;
    return toSnapshot(subscriber, tags, fieldMap, readAt);
  }

  async upsertContact(draft: ContactDraft): Promise<string> {
    const write = toKitWrite(draft.fields, await this.resolvedFieldMap());
    const email = draft.email.trim();
    const body = this.body(write, email);
    const { created, body: answer } = await this.client.createSubscriber(body);
    const subscriber = answer?.subscriber;
    if (!subscriber?.id) throw new CrmError('transient', 'Kit POST /v4/subscribers answered without a subscriber id');
    const id = String(subscriber.id);
    // The upsert documents updating only the first name of an existing subscriber: write the rest.
    if (!created && !fieldsApplied(subscriber, write)) {
      if (!(await this.client.updateSubscriber(id, { ...body, email_address: subscriber.email_address }))) throw notFound(id);
    }
    return id;
  }

  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    const write = toKitWrite(fields, await this.resolvedFieldMap());
    if (!SUBSCRIBER_ID.test(contactId)) throw notFound(contactId);
    // PUT requires email_address: read it first (and learn whether the subscriber exists).
    const current = write.email_address ? null : await this.client.getSubscriber(contactId);
    if (!write.email_address && !current) throw notFound(contactId);
    const email = write.email_address ?? current!.email_address;
    if (!(await this.client.updateSubscriber(contactId, this.body(write, email)))) throw notFound(contactId);
  }

  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    if (!SUBSCRIBER_ID.test(contactId)) throw notFound(contactId);
    for (const name of uniqueTagNames(tags)) {
      let tagged = await this.client.tagSubscriber(await this.tagId(name), contactId);
      if (!tagged) {
        // The 404 may be about a cached tag deleted in Kit meanwhile: forget it and try once more.
        this.tagIds.delete(tagKey(name));
        tagged = await this.client.tagSubscriber(await this.tagId(name), contactId);
      }
      if (!tagged) throw notFound(contactId);
    }
  }

  /** One read of the subscriber's tags (names and ids), then one DELETE per tag it has. */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = new Set(uniqueTagNames(tags).map(tagKey));
    if (names.size === 0) return;
    if (!SUBSCRIBER_ID.test(contactId)) throw notFound(contactId);
    const current = await this.client.subscriberTags(contactId);
    if (!current) throw notFound(contactId);
    for (const tag of current) if (names.has(tagKey(tag.name))) await this.client.untagSubscriber(tag.id, contactId);
  }

  async listTags(): Promise<string[]> {
    return [...new Set((await this.refreshTags()).map((t) => t.name))];
  }

  async listFields(): Promise<CrmField[]> {
    const custom = await this.client.customFields();
    return [...STANDARD_FIELDS, ...custom.map((f) => ({ id: f.key, name: f.label }))];
  }

  private body(write: KitWrite, email: string): Record<string, unknown> {
    const body: Record<string, unknown> = { email_address: write.email_address ?? email };
    if (write.first_name !== undefined) body.first_name = write.first_name;
    if (Object.keys(write.fields).length > 0) body.fields = write.fields;
    return body;
  }

  private resolvedFieldMap(): Promise<ResolvedFieldMap> {
    if (!this.fieldMap) {
      const map = this.options.fieldMap;
      this.fieldMap = (hasCustomFields(map) ? this.client.customFields() : Promise.resolve(null)).then((fields) => resolveFieldMap(map, fields));
      this.fieldMap.catch(() => (this.fieldMap = null));
    }
    return this.fieldMap;
  }

  /** All tags (the name⇄ID cache is refreshed on the way). */
  private refreshTags(): Promise<KitTag[]> {
    this.tagRefresh ??= this.client
      .allTags()
      .then((tags) => {
        this.tagIds.clear();
        for (const tag of tags) if (!this.tagIds.has(tagKey(tag.name))) this.tagIds.set(tagKey(tag.name), tag.id);
        return tags;
      })
      .finally(() => (this.tagRefresh = null));
    return this.tagRefresh;
  }

  /** The id of a tag by name: cache; else `POST /v4/tags`, which returns the existing tag of that name or creates it. */
  private async tagId(name: string): Promise<number> {
    const known = this.tagIds.get(tagKey(name));
    if (known !== undefined) return known;
    const tag = await this.client.createTag(name.trim());
    this.tagIds.set(tagKey(name), tag.id);
    return tag.id;
  }
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `Kit has no subscriber ${contactId}`, 404);
}

