import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { ChangedContactsQuery, ContactListQuery, ContactPage, Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { McClient, PAGE_LIMIT } from './client.js';
import { resolveFieldMap, SUBSCRIBER_HASH, subscriberHash, toMergeFields, toSnapshot, uniqueTagNames } from './mappers.js';
import type { McMember } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: 1. The Marketing API reads members one by one (`GET …/members/{hash}`); the
 *   member list cannot be filtered by ids, `search-members` takes one query, and the `/batches`
 *   API is asynchronous (poll, then download a tar.gz), no use for a synchronous load.
 * - signsWebhooks: false. Signing is optional per webhook (and absent on older ones); when
 *   CRMSYNC_CRM_WEBHOOK_SECRET is set, verifyWebhook requires a valid X-Mailchimp-Signature.
 * - tagsById: false. Tags are added/removed by name; unknown names are created.
 * - rateLimit: Mailchimp documents "10 simultaneous connections" per user, not a rate. 10/s keeps
 *   at most ~10 calls in flight at Mailchimp's typical sub-second latency; a 429 pauses the limiter.
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 1,
  signsWebhooks: false,
  tagsById: false,
  rateLimit: Object.freeze({ requests: 10, perMs: 1000 }),
  // `GET /lists/{id}/members` (count ≤ 1000, since_last_changed) returns whole members with tags;
  // a tag is filtered from those pages (the list endpoint has no tag filter).
  listing: Object.freeze({ contacts: true, byTag: true, changedSince: true, pageSize: PAGE_LIMIT }),
});

/** Local field → merge tag: the default merge fields of every audience. */
export const defaultFieldMap: FieldMap = { first_name: 'FNAME', last_name: 'LNAME', phone: 'PHONE' };

export const mailchimp: CrmFactory = (options) => new MailchimpCrm(options);

class MailchimpCrm implements Crm {
  readonly name = 'mailchimp';
  readonly capabilities = capabilities;
  private readonly client: McClient;
  private readonly fieldMap: Map<string, string>;

  constructor(private readonly options: CrmOptions) {
    this.client = new McClient(options);
    this.fieldMap = resolveFieldMap(options.fieldMap);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request, this.options.webhookSecret, this.options.clock);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request, this.client.target.listId);
  }

  async loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const result = new Map<string, ContactSnapshot>();
    for (const id of new Set(ids.map((i) => i.trim().toLowerCase()))) {
      if (!SUBSCRIBER_HASH.test(id)) continue; // not a subscriber hash: cannot exist in Mailchimp
      const snapshot = await this.load(id);
      if (snapshot) result.set(snapshot.contactId, snapshot);
    }
    return result;
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    return this.load(subscriberHash(email));
  }

  async upsertContact(draft: ContactDraft): Promise<string> {
    const mergeFields = toMergeFields(draft.fields, this.fieldMap);
    const body: Record<string, unknown> = { email_address: draft.email.trim(), status_if_new: this.client.target.statusIfNew };
    if (Object.keys(mergeFields).length > 0) body.merge_fields = mergeFields;
    const member = await this.client.upsertMember(subscriberHash(draft.email), body);
    if (!member?.id) throw new CrmError('transient', 'Mailchimp PUT member answered without an id');
    return member.id;
  }

  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    const hash = this.hash(contactId);
    const mergeFields = toMergeFields(fields, this.fieldMap);
    if (Object.keys(mergeFields).length === 0) return;
    if (!(await this.client.updateMember(hash, { merge_fields: mergeFields }))) throw notFound(contactId);
  }

  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    await this.setTags(contactId, tags, 'active');
  }

  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    await this.setTags(contactId, tags, 'inactive');
  }

  async listContacts({ tag, cursor, limit }: ContactListQuery): Promise<ContactPage> {
    const page = await this.listPage(cursor, limit);
    if (tag === undefined) return page;
    const wanted = tag.trim().toLowerCase();
    // Filtered client-side: the size of the whole listing is not known then.
    return { contacts: page.contacts.filter((c) => c.tags.some((t) => t.toLowerCase() === wanted)), ids: [], nextCursor: page.nextCursor };
  }

  async listChangedContacts({ since, cursor, limit }: ChangedContactsQuery): Promise<ContactPage> {
    // Mailchimp's times have whole seconds: round down so nothing changed within `since`'s second is missed.
    return this.listPage(cursor, limit, new Date(Math.floor(since / 1000) * 1000).toISOString().replace(/\.000Z$/, '+00:00'));
  }

  /** Offset pages of whole members; a member whose tags the page cut short gets its tags endpoint read. */
  private async listPage(cursor: string | null, limit: number, sinceLastChanged?: string): Promise<ContactPage> {
    const readAt = this.options.clock.now();
    const offset = cursor === null ? 0 : Number(cursor);
    const page = await this.client.listMembers(offset, limit, sinceLastChanged);
    const contacts: ContactSnapshot[] = [];
    for (const member of page.members) {
      let tags = member.tags ?? [];
      if ((member.tags_count ?? tags.length) > tags.length) tags = (await this.client.getMemberTags(member.id)) ?? tags;
      contacts.push(toSnapshot(member, tags, this.fieldMap, readAt));
    }
    const next = offset + page.members.length;
    return { contacts, ids: [], nextCursor: page.members.length > 0 && next < page.total_items ? String(next) : null, total: page.total_items };
  }

  async listTags(): Promise<string[]> {
    return [...new Set((await this.client.allTags()).map((s) => s.name))];
  }

  async listFields(): Promise<CrmField[]> {
    const merge = await this.client.allMergeFields();
    return [{ id: 'EMAIL', name: 'Email address' }, ...merge.filter((f) => f.tag !== 'EMAIL').map((f) => ({ id: f.tag, name: f.name }))];
  }

  /** One member with all its tags: the member GET lists them; past `tags_count`, the tags endpoint. */
  private async load(hash: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const member: McMember | null = await this.client.getMember(hash);
    if (!member) return null;
    let tags = member.tags ?? [];
    if ((member.tags_count ?? tags.length) > tags.length) tags = (await this.client.getMemberTags(hash)) ?? tags;
    return toSnapshot(member, tags, this.fieldMap, readAt);
  }

  /** A delta: only the named tags change (`active` adds, `inactive` removes); one call for all of them. */
  private async setTags(contactId: string, tags: readonly string[], status: 'active' | 'inactive'): Promise<void> {
    const hash = this.hash(contactId);
    const names = uniqueTagNames(tags);
    if (names.length === 0) return;
    if (!(await this.client.updateMemberTags(hash, { tags: names.map((name) => ({ name, status })) }))) throw notFound(contactId);
  }

  private hash(contactId: string): string {
    const hash = contactId.trim().toLowerCase();
    if (!SUBSCRIBER_HASH.test(hash)) throw notFound(contactId);
    return hash;
  }
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `Mailchimp has no member ${contactId} in the configured audience`, 404);
}
