import { CrmError } from '../errors.js';
import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import type { KeapContact, KeapContactList, KeapContactWrite, KeapCustomField, KeapTag, KeapTagList } from './types.js';

export const PAGE_LIMIT = 1000;
export const CONTACT_PROPERTIES = 'custom_fields,tag_ids';

/**
 * `https://api.infusionsoft.com/crm/rest` with or without `/v1` (and a trailing slash), or just
 * the host, becomes `https://api.infusionsoft.com/crm/rest/v1/`.
 */
export function keapApiBase(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new CrmError('permanent', 'Keap: CRMSYNC_CRM_URL is not a URL (expected https://api.infusionsoft.com/crm/rest/v1)');
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '').replace(/\/crm\/rest$/, '');
  url.pathname = `${path}/crm/rest/v1/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * A Service Account Key or Personal Access Token goes in `X-Keap-API-Key`. A value written as
 * `Bearer …` is sent as an OAuth access token instead (refreshing it is then up to you).
 */
export function authHeaders(apiKey: string): Record<string, string> {
  const key = apiKey.trim();
  const bearer = /^Bearer\s+(\S+)$/i.exec(key);
  return bearer ? { authorization: `Bearer ${bearer[1]}` } : { 'x-keap-api-key': key };
}

/** One small function per Keap endpoint, all through CrmHttp. A 404 comes back as null/false where one contact is addressed. */
export class KeapClient {
  private readonly http: CrmHttp;

  constructor(options: CrmOptions) {
    this.http = new CrmHttp({
      baseUrl: keapApiBase(options.baseUrl),
      headers: authHeaders(options.apiKey),
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** `GET /contacts/{id}?optional_properties=custom_fields,tag_ids`. */
  async getContact(id: string): Promise<KeapContact | null> {
    const res = await this.http.request<KeapContact>({ path: `contacts/${encodeURIComponent(id)}`, query: { optional_properties: CONTACT_PROPERTIES } });
    return res.status === 404 ? null : res.body;
  }

  /** A page of "List Contacts" in ID order with custom fields and tag ids, optionally `since` (on last updated). */
  async listContactsPage(offset: number, limit: number, since?: string): Promise<KeapContactList> {
    const res = await this.http.request<KeapContactList>({
      path: 'contacts',
      query: { limit: Math.min(limit, PAGE_LIMIT), offset, order: 'id', optional_properties: CONTACT_PROPERTIES, since },
    });
    return res.body;
  }

  /** `GET /contacts?email=…&optional_properties=custom_fields,tag_ids` (exact e-mail filter). */
  async listContactsByEmail(email: string): Promise<KeapContact[]> {
    const res = await this.http.request<KeapContactList>({ path: 'contacts', query: { email, limit: 10, optional_properties: CONTACT_PROPERTIES } });
    return res.status === 404 ? [] : (res.body?.contacts ?? []);
  }

  /** `PUT /contacts` with `duplicate_option: Email`: create, or update the contact with that e-mail. */
  async createOrUpdate(body: KeapContactWrite): Promise<KeapContact> {
    const res = await this.http.request<KeapContact>({ method: 'PUT', path: 'contacts', json: { ...body, duplicate_option: 'Email' } });
    if (res.body?.id === undefined) throw new CrmError('transient', 'Keap PUT /contacts answered without a contact id');
    return res.body;
  }

  /** `PATCH /contacts/{id}?update_mask=…`: only the named properties change. Null on 404. */
  async updateContact(id: string, body: KeapContactWrite): Promise<KeapContact | null> {
    const mask = Object.keys(body).join(',');
    const res = await this.http.request<KeapContact>({ method: 'PATCH', path: `contacts/${encodeURIComponent(id)}`, query: { update_mask: mask }, json: body });
    return res.status === 404 ? null : res.body;
  }

  /** `POST /contacts/{id}/tags` `{tagIds:[…]}`. False on 404. */
  async applyTags(contactId: string, tagIds: readonly number[]): Promise<boolean> {
    const res = await this.http.request({ method: 'POST', path: `contacts/${encodeURIComponent(contactId)}/tags`, json: { tagIds } });
    return res.status !== 404;
  }

  /** `DELETE /contacts/{id}/tags/{tagId}` (204). False on 404. */
  async removeTag(contactId: string, tagId: number): Promise<boolean> {
    const res = await this.http.request({ method: 'DELETE', path: `contacts/${encodeURIComponent(contactId)}/tags/${tagId}` });
    return res.status !== 404;
  }

  async listTagsPage(offset: number, name?: string): Promise<KeapTagList> {
    const res = await this.http.request<KeapTagList>({ path: 'tags', query: { limit: PAGE_LIMIT, offset, name } });
    return res.body ?? { tags: [] };
  }

  async allTags(): Promise<KeapTag[]> {
    const tags: KeapTag[] = [];
    for (let offset = 0; ; ) {
      const page = await this.listTagsPage(offset);
      const items = page.tags ?? [];
      tags.push(...items);
      offset += items.length;
      if (items.length < PAGE_LIMIT || items.length === 0 || (page.count !== undefined && offset >= page.count)) return tags;
    }
  }

  /** `POST /tags` `{name}` → 201 with the tag. */
  async createTag(name: string): Promise<KeapTag> {
    const res = await this.http.request<KeapTag>({ method: 'POST', path: 'tags', json: { name } });
    return res.body;
  }

  async listCustomFields(): Promise<KeapCustomField[]> {
    const res = await this.http.request<KeapCustomField[]>({ path: 'contactCustomFields' });
    return Array.isArray(res.body) ? res.body : [];
  }
}
