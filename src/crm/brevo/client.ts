import { CrmHttp } from '../http.js';
import type { CrmOptions } from '../types.js';
import type {
  BrevoAttribute,
  BrevoAttributeList,
  BrevoContact,
  BrevoContactList,
  BrevoCreated,
  BrevoFolder,
  BrevoFolderPage,
  BrevoList,
  BrevoListPage,
} from './types.js';

/** The documented page-size ceiling of `GET /contacts/lists` and `GET /contacts/folders`. */
export const LIST_PAGE_LIMIT = 50;

/** `https://api.brevo.com`, with or without `/v3` (and a trailing slash), becomes `https://api.brevo.com/v3/`. */
export function brevoApiBase(baseUrl: string): string {
  const url = new URL(baseUrl || 'https://api.brevo.com');
  const path = url.pathname.replace(/\/+$/, '').replace(/\/v3$/, '');
  url.pathname = `${path}/v3/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * One small function per Brevo endpoint, all through CrmHttp (limiter token per attempt, timeout,
 * 429 pause, CrmError kinds). Auth: the `api-key` header. A 404 comes back as `null`/`false`.
 */
export class BrevoClient {
  private readonly http: CrmHttp;

  constructor(options: CrmOptions) {
    this.http = new CrmHttp({
      baseUrl: brevoApiBase(options.baseUrl),
      headers: { 'api-key': options.apiKey },
      limiter: options.limiter,
      timeoutMs: options.timeoutMs,
      onCall: options.onCall,
    });
  }

  /** `GET /contacts?ids=1,2,…&limit=n` — "filtered by contact IDs (up to 20)". */
  async listContactsByIds(ids: readonly string[]): Promise<BrevoContact[]> {
    const res = await this.http.request<BrevoContactList>({ path: 'contacts', query: { ids: ids.join(','), limit: ids.length } });
    return res.status === 404 ? [] : (res.body.contacts ?? []);
  }

  /** `GET /contacts/{identifier}`: a numeric id or an (URL-encoded) e-mail. */
  /**
   * A page of "Get all the contacts" (or "Get contacts in a list" for `listId`) in creation order
   * (`sort=asc`: new contacts land after the pages read), optionally `modifiedSince`. Null: no such list.
   */
  async listContactsPage(query: { offset: number; limit: number; listId?: number; modifiedSince?: string }): Promise<BrevoContactList | null> {
    const res = await this.http.request<BrevoContactList>({
      path: query.listId === undefined ? 'contacts' : `contacts/lists/${query.listId}/contacts`,
      query: { limit: query.limit, offset: query.offset, sort: 'asc', modifiedSince: query.modifiedSince },
    });
    return res.status === 404 ? null : res.body;
  }

  async getContact(identifier: string): Promise<BrevoContact | null> {
    const res = await this.http.request<BrevoContact>({ path: `contacts/${encodeURIComponent(identifier)}` });
    return res.status === 404 ? null : res.body;
  }

  /** `POST /contacts` with `updateEnabled: true`: 201 `{id}` on create, 204 when it updated. */
  async createOrUpdateContact(email: string, attributes: Record<string, string>): Promise<string | null> {
    const json: Record<string, unknown> = { email, updateEnabled: true };
    if (Object.keys(attributes).length > 0) json.attributes = attributes;
    const res = await this.http.request<BrevoCreated | string>({ method: 'POST', path: 'contacts', json });
    const id = typeof res.body === 'object' && res.body ? res.body.id : undefined;
    return id === undefined || id === null ? null : String(id);
  }

  /** `PUT /contacts/{identifier}` (204); false when the contact does not exist. */
  async updateContact(identifier: string, body: { attributes?: Record<string, string>; listIds?: number[]; unlinkListIds?: number[] }): Promise<boolean> {
    const res = await this.http.request({ method: 'PUT', path: `contacts/${encodeURIComponent(identifier)}`, json: body });
    return res.status !== 404;
  }

  async listsPage(offset: number): Promise<BrevoListPage> {
    const res = await this.http.request<BrevoListPage>({ path: 'contacts/lists', query: { limit: LIST_PAGE_LIMIT, offset } });
    return res.body;
  }

  async allLists(): Promise<BrevoList[]> {
    const lists: BrevoList[] = [];
    for (let offset = 0; ; ) {
      const page = await this.listsPage(offset);
      const items = page.lists ?? [];
      lists.push(...items);
      offset += items.length;
      if (items.length < LIST_PAGE_LIMIT || (page.count !== undefined && offset >= page.count)) return lists;
    }
  }

  /** `POST /contacts/lists` `{name, folderId}` → 201 `{id}` (a folder is required). */
  async createList(name: string, folderId: number): Promise<number> {
    const res = await this.http.request<{ id: number }>({ method: 'POST', path: 'contacts/lists', json: { name, folderId } });
    return res.body.id;
  }

  async firstFolder(): Promise<BrevoFolder | null> {
    const res = await this.http.request<BrevoFolderPage>({ path: 'contacts/folders', query: { limit: LIST_PAGE_LIMIT, offset: 0, sort: 'asc' } });
    return res.body.folders?.[0] ?? null;
  }

  async createFolder(name: string): Promise<number> {
    const res = await this.http.request<{ id: number }>({ method: 'POST', path: 'contacts/folders', json: { name } });
    return res.body.id;
  }

  async attributes(): Promise<BrevoAttribute[]> {
    const res = await this.http.request<BrevoAttributeList>({ path: 'contacts/attributes' });
    return res.body.attributes ?? [];
  }
}
