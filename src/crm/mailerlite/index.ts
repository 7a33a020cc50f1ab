import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { BATCH_LIMIT, MailerLiteClient } from './client.js';
import { tagKey, toFields, toSnapshot } from './mappers.js';
import type { MlGroup, MlSubscriber } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: there is no multi-id filter on `GET /subscribers` (only `filter[status]`), but
 *   `POST /api/batch` bundles up to 50 requests — 50 `GET api/subscribers/{id}` — into one call
 *   ("Bundle up to 50 API calls into a single batch request to stay within MailerLite's rate
 *   limits", Batching).
 * - signsWebhooks: every request carries `Signature`, HMAC-SHA256 of the body with the webhook's secret.
 * - tagsById: groups are assigned and unassigned by group id; the adapter keeps a name⇄id map.
 * - rateLimit: 120 requests per minute per account (Getting started → Rate limits).
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: BATCH_LIMIT,
  signsWebhooks: true,
  tagsById: true,
  rateLimit: Object.freeze({ requests: 120, perMs: 60_000 }),
});

/** Local field → MailerLite field key for the standard fields (the default fields of every account). */
export const defaultFieldMap: FieldMap = { first_name: 'name', last_name: 'last_name', phone: 'phone' };

export const mailerlite: CrmFactory = (options) => new MailerLiteCrm(options);

class MailerLiteCrm implements Crm {
  readonly name = 'mailerlite';
  readonly capabilities = capabilities;
  private readonly client: MailerLiteClient;
  /** Lower-cased group name → group id, from `GET /groups`, created groups and loaded subscribers. */
  private readonly groupIds = new Map<string, string>();
  private readonly groupNames = new Map<string, string>();
  private groupRefresh: Promise<void> | null = null;
  private readonly creating = new Map<string, Promise<string>>();

  constructor(private readonly options: CrmOptions) {
    this.client = new MailerLiteClient(options);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request, this.options.webhookSecret);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  /**
   * One ref: `GET /subscribers/{ref}`. Several: `POST /batch` of up to 50 such GETs. A ref is an
   * id or an e-mail (webhooks may name either); the map is keyed by the ref asked for.
   */
  async loadContacts(refs: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const wanted = [...new Set(refs.map((r) => r.trim()).filter(Boolean))];
    const found = new Map<string, MlSubscriber>();
    if (wanted.length === 1) {
      const subscriber = await this.client.getSubscriber(wanted[0]!);
      if (subscriber) found.set(wanted[0]!, subscriber);
    } else {
      for (let i = 0; i < wanted.length; i += BATCH_LIMIT) {
        for (const [ref, subscriber] of await this.client.getSubscribers(wanted.slice(i, i + BATCH_LIMIT))) if (subscriber) found.set(ref, subscriber);
      }
    }
    const result = new Map<string, ContactSnapshot>();
    for (const [ref, subscriber] of found) {
      this.learn(subscriber.groups ?? []);
      result.set(ref, toSnapshot(subscriber, this.options.fieldMap, readAt));
    }
    return result;
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const subscriber = await this.client.getSubscriber(email.trim().toLowerCase());
    if (!subscriber) return null;
    this.learn(subscriber.groups ?? []);
    return toSnapshot(subscriber, this.options.fieldMap, readAt);
  }

  /** `POST /subscribers` creates or updates by e-mail and answers the subscriber either way: 1 call. */
  async upsertContact(draft: ContactDraft): Promise<string> {
    const subscriber = await this.client.upsertSubscriber(draft.email.trim(), toFields(draft.fields, this.options.fieldMap));
    if (!subscriber?.id) throw new CrmError('transient', 'MailerLite answered the upsert without a subscriber id');
    return String(subscriber.id);
  }

  async updateContact(contactId: string, values: FieldValues): Promise<void> {
    const fields = toFields(values, this.options.fieldMap);
    if (Object.keys(fields).length === 0) return;
    if (!(await this.client.updateSubscriber(contactId, fields))) throw notFound(contactId);
  }

  /** One `POST /subscribers/{id}/groups/{group_id}` per group (creating unknown groups first). */
  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    for (const name of uniqueNames(tags)) {
      const groupId = await this.groupId(name, true);
      if (!(await this.client.assignGroup(contactId, groupId))) throw notFound(contactId);
    }
  }

  /**
   * One `DELETE /subscribers/{id}/groups/{group_id}` per existing group; unknown names are
   * skipped. A 404 may mean "not in that group" as well as "no such subscriber": the subscriber
   * is then read once to tell them apart.
   */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    for (const name of uniqueNames(tags)) {
      const groupId = await this.groupId(name, false);
      if (groupId === null) continue;
      if (!(await this.client.unassignGroup(contactId, groupId)) && !(await this.client.getSubscriber(contactId))) throw notFound(contactId);
    }
  }

  async listTags(): Promise<string[]> {
    await this.refreshGroups();
    return [...new Set(this.groupNames.values())];
  }

  async listFields(): Promise<CrmField[]> {
    const fields = await this.client.allFields();
    return [{ id: 'email', name: 'Email' }, ...fields.map((f) => ({ id: f.key, name: f.name }))];
  }

  private learn(groups: readonly MlGroup[]): void {
    for (const group of groups) if (group && typeof group.name === 'string' && group.id !== undefined) this.remember(String(group.id), group.name);
  }

  private remember(id: string, name: string): void {
    this.groupNames.set(id, name);
    if (!this.groupIds.has(tagKey(name))) this.groupIds.set(tagKey(name), id);
  }

  private refreshGroups(): Promise<void> {
    this.groupRefresh ??= this.client
      .allGroups()
      .then((groups) => {
        this.groupIds.clear();
        this.groupNames.clear();
        this.learn(groups);
      })
      .finally(() => (this.groupRefresh = null));
    return this.groupRefresh;
  }

  /** A group's id by name: cache, else a refresh of all groups, else (when asked) `POST /groups`. */
  private groupId(name: string, create: true): Promise<string>;
  private groupId(name: string, create: false): Promise<string | null>;
  private async groupId(name: string, create: boolean): Promise<string | null> {
    const key = tagKey(name);
    const known = this.groupIds.get(key);
    if (known !== undefined) return known;
    await this.refreshGroups();
    const found = this.groupIds.get(key);
    if (found !== undefined || !create) return found ?? null;
    let pending = this.creating.get(key);
    if (!pending) {
      pending = this.createGroup(name.trim()).finally(() => this.creating.delete(key));
      this.creating.set(key, pending);
    }
    return pending;
  }

  /** Another instance may create the same group meanwhile: a refused create (422) looks it up again. */
  private async createGroup(name: string): Promise<string> {
    try {
      const group = await this.client.createGroup(name);
      this.remember(String(group.id), group.name ?? name);
      return String(group.id);
    } catch (error) {
      if (!(error instanceof CrmError) || error.status !== 422) throw error;
      await this.refreshGroups();
      const id = this.groupIds.get(tagKey(name));
      if (id === undefined) throw error;
      return id;
    }
  }
}

function uniqueNames(tags: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const tag of tags) if (tag.trim() && !seen.has(tagKey(tag))) seen.set(tagKey(tag), tag.trim());
  return [...seen.values()];
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `MailerLite has no subscriber ${contactId}`, 404);
}
