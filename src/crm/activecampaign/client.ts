import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import type {
  AcContactGet,
  AcContactList,
  AcContactTag,
  AcContactTagList,
  AcContactWrite,
  AcField,
  AcFieldList,
  AcFieldValueList,
  AcTag,
  AcTagList,
} from './types.js';

/** The documented page size ceiling of v3 list endpoints (`limit`, default 20). */
export const PAGE_LIMIT = 100;

/**
 * `https://ACCOUNT.api-us1.com`, with or without `/api/3` (and a trailing slash), becomes
 * `https://ACCOUNT.api-us1.com/api/3/`.
 */
export function acApiBase(baseUrl: string): string {
  const url = new URL(baseUrl);
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/3$/, '');
  url.pathname = `${path}/api/3/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * One small function per ActiveCampaign endpoint. All go through CrmHttp (limiter token per
 * attempt, timeout, 429 + Retry-After pause, errors as CrmError kinds). A 404 comes back as
 * `null` where the endpoint addresses one contact or record.
 */
export class AcClient {
  private readonly http: CrmHttp;

  constructor(options: CrmOptions) {
    this.http = new CrmHttp({
      baseUrl: acApiBase(options.baseUrl),
      headers: { 'Api-Token': options.apiKey },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** `GET /contacts?ids[]=…&include=contactTags,fieldValues` — several contacts, tags and values in one call. */
  async listContactsByIds(ids: readonly string[]): Promise<AcContactList> {
    const res = await this.http.request<AcContactList>({
      path: 'contacts',
      query: { 'ids[]': ids, include: 'contactTags,fieldValues', limit: Math.min(PAGE_LIMIT, ids.length) },
    });
    return res.status === 404 ? { contacts: [] } : res.body;
  }

  /**
   * A page of "List, search, and filter contacts" in ID order (`orders[id]=ASC`), after
   * `id_greater`, optionally with `tagid` or `filters[updated_after]`; tags and values side loaded.
   */
  async listContactsPage(filter: { tagid?: string; updatedAfter?: string }, idGreater: string, limit: number): Promise<AcContactList> {
    const res = await this.http.request<AcContactList>({
      path: 'contacts',
      query: {
        ...(filter.tagid !== undefined && { tagid: filter.tagid }),
        ...(filter.updatedAfter !== undefined && { 'filters[updated_after]': filter.updatedAfter }),
        id_greater: idGreater,
        'orders[id]': 'ASC',
        include: 'contactTags,fieldValues',
        limit: Math.min(PAGE_LIMIT, limit),
      },
    });
    return res.status === 404 ? { contacts: [] } : res.body;
  }

  /** `GET /contacts?email=…` with tags and values side loaded. */
  async listContactsByEmail(email: string): Promise<AcContactList> {
    const res = await this.http.request<AcContactList>({
      path: 'contacts',
      query: { email, include: 'contactTags,fieldValues' },
    });
    return res.status === 404 ? { contacts: [] } : res.body;
  }

  async getContact(id: string): Promise<AcContactGet | null> {
    const res = await this.http.request<AcContactGet>({ path: `contacts/${encodeURIComponent(id)}` });
    return res.status === 404 ? null : res.body;
  }

  async getContactTags(contactId: string): Promise<AcContactTag[] | null> {
    const res = await this.http.request<AcContactTagList>({ path: `contacts/${encodeURIComponent(contactId)}/contactTags` });
    return res.status === 404 ? null : res.body.contactTags;
  }

  async getFieldValues(contactId: string): Promise<AcFieldValueList['fieldValues'] | null> {
    const res = await this.http.request<AcFieldValueList>({ path: `contacts/${encodeURIComponent(contactId)}/fieldValues` });
    return res.status === 404 ? null : res.body.fieldValues;
  }

  /** `POST /contact/sync`: create, or update the contact with that e-mail. */
  async syncContact(contact: Record<string, unknown>): Promise<AcContactWrite> {
    const res = await this.http.request<AcContactWrite>({ method: 'POST', path: 'contact/sync', json: { contact } });
    return res.body;
  }

  async updateContact(id: string, contact: Record<string, unknown>): Promise<AcContactWrite | null> {
    const res = await this.http.request<AcContactWrite>({ method: 'PUT', path: `contacts/${encodeURIComponent(id)}`, json: { contact } });
    return res.status === 404 ? null : res.body;
  }

  /** `POST /fieldValues`: sets (creates or replaces) one custom field value of a contact. */
  async setFieldValue(contact: string, field: string, value: string): Promise<boolean> {
    const res = await this.http.request({ method: 'POST', path: 'fieldValues', json: { fieldValue: { contact, field, value } } });
    return res.status !== 404;
  }

  async listTagsPage(offset: number, search?: string): Promise<AcTagList> {
    // `orders[search]=weight`: exact matches first, then those starting with the value (documented).
    const query = search === undefined ? { limit: PAGE_LIMIT, offset } : { limit: PAGE_LIMIT, offset, search, 'orders[search]': 'weight' };
    const res = await this.http.request<AcTagList>({ path: 'tags', query });
    return res.body;
  }

  async createTag(name: string): Promise<AcTag> {
    const res = await this.http.request<{ tag: AcTag }>({ method: 'POST', path: 'tags', json: { tag: { tag: name, tagType: 'contact', description: '' } } });
    return res.body.tag;
  }

  /** `POST /contactTags`; null when the contact does not exist. */
  async addContactTag(contact: string, tag: string): Promise<AcContactTag | null> {
    const res = await this.http.request<{ contactTag: AcContactTag }>({ method: 'POST', path: 'contactTags', json: { contactTag: { contact, tag } } });
    return res.status === 404 ? null : res.body.contactTag;
  }

  /** `DELETE /contactTags/{id}`; a link already gone is fine. */
  async deleteContactTag(id: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: `contactTags/${encodeURIComponent(id)}` });
  }

  async listFieldsPage(offset: number): Promise<AcFieldList> {
    const res = await this.http.request<AcFieldList>({ path: 'fields', query: { limit: PAGE_LIMIT, offset } });
    return res.body;
  }

  /** Every page of a limit/offset list. */
  static async all<T>(page: (offset: number) => Promise<{ items: T[]; total: number | null }>): Promise<T[]> {
    const items: T[] = [];
    for (let offset = 0; ; ) {
      const next = await page(offset);
      items.push(...next.items);
      offset += next.items.length;
      if (next.items.length < PAGE_LIMIT || (next.total !== null && offset >= next.total) || next.items.length === 0) return items;
    }
  }

  async allTags(): Promise<AcTag[]> {
    return AcClient.all(async (offset) => {
      const page = await this.listTagsPage(offset);
      return { items: page.tags ?? [], total: total(page.meta?.total) };
    });
  }

  async allFields(): Promise<AcField[]> {
    return AcClient.all(async (offset) => {
      const page = await this.listFieldsPage(offset);
      return { items: page.fields ?? [], total: total(page.meta?.total) };
    });
  }
}

function total(value: string | number | undefined): number | null {
  const n = Number(value);
  return value === undefined || !Number.isFinite(n) ? null : n;
}
