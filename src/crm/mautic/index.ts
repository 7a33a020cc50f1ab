import type { ContactDraft, ContactSnapshot, FieldValues } from '../../domain/contact.js';
import { CrmError } from '../errors.js';
import type { Crm, CrmCapabilities, CrmFactory, CrmField, CrmOptions, FieldMap, WebhookRequest } from '../types.js';
import { MauticClient } from './client.js';
import { contactEmail, isContactId, tagNamesForEdit, toFieldBody, toSnapshot } from './mappers.js';
import type { MauticContact } from './types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

/**
 * - maxBatchLoad: `GET /api/contacts?search=ids:1,2,…` (the `ids` search command every Mautic
 *   repository supports: `CommonRepository::getIdsExpr`, `id IN (…)`); 100 keeps the URL short
 *   and half of the instance's `api_batch_max_limit` (200).
 * - rateLimit: Mautic documents none — its API rate limiter is off by default
 *   (`api_rate_limiter_limit: 0`) and, when an admin turns it on, counts per hour. A self-hosted
 *   PHP instance is the bottleneck, so 5 requests/s is a conservative default;
 *   CRMSYNC_CRM_RATE_LIMIT overrides it.
 */
export const capabilities: CrmCapabilities = Object.freeze({
  maxBatchLoad: 100,
  signsWebhooks: true,
  tagsById: false,
  rateLimit: Object.freeze({ requests: 5, perMs: 1000 }),
});

/** Local field → Mautic contact field alias (core fields of every instance). */
export const defaultFieldMap: FieldMap = { first_name: 'firstname', last_name: 'lastname', phone: 'phone' };

/** How many `email:` search pages findContactByEmail reads before giving up on an exact match. */
const EMAIL_SEARCH_PAGES = 5;

export const mautic: CrmFactory = (options) => new MauticCrm(options);

class MauticCrm implements Crm {
  readonly name = 'mautic';
  readonly capabilities = capabilities;
  private readonly client: MauticClient;

  constructor(private readonly options: CrmOptions) {
    this.client = new MauticClient(options);
  }

  verifyWebhook(request: WebhookRequest): void {
    verifyWebhook(request, this.options.webhookSecret);
  }

  parseWebhook(request: WebhookRequest) {
    return parseWebhook(request);
  }

  /**
   * Two or more ids are read with one `search=ids:…` call per batch of ≤ 100 (following pages
   * if the instance caps `limit`); one id with `GET /contacts/{id}` (same cost, and a 404 says
   * "unknown" directly). Contacts the answer holds that were not asked for mean the search was
   * not applied: the missing ids are then read one by one.
   */
  async loadContacts(ids: readonly string[]): Promise<Map<string, ContactSnapshot>> {
    const readAt = this.options.clock.now();
    const wanted = [...new Set(ids.map((id) => id.trim()))].filter(isContactId);
    const found = new Map<string, MauticContact>();
    const answered = new Set<string>();
    if (wanted.length > 1) {
      for (let i = 0; i < wanted.length; i += capabilities.maxBatchLoad) {
        const chunk = wanted.slice(i, i + capabilities.maxBatchLoad);
        const { contacts, trusted } = await this.searchIds(chunk);
        for (const contact of contacts) found.set(String(contact.id), contact);
        if (trusted) for (const id of chunk) answered.add(id);
      }
    }
    for (const id of wanted) {
      if (found.has(id) || answered.has(id)) continue;
      const contact = await this.client.getContact(id);
      if (contact) found.set(id, contact);
    }
    const result = new Map<string, ContactSnapshot>();
    for (const [id, contact] of found) result.set(id, toSnapshot(contact, this.options.fieldMap, readAt));
    return result;
  }

  /** One batch through the `ids:` search; `trusted` is false when the answer shows the filter was ignored. */
  private async searchIds(chunk: readonly string[]): Promise<{ contacts: MauticContact[]; trusted: boolean }> {
    const asked = new Set(chunk);
    const contacts: MauticContact[] = [];
    for (let start = 0; ; ) {
      const page = await this.client.searchContacts(`ids:${chunk.join(',')}`, start, chunk.length);
      if (page.contacts.some((c) => !asked.has(String(c.id))) || page.total > chunk.length) {
        return { contacts: contacts.concat(page.contacts.filter((c) => asked.has(String(c.id)))), trusted: false };
      }
      contacts.push(...page.contacts);
      start += page.contacts.length;
      if (page.contacts.length === 0 || start >= page.total) return { contacts, trusted: true };
    }
  }

  async findContactByEmail(email: string): Promise<ContactSnapshot | null> {
    const readAt = this.options.clock.now();
    const contact = await this.findByEmail(email);
    return contact ? toSnapshot(contact, this.options.fieldMap, readAt) : null;
  }

  /**
   * `search=email:…` matches a prefix (SQL `LIKE 'x%'`, where `_` is a wildcard too), so the
   * answer is filtered for the exact address, case-insensitively; the lowest id wins.
   */
  private async findByEmail(email: string): Promise<MauticContact | null> {
    const wanted = email.trim().toLowerCase();
    if (!wanted) return null;
    for (let page = 0, start = 0; page < EMAIL_SEARCH_PAGES; page++) {
      const { contacts, total } = await this.client.searchContacts(`email:${wanted}`, start, 30);
      const exact = contacts.find((c) => contactEmail(c)?.trim().toLowerCase() === wanted);
      if (exact) return exact;
      start += contacts.length;
      if (contacts.length === 0 || start >= total) return null;
    }
    return null;
  }

  /** Find by e-mail, then `PATCH /contacts/{id}/edit`, else `POST /contacts/new`: 2 calls either way. */
  async upsertContact(draft: ContactDraft): Promise<string> {
    const email = draft.email.trim();
    const body = { ...toFieldBody(draft.fields, this.options.fieldMap), email };
    const existing = await this.findByEmail(email);
    if (existing) {
      const id = String(existing.id);
      if (!(await this.client.editContact(id, body))) throw notFound(id);
      return id;
    }
    return String((await this.client.createContact(body)).id);
  }

  async updateContact(contactId: string, fields: FieldValues): Promise<void> {
    if (Object.keys(fields).length === 0) return;
    const body = toFieldBody(fields, this.options.fieldMap);
    if (!isContactId(contactId) || !(await this.client.editContact(contactId, body))) throw notFound(contactId);
  }

  /** One `PATCH /contacts/{id}/edit` `{"tags": ["a", "b"]}`: adds, leaves the contact's other tags; Mautic creates unknown tags. */
  async applyTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = tagNamesForEdit(tags);
    if (names.length === 0) return;
    if (!isContactId(contactId) || !(await this.client.editContact(contactId, { tags: names }))) throw notFound(contactId);
  }

  /** One `PATCH /contacts/{id}/edit` `{"tags": ["-a", "-b"]}` ("add minus before it" removes). */
  async removeTags(contactId: string, tags: readonly string[]): Promise<void> {
    const names = tagNamesForEdit(tags);
    if (names.length === 0) return;
    if (!isContactId(contactId) || !(await this.client.editContact(contactId, { tags: names.map((n) => `-${n}`) }))) throw notFound(contactId);
  }

  async listTags(): Promise<string[]> {
    return [...new Set((await this.client.allTags()).map((t) => t.tag))];
  }

  async listFields(): Promise<CrmField[]> {
    return (await this.client.contactFields()).map((f) => ({ id: f.alias, name: f.group ? `${f.label} (${f.group})` : f.label }));
  }
}

function notFound(contactId: string): CrmError {
  return new CrmError('permanent', `Mautic has no contact ${contactId.slice(0, 40)}`, 404);
}
