import { CrmError } from '../errors.js';
import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import { entries } from './mappers.js';
import type { MauticContact, MauticContactList, MauticContactResponse, MauticField, MauticFieldList, MauticTag, MauticTagList } from './types.js';

/** Page size for tag and field listings (Mautic's default page is 30). */
export const PAGE_LIMIT = 100;

/**
 * The instance URL as an admin knows it (`https://mautic.example.com`, maybe with `/index.php`
 * when URL rewriting is off, maybe already ending in `/api`) becomes the API base `…/api/`.
 */
export function mauticApiBase(baseUrl: string): string {
  const url = new URL(baseUrl);
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api$/, '');
  url.pathname = `${path}/api/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * HTTP Basic credentials from CRMSYNC_CRM_API_KEY = `user:password` (a Mautic user; Basic auth
 * must be enabled under Configuration → API Settings). Null when there is no `:`.
 */
export function basicAuthorization(apiKey: string): string | null {
  const colon = apiKey.indexOf(':');
  if (colon <= 0) return null;
  return `Basic ${Buffer.from(apiKey, 'utf8').toString('base64')}`;
}

/**
 * One small function per Mautic endpoint, all through CrmHttp (limiter token per attempt,
 * timeout, 429 pause, CrmError kinds). A 404 comes back as `null`.
 */
export class MauticClient {
  private readonly http: CrmHttp | null;

  constructor(options: CrmOptions) {
    const authorization = basicAuthorization(options.apiKey);
    this.http = authorization
      ? new CrmHttp({ baseUrl: mauticApiBase(options.baseUrl), headers: { authorization }, limiter: options.limiter, timeoutMs: options.timeoutMs, onCall: options.onCall })
      : null;
  }

  private api(): CrmHttp {
    // Said on every call (not at construction) so `crmsync doctor` can report it like any refused key.
    if (!this.http) throw new CrmError('permanent', 'CRMSYNC_CRM_API_KEY must be "user:password" of a Mautic user (HTTP Basic auth)');
    return this.http;
  }

  /** `GET /contacts/{id}` → `{contact}`; 404 → null. */
  async getContact(id: string): Promise<MauticContact | null> {
    const res = await this.api().request<MauticContactResponse>({ path: `contacts/${encodeURIComponent(id)}` });
    return res.status === 404 ? null : (res.body.contact ?? null);
  }

  /** `GET /contacts?search=…&start=&limit=&orderBy=id&orderByDir=asc` (search commands: `ids:1,2`, `email:…`). */
  async searchContacts(search: string, start: number, limit: number): Promise<{ contacts: MauticContact[]; total: number }> {
    const res = await this.api().request<MauticContactList>({ path: 'contacts', query: { search, start, limit, orderBy: 'id', orderByDir: 'asc' } });
    if (res.status === 404) return { contacts: [], total: 0 };
    const contacts = entries(res.body.contacts);
    const total = Number(res.body.total);
    return { contacts, total: Number.isFinite(total) ? total : contacts.length };
  }

  /** `POST /contacts/new` (201 `{contact}`). */
  async createContact(body: Record<string, unknown>): Promise<MauticContact> {
    const res = await this.api().request<MauticContactResponse>({ method: 'POST', path: 'contacts/new', json: body });
    if (!res.body?.contact) throw new CrmError('transient', `Mautic answered ${res.status} to POST /contacts/new without a contact`);
    return res.body.contact;
  }

  /** `PATCH /contacts/{id}/edit` (200 `{contact}`): changes only what the body names; 404 → null. */
  async editContact(id: string, body: Record<string, unknown>): Promise<MauticContact | null> {
    const res = await this.api().request<MauticContactResponse>({ method: 'PATCH', path: `contacts/${encodeURIComponent(id)}/edit`, json: body });
    return res.status === 404 ? null : (res.body?.contact ?? { id });
  }

  async allTags(): Promise<MauticTag[]> {
    return this.allPages(async (start) => {
      const res = await this.api().request<MauticTagList>({ path: 'tags', query: { start, limit: PAGE_LIMIT, orderBy: 'id', orderByDir: 'asc' } });
      return { items: entries(res.body.tags), total: Number(res.body.total) };
    });
  }

  async contactFields(): Promise<MauticField[]> {
    return this.allPages(async (start) => {
      const res = await this.api().request<MauticFieldList>({ path: 'fields/contact', query: { start, limit: PAGE_LIMIT } });
      return { items: entries(res.body.fields), total: Number(res.body.total) };
    });
  }

  private async allPages<T>(page: (start: number) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
    const all: T[] = [];
    for (let start = 0; ; ) {
      const { items, total } = await page(start);
      all.push(...items);
      start += items.length;
      if (items.length === 0 || (Number.isFinite(total) ? start >= total : items.length < PAGE_LIMIT)) return all;
    }
  }
}
